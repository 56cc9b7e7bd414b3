"""Every check type, one entry each: how it is judged and what data it needs gathered first.

A check's entry is looked up by its ``type`` (:func:`entry`). Its ``judge`` has one signature
for every type, ``judge(experiment, check, data) -> Verdict``: a pure function of the
experiment (which fault a check measures from), the check's configuration and the run's data
(:class:`~harness.checks.rundata.RunData`). Its ``collectors`` name what the runner must gather
after recovery, with every client stopped, for the verdict to be judged at all:

* ``notifications`` -- what the out-of-band notification sink received, put on the timeline;
* ``readback`` -- every write of the check's service read back from the service that holds it
  (into the run folder: ``readback.jsonl`` / ``readback.parquet``);
* ``schedule_diffs`` -- each care workstation's schedule diff (``schedule-diffs.json``).

The runner asks :func:`collectors_for` which to run (:mod:`harness.runner.collectors` says
how each is gathered); re-judging a run folder offline needs none of them again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Final, Literal, TypeAlias, TypeVar, get_args

from harness.checks.availability import check_availability
from harness.checks.degraded import (
    check_downtime_orders,
    check_lab_turnaround,
    check_patient_identity,
    check_staleness,
    check_time_to_degraded,
)
from harness.checks.failover import check_failover_time
from harness.checks.ledger import check_ledger, ledger_verdict
from harness.checks.reconnection import check_reconnection
from harness.checks.recovery_order import check_recovery_order
from harness.checks.rundata import RunData
from harness.checks.schedule_staleness import check_schedule_staleness
from harness.checks.split_brain import check_split_brain
from harness.checks.verdict import Verdict
from harness.checks.windows import Window, fault_heals, fault_in_effect, fault_starts, phase_starts, phase_windows
from harness.experiment import (
    AvailabilityCheck,
    BlastRadiusCheck,
    Check,
    DowntimeOrdersCheck,
    Experiment,
    FailoverTimeCheck,
    LabTurnaroundCheck,
    LedgerCheck,
    PatientIdentityCheck,
    ReconnectionCheck,
    RecoveryOrderCheck,
    ScheduleStalenessCheck,
    SplitBrainCheck,
    StalenessCheck,
    TimeToDegradedCheck,
)
from harness.experiment.base import FrozenModel
from harness.timeline import NotificationRecord

CollectorName: TypeAlias = Literal["notifications", "readback", "schedule_diffs"]
"""Data a check needs gathered after recovery (see the module docstring)."""

COLLECTOR_NAMES: Final[tuple[CollectorName, ...]] = get_args(CollectorName)
"""Every collector, in the order the runner runs them."""

Judge: TypeAlias = Callable[[Experiment, Check, RunData], Verdict]
"""The one signature of every check's judge."""


@dataclass(frozen=True)
class CheckEntry:
    """One check type: its ``judge`` (see :data:`Judge`; raises ``TypeError`` when given a
    check of another type) and the ``collectors`` its verdict reads."""

    type: str
    judge: Judge
    collectors: frozenset[CollectorName]


_REGISTRY: dict[str, CheckEntry] = {}

C = TypeVar("C", bound=FrozenModel)


def _register(model: type[C], *collectors: CollectorName
              ) -> Callable[[Callable[[Experiment, C, RunData], Verdict]], Callable[[Experiment, C, RunData], Verdict]]:
    """Register the decorated function as the judge of ``model``'s checks (its ``type`` is the
    model's literal ``type``), behind the one signature of :data:`Judge`."""
    check_type: str = get_args(model.model_fields["type"].annotation)[0]

    def register(judge: Callable[[Experiment, C, RunData], Verdict]) -> Callable[[Experiment, C, RunData], Verdict]:
        def judge_any(experiment: Experiment, check: Check, data: RunData) -> Verdict:
            if not isinstance(check, model):
                raise TypeError(f"the {check_type} judge was given a {check.type} check")
            return judge(experiment, check, data)

        assert check_type not in _REGISTRY, f"check type {check_type!r} registered twice"
        _REGISTRY[check_type] = CheckEntry(check_type, judge_any, frozenset(collectors))
        return judge
    return register


def entry(check_type: str) -> CheckEntry:
    """The entry of ``check_type``. ``KeyError`` names it when no check has that type (the
    experiment schema admits only registered types: a programming error)."""
    try:
        return _REGISTRY[check_type]
    except KeyError:
        raise KeyError(f"no check of type {check_type!r} is registered; registered: "
                       f"{', '.join(sorted(_REGISTRY))}") from None


def registry() -> Mapping[str, CheckEntry]:
    """Every registered entry by type (a read-only view)."""
    return dict(_REGISTRY)


def collectors_for(checks: Iterable[Check]) -> tuple[CollectorName, ...]:
    """The collectors ``checks`` need, each once, in :data:`COLLECTOR_NAMES` order."""
    needed = {name for check in checks for name in entry(check.type).collectors}
    return tuple(name for name in COLLECTOR_NAMES if name in needed)


def readback_services(checks: Iterable[Check]) -> set[str]:
    """The services whose writes must be read back: the service of every check that needs the
    ``readback`` collector (a ledger's service; the care application of the degraded-mode
    checks; the engine of lab turnaround)."""
    return {check.service for check in checks if "readback" in entry(check.type).collectors}


# -- the judges (each registered under its model's type) -----------------------------------


@_register(LedgerCheck, "readback")
def _ledger(experiment: Experiment, check: LedgerCheck, data: RunData) -> Verdict:
    if data.readback is None:
        return check_ledger(check.label, data.requests_of(check.service), None, check.fail_on_unexpected)
    return ledger_verdict(check.label, data.ledger.of_service(check.service), check.fail_on_unexpected)


@_register(SplitBrainCheck)
def _split_brain(experiment: Experiment, check: SplitBrainCheck, data: RunData) -> Verdict:
    return check_split_brain(check.label, data.requests_of(check.service))


@_register(RecoveryOrderCheck)
def _recovery_order(experiment: Experiment, check: RecoveryOrderCheck, data: RunData) -> Verdict:
    label = experiment.measured_fault(check).label
    return check_recovery_order(check.label, data.requests, check.order, label, fault_starts(data.events).get(label),
                                check.objectives, check.sustained, check.min_success_rate,
                                in_effect=fault_in_effect(data.events).get(label))


@_register(AvailabilityCheck)
def _availability(experiment: Experiment, check: AvailabilityCheck, data: RunData) -> Verdict:
    return check_availability(check.label, data.requests_of(check.service), phase_windows(data.events),
                              list(check.phases), check.max_error_rate, check.max_p95, check.max_p99)


@_register(ReconnectionCheck)
def _reconnection(experiment: Experiment, check: ReconnectionCheck, data: RunData) -> Verdict:
    requests = data.requests_of(check.service)
    if check.after is not None:
        healed = fault_heals(data.events).get(check.after)
        return check_reconnection(check.label, requests, healed, check.within, check.min_fraction,
                                  f"heal of {check.after}")
    recovery = phase_starts(data.events).get("recovery")
    return check_reconnection(check.label, requests, recovery, check.within, check.min_fraction)


@_register(TimeToDegradedCheck, "notifications")
def _time_to_degraded(experiment: Experiment, check: TimeToDegradedCheck, data: RunData) -> Verdict:
    label = experiment.measured_fault(check).label
    notifications = [e for e in data.events if isinstance(e, NotificationRecord)]
    return check_time_to_degraded(check.label, data.requests_of(check.service), notifications, label,
                                  fault_starts(data.events).get(label), check.max, check.max_notification)


@_register(StalenessCheck)
def _staleness(experiment: Experiment, check: StalenessCheck, data: RunData) -> Verdict:
    return check_staleness(check.label, data.requests_of(check.service), check.max_age)


@_register(DowntimeOrdersCheck, "readback")
def _downtime_orders(experiment: Experiment, check: DowntimeOrdersCheck, data: RunData) -> Verdict:
    return check_downtime_orders(check.label, data.requests_of(check.service), data.readback,
                                 check.authored_tolerance)


@_register(LabTurnaroundCheck, "readback")
def _lab_turnaround(experiment: Experiment, check: LabTurnaroundCheck, data: RunData) -> Verdict:
    label = experiment.measured_fault(check).label
    start, healed = fault_starts(data.events).get(label), fault_heals(data.events).get(label)
    outage = Window(start, healed) if start is not None and healed is not None else None
    baseline = phase_windows(data.events).get("steady_state")
    return check_lab_turnaround(check.label, data.requests_of(check.service), data.readback, baseline, outage,
                                check.max_ratio)


@_register(ScheduleStalenessCheck, "schedule_diffs")
def _schedule_staleness(experiment: Experiment, check: ScheduleStalenessCheck, data: RunData) -> Verdict:
    return check_schedule_staleness(check.label, data.requests, data.schedule_diffs)


@_register(PatientIdentityCheck, "readback")
def _patient_identity(experiment: Experiment, check: PatientIdentityCheck, data: RunData) -> Verdict:
    return check_patient_identity(check.label, data.requests_of(check.service), data.readback)


@_register(BlastRadiusCheck)
def _blast_radius(experiment: Experiment, check: BlastRadiusCheck, data: RunData) -> Verdict:
    verdict = check_availability(check.label, data.requests_of(check.service), phase_windows(data.events), ["faults"],
                                 check.max_error_rate, check.max_p95)
    return replace(verdict, check_type="blast_radius")


@_register(FailoverTimeCheck)
def _failover_time(experiment: Experiment, check: FailoverTimeCheck, data: RunData) -> Verdict:
    fault = experiment.measured_fault(check).label
    return check_failover_time(check.label, data.requests_of(check.service), fault,
                               fault_starts(data.events).get(fault), check.max, check.sustained,
                               check.min_success_rate, in_effect=fault_in_effect(data.events).get(fault))
