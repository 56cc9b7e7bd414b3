"""Faults (the nemesis): plans, inject/heal, the on-disk journal and rollback.

Names are imported on first use (PEP 562): planning a fault (``hchaos validate``) must not
import the nemesis, whose timeline pulls in Polars.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.faults.journal import JOURNAL_FILE, Journal, replay_journal
    from harness.faults.nemesis import Nemesis
    from harness.faults.plan import FaultPlan, ToxicAction, plan_fault
    from harness.faults.rollback import RollbackResult, rollback_run, unfinished_runs

_WHERE = {
    "JOURNAL_FILE": "harness.faults.journal",
    "Journal": "harness.faults.journal",
    "replay_journal": "harness.faults.journal",
    "Nemesis": "harness.faults.nemesis",
    "FaultPlan": "harness.faults.plan",
    "ToxicAction": "harness.faults.plan",
    "plan_fault": "harness.faults.plan",
    "RollbackResult": "harness.faults.rollback",
    "rollback_run": "harness.faults.rollback",
    "unfinished_runs": "harness.faults.rollback",
}

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


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'harness.faults' has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
