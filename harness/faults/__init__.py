"""Faults (the nemesis): plans, inject/heal, rollback from the run's journal (:mod:`harness.run`).

Names are imported on first use (PEP 562): planning a fault (``hchaos validate``) must not
import the nemesis, whose timeline pulls in Polars.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.lazy import lazy_exports

if TYPE_CHECKING:
    from harness.faults.nemesis import Nemesis
    from harness.faults.plan import FaultPlan, ToxicAction, plan_fault
    from harness.faults.rollback import RollbackResult, rollback_run, unfinished_runs

_WHERE = {
    "Nemesis": "harness.faults.nemesis",
    "FaultPlan": "harness.faults.plan",
    "ToxicAction": "harness.faults.plan",
    "plan_fault": "harness.faults.plan",
    "RollbackResult": "harness.faults.rollback",
    "rollback_run": "harness.faults.rollback",
    "unfinished_runs": "harness.faults.rollback",
}

__all__ = [
    "FaultPlan",
    "Nemesis",
    "RollbackResult",
    "ToxicAction",
    "plan_fault",
    "rollback_run",
    "unfinished_runs",
]


__getattr__ = lazy_exports(__name__, _WHERE)
