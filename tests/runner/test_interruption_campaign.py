"""The interruption campaign: a real ``hchaos run`` signalled at random instants of bring-up,
inject, heal, load start and recovery.

Whatever the instant and the signal (SIGINT, SIGTERM, SIGHUP), the run must end healed, with
nothing left running, no traceback, and exit code 130. SIGKILL at random instants, then: the
run's lifeline stops everything by itself, and ``hchaos rollback`` finds nothing left.

Sizes come from tests/campaigns.py: a few deterministic cases in the suite, many random ones
under ``make fuzz``.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from textwrap import dedent

import pytest

from harness.run.journal import replay_journal
from harness.run.run_tag import of_run, processes_tagged
from tests.campaigns import budget, rng
from tests.conftest import journal_ended, processes_alive, write_experiment

pytestmark = [pytest.mark.integration, pytest.mark.campaign]

HCHAOS = [sys.executable, "-m", "harness.cli"]
FAULT_SECONDS = 1.5

WITHOUT_LOAD = dedent(f"""
    topology: {{services: [ehr], ehr: {{promote_after: 1s, heartbeat_interval: 100ms}}}}
    probe: {{rate: 20}}
    phases: {{steady_state: 1s, recovery: 3s}}  # long after the latest strike: it never comes too late
    faults:
      - {{type: power_loss, target: dc-a, duration: {FAULT_SECONDS}s, name: cut}}
    checks:
      - {{type: availability, service: ehr, phases: [steady_state]}}
    """)

WITH_LOAD = WITHOUT_LOAD + dedent("""
    load:
      users: 2
      spawn_rate: 10
      personas: {nurse: 1}
    """)


@dataclass(frozen=True)
class Instant:
    """Where in the run to strike: wait until ``ready`` says the journal reached the spot, then
    a random delay drawn by ``delay``."""

    name: str
    experiment: str
    ready: Callable[[list[dict[str, object]]], bool]
    delay: Callable[[random.Random], float]


def _has(kind: str, **fields: object) -> Callable[[list[dict[str, object]]], bool]:
    return lambda entries: any(e.get("type") == kind and all(e.get(k) == v for k, v in fields.items())
                               for e in entries)


INSTANTS = [
    Instant("bring-up", WITHOUT_LOAD, _has("run-start"), lambda r: r.uniform(0.0, 1.2)),
    # The fault-inject record is written before the toxics and the kill: right inside inject.
    Instant("inject", WITHOUT_LOAD, _has("fault-inject"), lambda r: r.uniform(0.0, 0.03)),
    # The heal restarts dc-a's EHR and waits for it: around and inside heal.
    Instant("heal", WITHOUT_LOAD, _has("fault-inject"), lambda r: FAULT_SECONDS + r.uniform(-0.15, 0.25)),
    Instant("load start", WITH_LOAD, _has("process-start", name="locust"), lambda r: r.uniform(0.0, 0.8)),
    Instant("recovery", WITHOUT_LOAD, _has("fault-heal"), lambda r: r.uniform(0.0, 1.4)),
]

SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]


def _journal(runs: Path) -> list[dict[str, object]]:
    journals = list(runs.glob("*/journal.jsonl"))
    if not journals:
        return []
    entries = []
    for line in journals[0].read_text().splitlines():
        try:
            entries.append(json.loads(line))
        except ValueError:
            break  # a line being written
    return entries


def _strike(tmp_path: Path, instant: Instant, sig: signal.Signals, delay: float,
            repeat: int = 1) -> tuple[int, str, Path]:
    """Run the instant's experiment, send ``sig`` at the instant (``repeat`` times, 20 ms apart:
    an impatient user hammering Ctrl-C); returns (exit code, stderr, run folder). The runner is
    SIGKILLed only if it hangs (and the test then fails)."""
    path = write_experiment(tmp_path, instant.experiment, name="strike")
    runs = tmp_path / "runs"
    proc = subprocess.Popen([*HCHAOS, "run", str(path), "--runs-dir", str(runs)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not instant.ready(_journal(runs)):
            assert proc.poll() is None, f"the run ended before {instant.name}: {proc.communicate()}"
            assert time.monotonic() < deadline, f"never reached {instant.name}"
            time.sleep(0.005)
        time.sleep(delay)
        for _ in range(repeat):
            if proc.poll() is not None:
                break
            proc.send_signal(sig)
            time.sleep(0.02)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    (run_dir,) = runs.iterdir()
    return proc.returncode, stderr, run_dir


def _cases() -> list[tuple[Instant, signal.Signals, float]]:
    draw = rng("interruption")
    count = budget(ci=len(INSTANTS), long=60)
    return [(INSTANTS[i % len(INSTANTS)], draw.choice(SIGNALS) if i >= len(INSTANTS) else SIGNALS[i % 3],
             INSTANTS[i % len(INSTANTS)].delay(draw)) for i in range(count)]


@pytest.mark.parametrize(("instant", "sig", "delay"), _cases(),
                         ids=lambda v: getattr(v, "name", None) or (v.name if isinstance(v, signal.Signals) else
                                                                     f"{v:.3f}s"))
def test_a_signal_at_any_instant_heals_stops_everything_and_exits_130(
        tmp_path: Path, instant: Instant, sig: signal.Signals, delay: float) -> None:
    code, stderr, run_dir = _strike(tmp_path, instant, sig, delay)
    assert "Traceback" not in stderr, stderr
    assert code == 130, f"exit {code} after {sig.name} at {instant.name} + {delay:.3f}s:\n{stderr}"
    assert "interrupted" in stderr and "faults healed, processes stopped" in stderr
    state = replay_journal(run_dir / "journal.jsonl")
    assert state.unhealed_faults == {}
    assert processes_alive(run_dir) == [] and journal_ended(run_dir)
    assert processes_tagged(of_run(run_dir)) == []  # nothing of the run, journaled or not


def _storm_cases() -> list[tuple[Instant, float]]:
    draw = rng("storm")
    picks = [INSTANTS[1], INSTANTS[2]] + [draw.choice(INSTANTS) for _ in range(budget(ci=0, long=20))]
    return [(instant, instant.delay(draw)) for instant in picks]


@pytest.mark.parametrize(("instant", "delay"), _storm_cases(),
                         ids=lambda v: getattr(v, "name", None) or f"{v:.3f}s")
def test_ctrl_c_hammered_during_inject_or_heal_still_heals_everything(
        tmp_path: Path, instant: Instant, delay: float) -> None:
    """Fifty SIGINTs 20 ms apart: the later ones land in the clean-up itself, which must not
    be cut short by them."""
    code, stderr, run_dir = _strike(tmp_path, instant, signal.SIGINT, delay, repeat=50)
    assert "Traceback" not in stderr, stderr
    assert code == 130, stderr
    assert replay_journal(run_dir / "journal.jsonl").unhealed_faults == {}
    assert processes_alive(run_dir) == [] and journal_ended(run_dir)
    assert processes_tagged(of_run(run_dir)) == []


def _kill_cases() -> list[tuple[Instant, float]]:
    draw = rng("sigkill")
    count = budget(ci=2, long=30)
    picks = [draw.choice(INSTANTS) for _ in range(count)]
    return [(instant, instant.delay(draw)) for instant in picks]


@pytest.mark.parametrize(("instant", "delay"), _kill_cases(),
                         ids=lambda v: getattr(v, "name", None) or f"{v:.3f}s")
def test_sigkill_at_any_instant_leaves_nothing_once_the_lifeline_and_rollback_ran(
        tmp_path: Path, instant: Instant, delay: float) -> None:
    code, _, run_dir = _strike(tmp_path, instant, signal.SIGKILL, delay)
    assert code == -signal.SIGKILL
    deadline = time.monotonic() + 15
    while (processes_alive(run_dir) or processes_tagged(of_run(run_dir))) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_alive(run_dir) == [] and processes_tagged(of_run(run_dir)) == []
    done = subprocess.run([*HCHAOS, "rollback", str(run_dir)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert journal_ended(run_dir) and replay_journal(run_dir / "journal.jsonl").unhealed_faults == {}
