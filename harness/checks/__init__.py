"""Checks: pure functions of the run's timeline that give pass / fail / unknown verdicts."""

from harness.checks.availability import check_availability
from harness.checks.failover import check_failover_time, first_sustained_success
from harness.checks.rundata import RunData
from harness.checks.suite import judge, judge_data
from harness.checks.verdict import Outcome, Verdict, guarded, worst

__all__ = [
    "Outcome",
    "RunData",
    "Verdict",
    "check_availability",
    "check_failover_time",
    "first_sustained_success",
    "guarded",
    "judge",
    "judge_data",
    "worst",
]
