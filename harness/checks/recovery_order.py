"""Recovery order: after a fault, did the services come back in the declared order, each
within its own objective? (At AP-HP the plan was records and result portals first,
messaging and imaging next, staff scheduling last.)

Each service's "back" time is :func:`~harness.checks.failover.sustained_start` of its own
requests after the fault's start (``requests`` holds every service's). The order holds when
those times do not decrease along ``order`` -- or when a later service's "back" comes first
only as sampling can make it: a "back" time is a service's first success in a sustained
window, so it is late by up to the gap since that service's previous request. A service is
back before an earlier one only when the earlier one still *failed* a request after that (in
CI, labs' first success fell 28 ms before the EHR's, the EHR's last failure before both). A
service never back, or back after its objective, fails; a service with no request after the
fault is unknown.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import polars as pl

from harness.checks.failover import requests_after, sustained_start
from harness.checks.verdict import Outcome, Verdict
from harness.checks.windows import Requests
from harness.durations import format_duration


def _failed_between(frame: pl.DataFrame, start: float, end: float) -> bool:
    """Whether ``frame`` (one service's requests) has a failed request sent in [start, end)."""
    return bool(frame.filter((pl.col("t") >= start) & (pl.col("t") < end) & ~pl.col("ok")).height)


def check_recovery_order(name: str, requests: Requests,
                         order: Sequence[str], fault_label: str, fault_start: float | None,
                         objectives: Mapping[str, float], sustained: float, min_success_rate: float,
                         in_effect: float | None = None) -> Verdict:
    bound = " -> ".join(f"{s} (<= {format_duration(objectives[s])})" if s in objectives else s for s in order)
    evidence: dict[str, object] = {"fault": fault_label, "order": list(order), "objectives": dict(objectives)}
    if fault_start is None:
        return Verdict(name, "recovery_order", Outcome.UNKNOWN, f"fault {fault_label} was never injected", "",
                       bound, evidence)
    back: dict[str, float | None] = {}
    silent: list[str] = []
    after = requests_after(requests, fault_start, order)  # every service in one scan
    by_service = {str(key[0]): frame for key, frame in after.partition_by("service", as_dict=True).items()}
    for service in order:
        frame = by_service.get(service)
        if frame is None:
            silent.append(service)
            continue
        # Windows from when the fault was in effect (see harness.checks.failover).
        at = sustained_start(frame["t"].to_numpy(), frame["ok"].to_numpy(), sustained, min_success_rate,
                             not_before=in_effect if in_effect is not None else fault_start)
        back[service] = None if at is None else at - fault_start
    evidence["back_after"] = back
    problems = [f"{s} never back" for s, t in back.items() if t is None]
    problems += [f"{s} back after {format_duration(t)} > {format_duration(objectives[s])}"
                 for s, t in back.items() if t is not None and s in objectives and t > objectives[s]]
    timed = [(s, back[s]) for s in order if back.get(s) is not None]
    for (first, t1), (second, t2) in itertools.pairwise(timed):
        assert t1 is not None and t2 is not None
        if t2 < t1 and _failed_between(by_service[first], fault_start + t2, fault_start + t1):
            problems.append(f"{second} back ({format_duration(t2)}) before {first} ({format_duration(t1)})")
    measured = ", ".join(f"{s} {format_duration(t) if t is not None else 'never'}" for s, t in back.items())
    if problems:
        return Verdict(name, "recovery_order", Outcome.FAIL, "; ".join(problems), measured, bound, evidence)
    if silent:
        return Verdict(name, "recovery_order", Outcome.UNKNOWN, f"no request after the fault to {', '.join(silent)}",
                       measured, bound, evidence)
    return Verdict(name, "recovery_order", Outcome.PASS, "back in order: " + " -> ".join(order), measured, bound,
                   evidence)
