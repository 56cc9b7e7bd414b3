"""Judging a run: every check of the experiment against the timeline, each guarded."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from functools import partial

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
from harness.checks.verdict import Outcome, Verdict, guarded
from harness.checks.windows import Window, fault_heals, fault_starts, phase_starts, phase_windows
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
from harness.readback import ReadBack
from harness.timeline import HaltRecord, NotificationRecord, TimelineRecord


def judge(experiment: Experiment, records: Sequence[TimelineRecord],
          readback: Mapping[str, ReadBack] | None = None) -> list[Verdict]:
    """:func:`judge_data` over records held in memory."""
    return judge_data(experiment, RunData.from_records(records, readback))


def judge_data(experiment: Experiment, data: RunData) -> list[Verdict]:
    """One verdict per check of ``experiment``, in order, then a failing verdict per halt
    condition that stopped the run. Pure: reads only ``data`` (the timeline, and the end state
    read after recovery, for the ledger)."""
    verdicts = [guarded(check.label, check.type, partial(_judge_one, experiment, check, data))
                for check in experiment.checks]
    return verdicts + halt_verdicts(data.events)


def halt_verdicts(records: Sequence[TimelineRecord]) -> list[Verdict]:
    """A run stopped by a halt condition fails, whatever its checks say: its faults did not
    run to the end, and the reason is the finding."""
    return [Verdict(record.condition, "halt", Outcome.FAIL, f"run halted: {record.reason}",
                    measured="halted", bound="never crossed", evidence={"t": record.t, "service": record.service})
            for record in records if isinstance(record, HaltRecord)]


def _judge_one(experiment: Experiment, check: Check, data: RunData) -> Verdict:
    requests = data.requests_of(check.service)
    if isinstance(check, LedgerCheck):
        if data.readback is None:
            return check_ledger(check.label, requests, None, check.fail_on_unexpected)
        return ledger_verdict(check.label, data.ledger.of_service(check.service), check.fail_on_unexpected)
    if isinstance(check, SplitBrainCheck):
        return check_split_brain(check.label, requests)
    if isinstance(check, RecoveryOrderCheck):
        label = experiment.measured_fault(check).label
        return check_recovery_order(check.label, data.requests, check.order,
                                    label, fault_starts(data.events).get(label), check.objectives, check.sustained,
                                    check.min_success_rate)
    if isinstance(check, AvailabilityCheck):
        return check_availability(check.label, requests, phase_windows(data.events), list(check.phases),
                                  check.max_error_rate, check.max_p95, check.max_p99)
    if isinstance(check, ReconnectionCheck):
        if check.after is not None:
            healed = fault_heals(data.events).get(check.after)
            return check_reconnection(check.label, requests, healed, check.within, check.min_fraction,
                                      f"heal of {check.after}")
        recovery = phase_starts(data.events).get("recovery")
        return check_reconnection(check.label, requests, recovery, check.within, check.min_fraction)
    if isinstance(check, TimeToDegradedCheck):
        label = experiment.measured_fault(check).label
        notifications = [e for e in data.events if isinstance(e, NotificationRecord)]
        return check_time_to_degraded(check.label, requests, notifications, label, fault_starts(data.events).get(label),
                                      check.max, check.max_notification)
    if isinstance(check, StalenessCheck):
        return check_staleness(check.label, requests, check.max_age)
    if isinstance(check, DowntimeOrdersCheck):
        return check_downtime_orders(check.label, requests, data.readback, check.authored_tolerance)
    if isinstance(check, LabTurnaroundCheck):
        label = experiment.measured_fault(check).label
        start, healed = fault_starts(data.events).get(label), fault_heals(data.events).get(label)
        outage = Window(start, healed) if start is not None and healed is not None else None
        baseline = phase_windows(data.events).get("steady_state")
        return check_lab_turnaround(check.label, requests, data.readback, baseline, outage, check.max_ratio)
    if isinstance(check, ScheduleStalenessCheck):
        return check_schedule_staleness(check.label, data.requests, data.schedule_diffs)
    if isinstance(check, PatientIdentityCheck):
        return check_patient_identity(check.label, requests, data.readback)
    if isinstance(check, BlastRadiusCheck):
        verdict = check_availability(check.label, requests, phase_windows(data.events), ["faults"],
                                     check.max_error_rate, check.max_p95)
        return replace(verdict, check_type="blast_radius")
    assert isinstance(check, FailoverTimeCheck)
    fault = experiment.measured_fault(check).label
    return check_failover_time(check.label, requests, fault, fault_starts(data.events).get(fault), check.max,
                               check.sustained, check.min_success_rate)
