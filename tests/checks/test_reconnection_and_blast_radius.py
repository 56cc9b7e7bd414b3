"""Client reconnection and blast radius on hand-made timelines, edge cases included."""

from __future__ import annotations

import pytest

from harness.checks import judge
from harness.checks.reconnection import check_reconnection
from harness.experiment import Experiment
from harness.timeline import PhaseRecord, RequestRecord, TimelineRecord

RECOVERY = 100.0


def _req(t: float, user: str | None, ok: bool = True, service: str = "ehr", error: str | None = None,
         duration: float = 0.01) -> RequestRecord:
    source = "load" if user else "probe"
    return RequestRecord(t, duration, source, service, "GET x", ok, error=None if ok else (error or "http-503"),
                         persona="nurse" if user else None, user=user)


def test_every_client_back_passes_and_reports_the_slowest() -> None:
    requests = [_req(99, "0-1", ok=False), _req(101, "0-1"), _req(103, "0-2"), _req(102, None)]
    verdict = check_reconnection("r", requests, RECOVERY, within=10, min_fraction=1.0)
    assert verdict.outcome.value == "pass", verdict
    assert verdict.measured == "3/3 clients (100.0%)"
    assert verdict.evidence["slowest"] == 3.0


def test_a_client_that_keeps_failing_is_named_and_fails_the_check() -> None:
    requests = [_req(101, "0-1"), *[_req(100 + i, "1-7", ok=False, error="connect") for i in range(5)],
                _req(101, None)]
    verdict = check_reconnection("r", requests, RECOVERY, within=10, min_fraction=1.0)
    assert verdict.outcome.value == "fail"
    assert "1-7" in verdict.summary and verdict.measured == "2/3 clients (66.7%)"
    assert verdict.evidence["not_back"] == [{"client": "1-7", "persona": "nurse", "requests": 5,
                                             "last_error": "connect"}]


def test_success_after_the_bound_does_not_count() -> None:
    verdict = check_reconnection("r", [_req(100.5, "0-1", ok=False), _req(115, "0-1")], RECOVERY,
                                 within=10, min_fraction=1.0)
    assert verdict.outcome.value == "fail"


def test_a_fraction_below_one_can_be_accepted() -> None:
    requests = [_req(101, f"0-{i}") for i in range(9)] + [_req(101, "0-9", ok=False)]
    verdict = check_reconnection("r", requests, RECOVERY, within=10, min_fraction=0.9)
    assert verdict.outcome.value == "pass" and verdict.evidence["fraction"] == 0.9


def test_no_client_after_recovery_or_no_recovery_is_unknown() -> None:
    assert check_reconnection("r", [_req(99, "0-1")], RECOVERY, 10, 1.0).outcome.value == "unknown"
    assert check_reconnection("r", [_req(101, "0-1")], None, 10, 1.0).outcome.value == "unknown"


def _experiment(checks: list[dict[str, object]]) -> Experiment:
    return Experiment.model_validate({"version": 1, "name": "x", "checks": checks,
                                      "faults": [{"type": "power_loss", "target": "dc-a", "duration": 5}]})


def _timeline(labs_ok: bool) -> list[TimelineRecord]:
    records: list[TimelineRecord] = [PhaseRecord(90, "steady_state", "start"), PhaseRecord(95, "steady_state", "end"),
                                      PhaseRecord(95, "faults", "start"), PhaseRecord(100, "faults", "end"),
                                      PhaseRecord(100, "recovery", "start"), PhaseRecord(110, "recovery", "end")]
    records += [_req(95 + i * 0.5, None, service="labs", ok=labs_ok or i % 2 == 0) for i in range(10)]
    records += [_req(96, None, ok=False)]  # the EHR itself fails during the faults: not labs' business
    return records


def test_blast_radius_judges_only_the_fault_phase_of_its_service() -> None:
    experiment = _experiment([{"type": "blast_radius", "service": "labs", "max_error_rate": 0.1}])
    [passed] = judge(experiment, _timeline(labs_ok=True))
    assert passed.check_type == "blast_radius" and passed.outcome.value == "pass", passed
    [failed] = judge(experiment, _timeline(labs_ok=False))
    assert failed.outcome.value == "fail" and "faults: error rate 50.0%" in failed.summary


def test_blast_radius_without_traffic_is_unknown_not_pass() -> None:
    experiment = _experiment([{"type": "blast_radius", "service": "scheduling"}])
    [verdict] = judge(experiment, _timeline(labs_ok=True))
    assert verdict.outcome.value == "unknown"


def test_a_workstation_still_in_downtime_mode_has_not_reconnected() -> None:
    from dataclasses import replace
    stuck = [replace(_req(101 + i, "0-2", service="care"), mode="downtime", as_of=90.0) for i in range(5)]
    back = [replace(_req(101, "0-1", service="care"), mode="normal")]
    verdict = check_reconnection("r", stuck + back, RECOVERY, within=10, min_fraction=1.0)
    assert verdict.outcome.value == "fail" and "0-2" in verdict.summary
    assert verdict.measured == "1/2 clients (50.0%)"


def test_reconnection_can_be_measured_from_a_fault_heal() -> None:
    from harness.experiment import ExperimentError, parse_experiment
    from harness.timeline import FaultRecord
    text = """
version: 1
name: x
faults:
  - {type: power_loss, name: power, target: dc-a, at: 0s, duration: 10s}
  - {type: link_down, name: late, target: frontdoor-sched-a, at: 10s, duration: 20s}
checks:
  - {type: reconnection, service: ehr, after: power, within: 5s}
"""
    experiment = parse_experiment(text).experiment
    records: list[TimelineRecord] = [
        FaultRecord(50.0, "heal", "power", "power_loss", "dc-a"), PhaseRecord(RECOVERY, "recovery", "start"),
        _req(52, "0-1"), _req(56, "0-2"), _req(101, "0-2")]
    [verdict] = judge(experiment, records)
    assert verdict.outcome.value == "fail" and "0-2" in verdict.summary  # back 6 s after the power returned
    with pytest.raises(ExperimentError, match=r"unknown fault 'powr'; did you mean 'power'"):
        parse_experiment(text.replace("after: power", "after: powr"))
