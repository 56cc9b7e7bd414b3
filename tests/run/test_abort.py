"""`hchaos abort RUN_DIR` from another terminal: the faults healed at once, the run ended with the
verdict `aborted` (exit 4), everything stopped; and the refusals (not a run, already ended)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from textwrap import dedent

import pytest

from harness.run.journal import replay_journal
from harness.timeline import AbortRecord, FaultRecord, read_timeline
from tests.conftest import journal_ended, processes_alive

HCHAOS = [sys.executable, "-m", "harness.cli"]
FAST = "topology: {services: [ehr], ehr: {promote_after: 1s, heartbeat_interval: 100ms}}\n"


def hchaos(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*HCHAOS, *args], capture_output=True, text=True, timeout=120)


def wait_for_fault(runs: Path) -> Path:
    deadline = time.monotonic() + 60
    while True:
        journals = list(runs.glob("*/journal.jsonl"))
        if journals and replay_journal(journals[0]).unhealed_faults:
            return journals[0].parent
        assert time.monotonic() < deadline, "fault never injected"
        time.sleep(0.1)


@pytest.mark.integration
def test_abort_heals_at_once_and_ends_the_run_aborted(tmp_path: Path, experiment_file: Callable[..., Path]) -> None:
    path = experiment_file(FAST + dedent("""
        phases: {steady_state: 1s, recovery: 1s}
        faults:
          - {type: power_loss, target: dc-a, duration: 120s}
        checks:
          - {type: failover_time, service: ehr, max: 20s}
        """))
    runs = tmp_path / "runs"
    runner = subprocess.Popen([*HCHAOS, "run", str(path), "--runs-dir", str(runs)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        run_dir = wait_for_fault(runs)
        asked = time.time()
        aborted = hchaos("abort", str(run_dir), "--reason", "change board: stop now")
        answered = time.time() - asked
        stdout, stderr = runner.communicate(timeout=60)
    finally:
        if runner.poll() is None:
            runner.kill()
    assert aborted.returncode == 0, aborted.stdout + aborted.stderr
    assert f"run {run_dir.name} ended: aborted" in aborted.stdout
    assert runner.returncode == 4, stdout + stderr
    assert answered < 30  # the 120 s fault did not run out
    timeline = list(read_timeline(run_dir / "timeline.jsonl"))
    [abort] = [r for r in timeline if isinstance(r, AbortRecord)]
    assert abort.reason == "change board: stop now" and "pid" in abort.by
    heal = next(r for r in timeline if isinstance(r, FaultRecord) and r.action == "heal")
    assert heal.t - abort.t < 5  # healed at once, not at the fault's end
    report = json.loads((run_dir / "report.json").read_text())
    assert report["exit_code"] == 4 and "change board: stop now" in report["aborted"]
    assert ("aborted", "fail") in {(v["check"], v["outcome"]) for v in report["verdicts"]}
    state = replay_journal(run_dir / "journal.jsonl")
    assert state.unhealed_faults == {} and state.status == "aborted"
    assert processes_alive(run_dir) == [] and journal_ended(run_dir)
    # re-judged offline, the run is still aborted
    offline = hchaos("report", str(run_dir))
    assert offline.returncode == 1 and "aborted" in offline.stdout
    # and a second abort says the run already ended, changing nothing
    again = hchaos("abort", str(run_dir))
    assert again.returncode == 2 and "already ended (aborted): nothing to abort" in again.stderr


def test_abort_of_what_is_not_a_run_folder_is_refused(tmp_path: Path) -> None:
    result = hchaos("abort", str(tmp_path))
    assert result.returncode == 2 and "is not a run folder" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.integration
def test_abort_stops_hchaos_up_too(tmp_path: Path, experiment_file: Callable[..., Path]) -> None:
    path = experiment_file(FAST + "faults: []\n")
    runs = tmp_path / "runs"
    up = subprocess.Popen([*HCHAOS, "up", str(path), "--runs-dir", str(runs)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not list(runs.glob("*/endpoints.json")):
            assert time.monotonic() < deadline and up.poll() is None, "the topology never came up"
            time.sleep(0.1)
        (run_dir,) = runs.iterdir()
        aborted = hchaos("abort", str(run_dir), "--wait", "60")
        up.communicate(timeout=60)
    finally:
        if up.poll() is None:
            up.kill()
    assert aborted.returncode == 0, aborted.stdout + aborted.stderr
    assert up.returncode == 4
    assert replay_journal(run_dir / "journal.jsonl").status == "aborted"
    assert processes_alive(run_dir) == [] and journal_ended(run_dir)
