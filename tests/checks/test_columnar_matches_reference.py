"""The checkers' column queries give exactly what the per-record definitions give: random
timelines, ties and edge cases included (the definitions are kept here, in plain Python, as the
reference)."""

from __future__ import annotations

import random

import pytest

from harness.checks.availability import phase_stats
from harness.checks.failover import first_sustained_success
from harness.checks.windows import Window, percentile
from harness.timeline import RequestRecord


def reference_first_sustained_success(requests: list[RequestRecord], after: float, sustained: float,
                                      min_success_rate: float) -> float | None:
    """The per-record definition (sliding window over the requests sorted by start)."""
    candidates = sorted((r for r in requests if r.t >= after), key=lambda r: r.t)
    n, end, ok_in_window = len(candidates), 0, 0
    for i, first in enumerate(candidates):
        while end < n and candidates[end].t < first.t + sustained:
            ok_in_window += candidates[end].ok
            end += 1
        if first.ok and end < n and ok_in_window / (end - i) >= min_success_rate:
            return first.t
        ok_in_window -= first.ok
    return None


def _timeline(rng: random.Random, n: int, grid: bool) -> list[RequestRecord]:
    out = []
    for _ in range(n):
        # on a 0.1 s grid, many requests share a start time and windows end exactly on one
        t = round(rng.uniform(0, 20), 1) if grid else rng.uniform(0, 20)
        down = 5 <= t < 9
        ok = rng.random() > (0.9 if down else 0.05)
        out.append(RequestRecord(t, rng.expovariate(50), "load", "ehr", "GET", ok))
    rng.shuffle(out)  # the checkers must not rely on the order they are given
    return out


@pytest.mark.parametrize("seed", range(40))
def test_sustained_success_matches_the_per_record_definition(seed: int) -> None:
    rng = random.Random(seed)
    requests = _timeline(rng, rng.choice([0, 1, 5, 50, 400]), grid=seed % 2 == 0)
    for after, sustained, rate in [(5.0, 1.0, 0.99), (5.0, 0.5, 0.8), (0.0, 2.0, 1.0), (8.5, 0.3, 0.5),
                                   (19.9, 1.0, 0.9)]:
        expected = reference_first_sustained_success(requests, after, sustained, rate)
        assert first_sustained_success(requests, after, sustained, rate) == expected, (after, sustained, rate)


@pytest.mark.parametrize("seed", range(40))
def test_phase_percentiles_are_the_nearest_rank_ones(seed: int) -> None:
    rng = random.Random(seed)
    requests = _timeline(rng, rng.choice([1, 2, 3, 19, 20, 21, 100, 333]), grid=False)
    window = Window(0.0, 25.0)
    stats = phase_stats(requests, [window])[0]
    inside = [r for r in requests if window.contains(r.t) and r.t + r.duration <= window.end]
    durations = sorted(r.duration for r in inside if r.ok)
    assert stats["requests"] == len(inside)
    assert stats["errors"] == sum(1 for r in inside if not r.ok)
    for q, column in [(0.5, "p50"), (0.95, "p95"), (0.99, "p99")]:
        expected = percentile(durations, q) if durations else None
        assert stats[column] == expected, (q, len(durations))
