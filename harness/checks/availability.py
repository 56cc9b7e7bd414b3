"""Availability: error rate and p95 latency of a service within bounds, per phase."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from harness.checks.verdict import Outcome, Verdict
from harness.checks.windows import Requests, Window, request_table
from harness.durations import format_duration

QUANTILES = (0.5, 0.95, 0.99)


def phase_stats(requests: Requests, windows: Sequence[Window]) -> list[dict[str, float | int | None]]:
    """Per window: requests that started and ended in it, errors, and the p50/p95/p99 latency of
    the successful ones (nearest rank, as :func:`~harness.checks.windows.percentile`; ``None``
    without a success). One query per window, run together."""
    table = request_table(requests).select("t", "duration", "ok")
    queries = [
        # Whole requests only: one still in flight when the phase ended (the fault began)
        # belongs to both and would blame the steady state for the fault.
        table.filter((pl.col("t") >= w.start) & (pl.col("t") < w.end) & (pl.col("t") + pl.col("duration") <= w.end))
        .select(requests=pl.len(), errors=(~pl.col("ok")).sum(),
                **{f"p{round(q * 100)}": pl.col("duration").filter("ok").quantile(q, "equiprobable")
                   for q in QUANTILES})
        for w in windows]
    return [frame.row(0, named=True) for frame in pl.collect_all(queries)]


def check_availability(name: str, requests: Requests, windows: dict[str, Window],
                       phases: Sequence[str], max_error_rate: float, max_p95: float,
                       max_p99: float | None = None) -> Verdict:
    """Pass when, in every listed phase, the error rate is <= ``max_error_rate`` and the p95
    latency of successful requests is <= ``max_p95``, over the requests that started and
    ended within the phase. A phase with no request at all, or a
    phase that never ran, makes the verdict unknown (no data is not a pass)."""
    per_phase: dict[str, dict[str, float | int | None]] = {}
    failures: list[str] = []
    unknowns = [f"phase {phase} did not run" for phase in phases if phase not in windows]
    ran = [phase for phase in phases if phase in windows]
    for phase, stats in zip(ran, phase_stats(requests, [windows[phase] for phase in ran]), strict=True):
        count, errors = int(stats["requests"] or 0), int(stats["errors"] or 0)
        if not count:
            unknowns.append(f"no request in {phase}")
            per_phase[phase] = {"requests": 0}
            continue
        p95, p99 = stats["p95"], stats["p99"]
        error_rate = errors / count
        per_phase[phase] = {"requests": count, "errors": errors, "error_rate": error_rate,
                            "p50": stats["p50"], "p95": p95, "p99": p99}
        if error_rate > max_error_rate:
            failures.append(f"{phase}: error rate {error_rate:.1%} > {max_error_rate:.1%} ({errors}/{count})")
        if p95 is None:
            failures.append(f"{phase}: no successful request")
        elif float(p95) > max_p95:
            failures.append(f"{phase}: p95 {format_duration(float(p95))} > {format_duration(max_p95)}")
        if max_p99 is not None and p99 is not None and float(p99) > max_p99:
            failures.append(f"{phase}: p99 {format_duration(float(p99))} > {format_duration(max_p99)}")
    measured = "; ".join(_describe(phase, v) for phase, v in per_phase.items())
    bound = f"err <= {max_error_rate:.1%}, p95 <= {format_duration(max_p95)}" + (
        f", p99 <= {format_duration(max_p99)}" if max_p99 is not None else "")
    evidence = {"phases": per_phase, "max_error_rate": max_error_rate, "max_p95": max_p95, "max_p99": max_p99}
    if failures:
        return Verdict(name, "availability", Outcome.FAIL, "; ".join(failures), measured, bound, evidence)
    if unknowns:
        return Verdict(name, "availability", Outcome.UNKNOWN, "; ".join(unknowns), measured, bound, evidence)
    return Verdict(name, "availability", Outcome.PASS, "within bounds in " + ", ".join(phases),
                   measured, bound, evidence)


def _describe(phase: str, stats: dict[str, float | int | None]) -> str:
    error_rate, p95 = stats.get("error_rate"), stats.get("p95")
    if error_rate is None:
        return f"{phase}: no data"
    latency = format_duration(float(p95)) if p95 is not None else "-"
    return f"{phase}: {error_rate:.1%} err, p95 {latency}"
