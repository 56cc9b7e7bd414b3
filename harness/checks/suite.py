"""Judging a run: every check of the experiment against the timeline, each guarded."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from harness.checks.availability import check_availability
from harness.checks.failover import check_failover_time
from harness.checks.verdict import Verdict, guarded
from harness.checks.windows import fault_records, phase_windows, requests_of
from harness.experiment import AvailabilityCheck, Check, Experiment, FailoverTimeCheck
from harness.timeline import TimelineRecord


def judge(experiment: Experiment, records: Sequence[TimelineRecord]) -> list[Verdict]:
    """One verdict per check of ``experiment``, in order. Pure: reads only ``records``."""
    return [guarded(check.label, check.type, partial(_judge_one, experiment, check, records))
            for check in experiment.checks]


def _judge_one(experiment: Experiment, check: Check, records: Sequence[TimelineRecord]) -> Verdict:
    requests = requests_of(records, check.service)
    if isinstance(check, AvailabilityCheck):
        return check_availability(check.label, requests, phase_windows(records), list(check.phases),
                                  check.max_error_rate, check.max_p95)
    assert isinstance(check, FailoverTimeCheck)
    fault = experiment.measured_fault(check).label
    injected = {f.fault: f.t for f in fault_records(records) if f.action == "inject"}
    return check_failover_time(check.label, requests, fault, injected.get(fault), check.max,
                               check.sustained, check.min_success_rate)
