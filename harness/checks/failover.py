"""Failover time (RTO): from a fault's start to the first sustained run of successes.

Measured from per-request records, not aggregates. "Back" means: a window of
``sustained`` seconds, starting at a successful request, in which the success rate is at
least ``min_success_rate`` and which is fully observed (requests exist at or after its
end, so a run that ends mid-window cannot claim recovery). The failover time is that
window's start minus the fault's start: the moment clients could rely on the service again.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.checks.verdict import Outcome, Verdict
from harness.durations import format_duration
from harness.timeline import RequestRecord


def first_sustained_success(requests: Sequence[RequestRecord], after: float, sustained: float,
                            min_success_rate: float) -> float | None:
    """Start time of the first qualifying window at or after ``after``, or ``None``.
    ``requests`` must be sorted by ``t``."""
    candidates = [r for r in requests if r.t >= after]
    n = len(candidates)
    end = 0
    ok_in_window = 0
    for i, first in enumerate(candidates):
        # Slide the window [first.t, first.t + sustained) over the sorted requests; with
        # sustained > 0 the window always holds ``first``, so ``end`` never falls behind ``i``.
        while end < n and candidates[end].t < first.t + sustained:
            ok_in_window += candidates[end].ok
            end += 1
        if first.ok and end < n:  # a request at/after the window's end: fully observed
            total = end - i
            if ok_in_window / total >= min_success_rate:
                return first.t
        ok_in_window -= first.ok
    return None


def check_failover_time(name: str, requests: Sequence[RequestRecord], fault_label: str,
                        fault_start: float | None, max_seconds: float, sustained: float,
                        min_success_rate: float) -> Verdict:
    """Pass when the service is back within ``max_seconds`` of the fault's start."""
    bound = f"<= {format_duration(max_seconds)}"
    evidence: dict[str, object] = {"fault": fault_label, "fault_start": fault_start, "max": max_seconds,
                                   "sustained": sustained, "min_success_rate": min_success_rate}
    if fault_start is None:
        return Verdict(name, "failover_time", Outcome.UNKNOWN, f"fault {fault_label} was never injected",
                       "", bound, evidence)
    after = [r for r in requests if r.t >= fault_start]
    if not after:
        return Verdict(name, "failover_time", Outcome.UNKNOWN, "no request after the fault started",
                       "", bound, evidence)
    errors = [r for r in after if not r.ok]
    evidence["first_error"] = errors[0].t - fault_start if errors else None
    evidence["last_error"] = errors[-1].t - fault_start if errors else None
    evidence["errors_after_fault"] = len(errors)
    back = first_sustained_success(requests, fault_start, sustained, min_success_rate)
    if back is None:
        return Verdict(name, "failover_time", Outcome.FAIL,
                       f"never back: no {format_duration(sustained)} window of successes after {fault_label}",
                       "never", bound, evidence)
    rto = back - fault_start
    evidence["failover_time"] = rto
    measured = format_duration(rto)
    if rto > max_seconds:
        return Verdict(name, "failover_time", Outcome.FAIL,
                       f"back {measured} after {fault_label} started, over the objective", measured, bound, evidence)
    return Verdict(name, "failover_time", Outcome.PASS, f"back {measured} after {fault_label} started",
                   measured, bound, evidence)
