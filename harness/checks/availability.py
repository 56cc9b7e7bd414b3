"""Availability: error rate and p95 latency of a service within bounds, per phase."""

from __future__ import annotations

from collections.abc import Sequence

from harness.checks.verdict import Outcome, Verdict
from harness.checks.windows import Window, percentile
from harness.durations import format_duration
from harness.timeline import RequestRecord


def check_availability(name: str, requests: Sequence[RequestRecord], windows: dict[str, Window],
                       phases: Sequence[str], max_error_rate: float, max_p95: float,
                       max_p99: float | None = None) -> Verdict:
    """Pass when, in every listed phase, the error rate is <= ``max_error_rate`` and the p95
    latency of successful requests is <= ``max_p95``, over the requests that started and
    ended within the phase. A phase with no request at all, or a
    phase that never ran, makes the verdict unknown (no data is not a pass)."""
    per_phase: dict[str, dict[str, float | int | None]] = {}
    failures: list[str] = []
    unknowns: list[str] = []
    for phase in phases:
        window = windows.get(phase)
        if window is None:
            unknowns.append(f"phase {phase} did not run")
            continue
        # Whole requests only: one still in flight when the phase ended (the fault began)
        # belongs to both and would blame the steady state for the fault.
        inside = [r for r in requests if window.contains(r.t) and r.t + r.duration <= window.end]
        if not inside:
            unknowns.append(f"no request in {phase}")
            per_phase[phase] = {"requests": 0}
            continue
        errors = sum(1 for r in inside if not r.ok)
        ok_durations = sorted(r.duration for r in inside if r.ok)
        p50, p95, p99 = (percentile(ok_durations, q) if ok_durations else None for q in (0.5, 0.95, 0.99))
        error_rate = errors / len(inside)
        per_phase[phase] = {"requests": len(inside), "errors": errors, "error_rate": error_rate,
                            "p50": p50, "p95": p95, "p99": p99}
        if error_rate > max_error_rate:
            failures.append(f"{phase}: error rate {error_rate:.1%} > {max_error_rate:.1%} ({errors}/{len(inside)})")
        if p95 is None:
            failures.append(f"{phase}: no successful request")
        elif p95 > max_p95:
            failures.append(f"{phase}: p95 {format_duration(p95)} > {format_duration(max_p95)}")
        if max_p99 is not None and p99 is not None and p99 > max_p99:
            failures.append(f"{phase}: p99 {format_duration(p99)} > {format_duration(max_p99)}")
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
