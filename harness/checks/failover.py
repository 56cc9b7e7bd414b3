"""Failover time (RTO): from a fault's start to the first sustained run of successes.

Measured from per-request records, not aggregates. "Back" means: a window of
``sustained`` seconds, starting at a successful request, in which the success rate is at
least ``min_success_rate`` and which is fully observed (requests exist at or after its
end, so a run that ends mid-window cannot claim recovery). The failover time is that
window's start minus the fault's start: the moment clients could rely on the service again.
A window can only start once the fault was in effect (the inject's ``ended``): a request sent
while the fault was being applied may still succeed, and proves nothing about recovery.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from harness.checks.verdict import Outcome, Verdict
from harness.checks.windows import Requests, request_table
from harness.durations import format_duration


def requests_after(requests: Requests, after: float, services: Sequence[str] | None = None) -> pl.DataFrame:
    """``t``, ``ok`` of the requests that started at or after ``after``, sorted by ``t``; with
    ``services``, of those services only and with their ``service``: one scan for several."""
    table = request_table(requests).filter(pl.col("t") >= after)
    if services is None:
        return table.select("t", "ok").sort("t").collect()
    return (table.filter(pl.col("service").is_in(list(services))).select("service", "t", "ok").sort("t")
            .collect())


def sustained_start(t: np.ndarray, ok: np.ndarray, sustained: float, min_success_rate: float,
                    not_before: float = -np.inf) -> float | None:
    """Start time of the first qualifying window (see the module) starting at or after
    ``not_before``, in requests sorted by start time ``t`` with outcomes ``ok``, or ``None``.
    Vectorised: successes before each request (prefix sums) and each window's end by binary
    search, so millions of requests take milliseconds; the success rate is the same float
    division as the per-request definition, so ties decide alike."""
    n = len(t)
    if n == 0:
        return None
    before = np.concatenate(([0], np.cumsum(ok, dtype=np.int64)))  # successes before request i
    end = np.searchsorted(t, t + sustained, side="left")  # first request at/after the window's end
    in_window = end - np.arange(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = (before[end] - before[:n]) / in_window
    qualifying = ok & (end < n) & (rate >= min_success_rate) & (t >= not_before)  # end < n: fully observed
    first = np.flatnonzero(qualifying)
    return float(t[first[0]]) if first.size else None


def first_sustained_success(requests: Requests, after: float, sustained: float,
                            min_success_rate: float) -> float | None:
    """Start time of the first window of ``sustained`` seconds at or after ``after`` that starts
    with a success, has a success rate of at least ``min_success_rate`` and is fully observed;
    ``None`` if there is none. ``requests`` in any order."""
    frame = requests_after(requests, after)
    return sustained_start(frame["t"].to_numpy(), frame["ok"].to_numpy(), sustained, min_success_rate)


def check_failover_time(name: str, requests: Requests, fault_label: str,
                        fault_start: float | None, max_seconds: float, sustained: float,
                        min_success_rate: float, in_effect: float | None = None) -> Verdict:
    """Pass when the service is back within ``max_seconds`` of the fault's start (windows from
    ``in_effect``, default the start)."""
    bound = f"<= {format_duration(max_seconds)}"
    evidence: dict[str, object] = {"fault": fault_label, "fault_start": fault_start, "max": max_seconds,
                                   "sustained": sustained, "min_success_rate": min_success_rate}
    if fault_start is None:
        return Verdict(name, "failover_time", Outcome.UNKNOWN, f"fault {fault_label} was never injected",
                       "", bound, evidence)
    after = requests_after(requests, fault_start)
    if not after.height:
        return Verdict(name, "failover_time", Outcome.UNKNOWN, "no request after the fault started",
                       "", bound, evidence)
    t, ok = after["t"].to_numpy(), after["ok"].to_numpy()
    errors = t[~ok]
    evidence["first_error"] = float(errors[0]) - fault_start if errors.size else None
    evidence["last_error"] = float(errors[-1]) - fault_start if errors.size else None
    evidence["errors_after_fault"] = int(errors.size)
    back = sustained_start(t, ok, sustained, min_success_rate,
                           not_before=in_effect if in_effect is not None else fault_start)
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
