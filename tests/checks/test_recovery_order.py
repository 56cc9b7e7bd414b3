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
