"""Judging a run: every check of the experiment against the timeline, each guarded."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial

from harness.checks.registry import entry
from harness.checks.rundata import RunData
from harness.checks.verdict import Outcome, Verdict, guarded
from harness.experiment import Check, Experiment
from harness.readback import ReadBack
from harness.timeline import AbortRecord, HaltRecord, TimelineRecord


def judge(experiment: Experiment, records: Sequence[TimelineRecord],
          readback: Mapping[str, ReadBack] | None = None) -> list[Verdict]:
    """:func:`judge_data` over records held in memory."""
    return judge_data(experiment, RunData.from_records(records, readback))


def judge_data(experiment: Experiment, data: RunData) -> list[Verdict]:
    """One verdict per check of ``experiment``, in order, then a failing verdict per halt
    condition that stopped the run. Pure: reads only ``data`` (the timeline, and the end state
    read after recovery, for the ledger). Each check is judged by its type's entry in
    :mod:`harness.checks.registry`."""
    verdicts = [guarded(check.label, check.type, partial(_judge_one, experiment, check, data))
                for check in experiment.checks]
    return verdicts + halt_verdicts(data.events)


def halt_verdicts(records: Sequence[TimelineRecord]) -> list[Verdict]:
    """A run stopped by a halt condition fails, whatever its checks say: its faults did not
    run to the end, and the reason is the finding. So does a run stopped by ``hchaos abort``."""
    verdicts = [Verdict(record.condition, "halt", Outcome.FAIL, f"run halted: {record.reason}",
                        measured="halted", bound="never crossed", evidence={"t": record.t, "service": record.service})
                for record in records if isinstance(record, HaltRecord)]
    # An aborted run is not a verdict on the systems: it did not run to the end, someone stopped it.
    return verdicts + [Verdict("aborted", "abort", Outcome.FAIL, f"run aborted by {record.by}: {record.reason}",
                               measured="aborted", bound="run to the end", evidence={"t": record.t, "by": record.by})
                       for record in records if isinstance(record, AbortRecord)]


def _judge_one(experiment: Experiment, check: Check, data: RunData) -> Verdict:
    # Looked up inside the guard: a type without an entry is one unknown verdict, not a crash.
    return entry(check.type).judge(experiment, check, data)
