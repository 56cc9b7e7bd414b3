"""What an experiment's faults become before anything runs: plans, checked against the topology.

Deliberately light (no checkers, no Polars, no load): ``hchaos validate`` imports only this,
so that editors and pre-commit hooks get an answer in a fraction of a second.
"""

from __future__ import annotations

from harness.experiment import LoadedExperiment
from harness.faults.plan import FaultPlan, plan_fault
from harness.runner.targets import topology_for, validate_targets, validate_topology


def preflight(loaded: LoadedExperiment) -> list[FaultPlan]:
    """What ``run`` and ``up`` check before anything starts: :func:`plan_faults`, and that every
    address the run would contact is allowed (:mod:`harness.safety.contacts`; exit 2)."""
    from harness.safety.contacts import check_run_contacts

    plans = plan_faults(loaded)  # validates the topology: building it again cannot fail
    check_run_contacts(loaded, topology_for(loaded.experiment))
    return plans


def plan_faults(loaded: LoadedExperiment) -> list[FaultPlan]:
    """Validate targets against the topology and plan every fault (raises InvalidInput)."""
    topology = validate_topology(loaded)
    validate_targets(loaded, topology)
    exp = loaded.experiment
    base_dir = loaded.path.resolve().parent
    return [plan_fault(f, f.label, topology, base_dir) for f in exp.faults]
