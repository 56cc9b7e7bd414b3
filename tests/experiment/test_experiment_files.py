"""Every experiment shipped in experiments/ is valid, and the demo says what it should."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.experiment import (
    AvailabilityCheck,
    FailoverTimeCheck,
    PowerLossFault,
    load_experiment,
)
from harness.experiment.faults import INSTANCE_FAULT_TYPES
from harness.runner.planning import plan_faults
from harness.runner.targets import topology_for

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = sorted((ROOT / "experiments").rglob("*.yaml"))


def test_experiments_exist() -> None:
    names = {p.relative_to(ROOT / "experiments").as_posix() for p in EXPERIMENTS}
    assert "dc-a-power-loss.yaml" in names
    assert sum(n.startswith("examples/") for n in names) >= 4


@pytest.mark.parametrize("path", EXPERIMENTS, ids=[p.stem for p in EXPERIMENTS])
def test_experiment_file_is_valid(path: Path) -> None:
    loaded = load_experiment(path)
    assert loaded.path == path


@pytest.mark.parametrize("path", EXPERIMENTS, ids=[p.stem for p in EXPERIMENTS])
def test_experiment_targets_exist_in_their_topology(path: Path) -> None:
    # The topology layer validates this for real (plan_faults); here we keep the shipped files honest.
    loaded = load_experiment(path)
    plans = plan_faults(loaded)
    topology = topology_for(loaded.experiment)
    for fault, plan in zip(loaded.experiment.faults, plans, strict=True):
        if fault.type == "power_loss":
            assert fault.target in topology.datacenter_names
        elif fault.type in INSTANCE_FAULT_TYPES:
            assert fault.target in {i.name for i in topology.instances}
        elif fault.type not in ("partition", "action"):  # an action's target is the user's own label
            assert fault.target in topology.link_names
        assert plan.describe()


def test_demo_experiment() -> None:
    e = load_experiment(ROOT / "experiments" / "dc-a-power-loss.yaml").experiment
    assert e.name == "dc-a-power-loss"
    assert e.description
    assert e.backend == "local"
    assert e.topology.preset == "reference"
    assert e.topology.ehr.replication == "sync"
    assert e.topology.ehr.promote_after == 2.0
    assert e.probe.rate == 20
    assert e.probe.mix.weights() == {"read": 6, "create": 3, "search": 1}
    assert e.phases.steady_state == 5.0
    assert e.phases.recovery == 15.0

    (fault,) = e.faults
    assert isinstance(fault, PowerLossFault)
    assert (fault.target, fault.at, fault.duration) == ("dc-a", 0.0, 10.0)

    availability, failover = e.checks
    assert isinstance(availability, AvailabilityCheck)
    assert availability.phases == ("steady_state", "recovery")
    assert (availability.max_error_rate, availability.max_p95) == (0.01, 0.25)
    assert isinstance(failover, FailoverTimeCheck)
    assert (failover.service, failover.max, failover.sustained) == ("ehr", 8.0, 1.0)
    assert e.measured_fault(failover) is fault
    assert e.total_duration == 30.0


def test_async_example_differs_from_the_demo_in_replication() -> None:
    e = load_experiment(ROOT / "experiments" / "examples" / "async-replication-power-loss.yaml").experiment
    assert e.topology.ehr.replication == "async"
    assert isinstance(e.faults[0], PowerLossFault)
