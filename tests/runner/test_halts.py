"""Halt conditions: the monitor's arithmetic on hand-made requests, the experiment section's
errors, and a real run that a crossed condition stops early, healed and marked."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.experiment import ExperimentError, HaltCondition, load_experiment
from harness.runner.halts import HaltMonitor
from harness.runner.planning import plan_faults
from harness.runner.runner import judge_run, run_experiment
from harness.timeline import FaultRecord, HaltRecord, PhaseRecord, read_timeline
from tests.conftest import journal_ended, processes_alive

NOW = 1_000.0


def _monitor(**condition: object) -> HaltMonitor:
    return HaltMonitor((HaltCondition.model_validate({"service": "ehr", **condition}),))


def _feed(monitor: HaltMonitor, oks: list[bool], duration: float = 0.01, end: float = NOW) -> None:
    for index, ok in enumerate(oks):
        monitor.observe("ehr", end - 0.5 + index * 0.001, duration, ok)


def test_error_rate_above_the_bound_halts_with_the_figures() -> None:
    monitor = _monitor(max_error_rate=0.2, window="2s", min_requests=5)
    _feed(monitor, [True] * 6 + [False] * 4)
    reason = monitor.check("faults", NOW)
    assert reason is not None and reason.condition == "halt-0" and reason.requests == 10
    assert "error rate 40.0%" in reason.describe() and "<= 20.0%" in reason.describe()


def test_at_or_below_the_bound_does_not_halt() -> None:
    monitor = _monitor(max_error_rate=0.2, min_requests=5)
    _feed(monitor, [True] * 8 + [False] * 2)
    assert monitor.check("faults", NOW) is None


def test_too_few_requests_is_not_enough_to_halt() -> None:
    monitor = _monitor(max_error_rate=0.1, min_requests=20)
    _feed(monitor, [False] * 19)
    assert monitor.check("faults", NOW) is None


def test_only_the_listed_phases_are_watched() -> None:
    monitor = _monitor(max_error_rate=0.1, min_requests=1, phases=["faults"])
    _feed(monitor, [False] * 5)
    assert monitor.check("steady_state", NOW) is None
    assert monitor.check("recovery", NOW) is None
    assert monitor.check("faults", NOW) is not None


def test_old_requests_leave_the_window() -> None:
    monitor = _monitor(max_error_rate=0.1, window="1s", min_requests=3)
    _feed(monitor, [False] * 10, end=NOW - 5)
    _feed(monitor, [True] * 10)
    assert monitor.check("faults", NOW) is None


def test_p95_above_the_bound_halts() -> None:
    monitor = _monitor(max_p95="100ms", min_requests=5)
    _feed(monitor, [True] * 20, duration=0.3)
    reason = monitor.check("faults", NOW)
    assert reason is not None and "p95 300ms" in reason.measured


def test_requests_of_unwatched_services_are_ignored() -> None:
    monitor = _monitor(max_error_rate=0.0, min_requests=1)
    monitor.observe("labs", NOW - 0.1, 0.01, False)
    assert monitor.check("faults", NOW) is None


def test_halt_section_errors_are_located(experiment_file: Callable[..., Path]) -> None:
    path = experiment_file("""
        topology: {services: [ehr]}
        halt:
          - {service: ehr}
          - {service: lab, max_error_rate: 0.5}
        """)
    with pytest.raises(ExperimentError) as caught:
        plan_faults(load_experiment(path))
    messages = [f"{i.yaml_path}: {i.message}" for i in caught.value.issues]
    assert any(m.startswith("halt[0]: a halt condition needs max_error_rate, max_p95") for m in messages), messages
    path = experiment_file("topology: {services: [ehr]}\nhalt: [{service: lab, max_error_rate: 0.5}]\n", "two")
    with pytest.raises(ExperimentError) as caught:
        plan_faults(load_experiment(path))
    assert [i.yaml_path for i in caught.value.issues] == ["halt[0].service"]
    assert "unknown service 'lab'" in caught.value.issues[0].message


@pytest.mark.integration
def test_a_crossed_condition_stops_the_faults_heals_and_fails_the_run(
        experiment_file: Callable[..., Path], tmp_path: Path) -> None:
    # The front door's link to the campus goes down for 20 s: every EHR request fails. The
    # halt condition (more than half failing over 1 s) must end the run long before that.
    loaded = load_experiment(experiment_file("""
        topology: {services: [ehr]}
        probe: {rate: 40, timeout: 300ms}
        phases: {steady_state: 2s, recovery: 10s}
        faults: [{type: link_down, name: cut-campus, target: campus-frontdoor-ehr, at: 0s, duration: 20s}]
        checks: [{type: availability, service: ehr, phases: [steady_state]}]
        halt: [{name: ehr-down, service: ehr, max_error_rate: 0.5, window: 1s, min_requests: 10}]
        """))
    started = time.monotonic()
    result = run_experiment(loaded, tmp_path / "runs")
    elapsed = time.monotonic() - started
    assert elapsed < 15, f"the run took {elapsed:.1f}s: the halt did not stop it early"
    assert result.halted is not None and "ehr-down" in result.halted and "error rate" in result.halted
    assert result.exit_code == 1
    assert [v.check_type for v in result.verdicts] == ["availability", "halt"]
    assert result.verdicts[1].outcome.value == "fail"
    assert processes_alive(result.run_dir) == [] and journal_ended(result.run_dir)

    records = list(read_timeline(result.run_dir / "timeline.jsonl"))
    inject = next(r.t for r in records if isinstance(r, FaultRecord) and r.action == "inject")
    heal = next(r.t for r in records if isinstance(r, FaultRecord) and r.action == "heal")
    halt = next(r for r in records if isinstance(r, HaltRecord))
    assert inject < halt.t <= inject + 3.0, "halted more than 3 s after the fault started"
    assert halt.t <= heal <= halt.t + 2.0, "the fault was not healed right after the halt"
    assert not any(isinstance(r, PhaseRecord) and r.phase == "recovery" for r in records)
    report = json.loads((result.run_dir / "report.json").read_text())
    assert report["halted"] == result.halted and report["outcome"] == "fail"
    # Re-judging offline gives the same verdicts, halt included.
    assert [v.to_json() for v in judge_run(loaded, result.run_dir)] == [v.to_json() for v in result.verdicts]


def test_requests_of_a_phase_without_conditions_do_not_pile_up() -> None:
    """Conditions watch the faults phase only: during a long steady state nothing is checked,
    and the monitor must still forget what left the window."""
    monitor = _monitor(max_error_rate=0.1, window="5s", min_requests=1, phases=["faults"])
    for index in range(20_000):  # 10 requests a second for 2 000 s of steady state
        monitor.observe("ehr", NOW + index * 0.1, 0.01, True)
    assert len(monitor._recent["ehr"]) <= 60
    assert monitor.check("faults", NOW + 2_000.0) is None
