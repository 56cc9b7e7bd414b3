"""Faults (the nemesis): plans, inject/heal, the on-disk journal and rollback."""

from harness.faults.journal import JOURNAL_FILE, Journal, replay_journal
from harness.faults.nemesis import Nemesis
from harness.faults.plan import FaultPlan, ToxicAction, plan_fault
from harness.faults.rollback import RollbackResult, rollback_run, unfinished_runs

__all__ = [
    "JOURNAL_FILE",
    "FaultPlan",
    "Journal",
    "Nemesis",
    "RollbackResult",
    "ToxicAction",
    "plan_fault",
    "replay_journal",
    "rollback_run",
    "unfinished_runs",
]
