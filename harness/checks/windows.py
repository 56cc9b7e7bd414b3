"""Time windows of a run, read from the timeline's phase and fault records; the request table
the checkers query (:data:`Requests`)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeAlias

import polars as pl

from harness.timeline import FaultRecord, PhaseRecord, RequestRecord, TimelineRecord
from harness.timeline.columns import frame_from_records

Requests: TypeAlias = pl.LazyFrame | pl.DataFrame | Sequence[RequestRecord]
"""What a checker accepts as its requests: the run's request table (lazy, as the run folder
gives it), or record objects (tests, small in-memory timelines)."""


def request_table(requests: Requests) -> pl.LazyFrame:
    """``requests`` as a lazy request table (:data:`harness.timeline.columns.REQUEST_SCHEMA`)."""
    if isinstance(requests, pl.LazyFrame):
        return requests
    if isinstance(requests, pl.DataFrame):
        return requests.lazy()
    return frame_from_records(requests).lazy()


def of_service(requests: Requests, service: str) -> pl.LazyFrame:
    return request_table(requests).filter(pl.col("service") == service)


def fault_starts(records: Iterable[TimelineRecord]) -> dict[str, float]:
    """When each fault's injection started, by label: the earliest instant it can have hurt
    (failover time is measured from here)."""
    return {r.fault: r.t for r in records if isinstance(r, FaultRecord) and r.action == "inject"}


def fault_in_effect(records: Iterable[TimelineRecord]) -> dict[str, float]:
    """When each fault's injection had taken effect (its ``ended``: every toxic applied, every
    process killed), by label. A request sent before that may still have succeeded: it is no
    evidence that the service came back, so recovery windows start here."""
    return {r.fault: r.ended if r.ended is not None else r.t
            for r in records if isinstance(r, FaultRecord) and r.action == "inject"}


@dataclass(frozen=True)
class Window:
    start: float
    end: float

    def contains(self, t: float) -> bool:
        return self.start <= t < self.end

    @property
    def length(self) -> float:
        return self.end - self.start


def phase_windows(records: Iterable[TimelineRecord]) -> dict[str, Window]:
    """Each phase's window, from its start and end records (phases never left open by a
    completed run; an unfinished phase is omitted)."""
    starts: dict[str, float] = {}
    windows: dict[str, Window] = {}
    for rec in records:
        if isinstance(rec, PhaseRecord):
            if rec.action == "start":
                starts[rec.phase] = rec.t
            elif rec.phase in starts:
                windows[rec.phase] = Window(starts[rec.phase], rec.t)
    return windows


def phase_starts(records: Iterable[TimelineRecord]) -> dict[str, float]:
    """When each phase started (also a phase that never ended: a halted run's)."""
    return {r.phase: r.t for r in records if isinstance(r, PhaseRecord) and r.action == "start"}


def fault_heals(records: Iterable[TimelineRecord]) -> dict[str, float]:
    """When each fault's heal had taken effect, by label: the first instant it was certainly
    gone (recovery is measured from here, never from when the heal was asked for)."""
    return {r.fault: r.effective_end for r in records if isinstance(r, FaultRecord) and r.action == "heal"}


def iso_epoch(text: object) -> float | None:
    """Epoch seconds of an ISO 8601 time (``Z`` or an offset), or ``None`` if it is not one."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1) of an already sorted, non-empty sequence. (The
    checkers compute the same over tables with Polars' ``quantile(q, "equiprobable")``.)"""
    if not sorted_values:
        raise ValueError("percentile of nothing")
    rank = math.ceil(round(q * len(sorted_values), 9))  # round: 0.95 * 20 must be 19, not 19.000000000000004
    return sorted_values[min(max(rank, 1), len(sorted_values)) - 1]
