"""Recovery order on hand-made timelines: in order, out of order, over an objective, never
back, and no traffic (unknown)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from harness.checks import judge
from harness.experiment import ExperimentError, load_experiment
from harness.runner.planning import plan_faults
from harness.timeline import FaultRecord, RequestRecord, TimelineRecord

CUT = 100.0


def _service(name: str, back_after: float | None, until: float = 30.0) -> list[RequestRecord]:
    """Requests every 100 ms from the cut; failing until ``back_after`` s after it (never if None)."""
    return [RequestRecord(CUT + i / 10, 0.01, "probe", name, "x", back_after is not None and i / 10 >= back_after)
            for i in range(int(until * 10))]


def _run(check: dict[str, object], backs: dict[str, float | None]) -> tuple[str, str, str]:
    from harness.experiment import Experiment

    experiment = Experiment.model_validate({
        "version": 1, "name": "x", "faults": [{"type": "power_loss", "name": "cut", "target": "dc-a", "duration": 5}],
        "checks": [{"type": "recovery_order", "order": list(backs), **check}]})
    records: list[TimelineRecord] = [FaultRecord(CUT, "inject", "cut", "power_loss", "dc-a", 5.0)]
    for service, back in backs.items():
        records += _service(service, back)
    [verdict] = judge(experiment, records)
    return verdict.outcome.value, verdict.summary, verdict.measured


def test_in_order_within_objectives_passes() -> None:
    outcome, summary, measured = _run({"objectives": {"ehr": "5s", "scheduling": "20s"}},
                                      {"ehr": 2.0, "labs": 4.0, "scheduling": 12.0})
    assert outcome == "pass" and summary == "back in order: ehr -> labs -> scheduling"
    assert measured == "ehr 2s, labs 4s, scheduling 12s"


def test_out_of_order_fails_naming_both() -> None:
    outcome, summary, _ = _run({}, {"ehr": 6.0, "labs": 3.0})
    assert outcome == "fail" and summary == "labs back (3s) before ehr (6s)"


def test_over_its_objective_or_never_back_fails() -> None:
    outcome, summary, _ = _run({"objectives": {"ehr": "1s"}}, {"ehr": 2.0, "labs": None})
    assert outcome == "fail" and "labs never back" in summary and "ehr back after 2s > 1s" in summary


def test_a_service_without_traffic_after_the_fault_is_unknown() -> None:
    from harness.experiment import Experiment

    experiment = Experiment.model_validate({
        "version": 1, "name": "x", "faults": [{"type": "power_loss", "target": "dc-a", "duration": 5}],
        "checks": [{"type": "recovery_order", "order": ["ehr", "labs"]}]})
    records: list[TimelineRecord] = [FaultRecord(CUT, "inject", "power_loss-0", "power_loss", "dc-a", 5.0),
                                     *_service("ehr", 1.0)]
    [verdict] = judge(experiment, records)
    assert verdict.outcome.value == "unknown" and "labs" in verdict.summary


def test_bad_services_in_order_or_objectives_are_located(experiment_file: Callable[..., Path]) -> None:
    path = experiment_file("""
        topology: {services: [ehr, labs]}
        faults: [{type: power_loss, target: dc-a, duration: 5s}]
        checks: [{type: recovery_order, order: [ehr, lab], objectives: {imaging: 5s}}]
        """)
    with pytest.raises(ExperimentError) as caught:
        plan_faults(load_experiment(path))
    paths = sorted(i.yaml_path for i in caught.value.issues)
    assert paths == ["checks[0].objectives.imaging", "checks[0].order[1]"]


def test_a_success_sent_before_the_fault_took_effect_is_not_recovery() -> None:
    """Found by the flagship under load: the power-loss inject takes ~90 ms to black-hole every
    link; a sparse service's request sent 2 ms after the inject started still succeeded, the
    next one came 1.4 s later, and the 1 s window holding only that success counted as 'back at
    2 ms' -- before its data center had even gone. Recovery counts from when the fault was in
    effect (the inject's ``ended``)."""
    from harness.experiment import Experiment

    experiment = Experiment.model_validate({
        "version": 1, "name": "x", "faults": [{"type": "power_loss", "name": "cut", "target": "dc-a", "duration": 5}],
        "checks": [{"type": "recovery_order", "order": ["ehr", "scheduling"]},
                   {"type": "failover_time", "service": "scheduling", "fault": "cut", "max": "1s"}]})
    records: list[TimelineRecord] = [FaultRecord(CUT, "inject", "cut", "power_loss", "dc-a", 5.0, ended=CUT + 0.09)]
    records += _service("ehr", 2.0)
    sparse = [RequestRecord(CUT + 0.0025, 0.004, "load", "scheduling", "x", True)]
    sparse += [RequestRecord(CUT + 1.36 + i, 0.001, "load", "scheduling", "x", i >= 10) for i in range(20)]
    records += sparse
    order, failover = judge(experiment, records)
    assert order.evidence["back_after"]["scheduling"] == pytest.approx(11.36), order.evidence
    assert order.outcome.value == "pass", order.summary
    assert failover.outcome.value == "fail" and failover.evidence["failover_time"] == pytest.approx(11.36)


def _judge_records(order: list[str], records: list[TimelineRecord]) -> tuple[str, str]:
    from harness.experiment import Experiment

    experiment = Experiment.model_validate({
        "version": 1, "name": "x", "faults": [{"type": "power_loss", "name": "cut", "target": "dc-a", "duration": 5}],
        "checks": [{"type": "recovery_order", "order": order, "min_success_rate": 0.9}]})
    [verdict] = judge(experiment, [FaultRecord(CUT, "inject", "cut", "power_loss", "dc-a", 5.0), *records])
    return verdict.outcome.value, verdict.summary


def _sampled(name: str, times: list[float], back_at: float) -> list[RequestRecord]:
    return [RequestRecord(CUT + t, 0.01, "load", name, "x", t >= back_at) for t in times]


def test_a_dependent_sampled_just_before_its_dependency_is_not_out_of_order() -> None:
    """Regression (CI, the local flagship): labs was measured back 28 ms before the EHR it
    reads from. Each "back" is the first success of sparse requests: the EHR's last failure
    was before labs' first success, so the EHR may well have been back first -- nothing shows
    labs was served while the EHR was still down."""
    ehr = _sampled("ehr", [i / 10 for i in range(150, 154)] + [15.526 + i / 10 for i in range(40)], back_at=15.5)
    labs = _sampled("labs", [14.0, 15.0, 15.498, *(15.498 + i / 4 for i in range(1, 20))], back_at=15.45)
    assert _judge_records(["ehr", "labs"], ehr + labs) == ("pass", "back in order: ehr -> labs")


def test_a_dependent_back_while_its_dependency_still_failed_is_out_of_order() -> None:
    ehr = _sampled("ehr", [i / 10 for i in range(150, 200)], back_at=17.0)  # still failing at 15.5-16.9
    labs = _sampled("labs", [14.0, 15.0, *(15.498 + i / 4 for i in range(20))], back_at=15.45)
    outcome, summary = _judge_records(["ehr", "labs"], ehr + labs)
    assert outcome == "fail" and summary.startswith("labs back (15.498s) before ehr (17s)")
