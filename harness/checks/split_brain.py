"""Split brain: writes acknowledged by two primaries whose terms overlap in time.

Input: acknowledged writes that say who accepted them (``accepted_by`` = ``"<instance>#<epoch>"``,
the EHR's ``meta.source``). Each (instance, epoch) is a term; its span runs from the start of
its first acknowledged write to the end of its last. A clean failover gives terms one after
the other (the old primary's last write ends before the new one's first starts); two terms of
different instances whose spans overlap accepted writes at the same time: split brain. Every
overlapping pair is listed with its window and write counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from harness.checks.verdict import Outcome, Verdict
from harness.checks.windows import Requests, request_table
from harness.durations import format_duration

EXAMPLES = 5


@dataclass
class _Term:
    name: str
    start: float
    end: float
    writes: int

    @property
    def instance(self) -> str:
        return self.name.rsplit("#", 1)[0]


def _acknowledged(requests: Requests) -> pl.LazyFrame:
    return (request_table(requests).filter(pl.col("ok") & pl.col("accepted_by").is_not_null())
            .select("t", "duration", "resource_id", accepted_by=pl.col("accepted_by").cast(pl.String)))


def terms_of(requests: Requests) -> list[_Term]:
    """Every term that acknowledged a write, by start."""
    spans = (_acknowledged(requests).group_by("accepted_by")
             .agg(start=pl.col("t").min(), end=(pl.col("t") + pl.col("duration")).max(), writes=pl.len())
             .sort("start", "accepted_by").collect())
    return [_Term(row["accepted_by"], row["start"], row["end"], row["writes"]) for row in spans.iter_rows(named=True)]


def check_split_brain(name: str, requests: Requests) -> Verdict:
    """Fail when two instances' terms acknowledged writes at overlapping times."""
    bound = "one primary at a time"
    terms = terms_of(requests)
    evidence: dict[str, Any] = {"terms": [{"term": t.name, "start": t.start, "end": t.end, "writes": t.writes}
                                          for t in terms]}
    if not terms:
        return Verdict(name, "split_brain", Outcome.UNKNOWN,
                       "no acknowledged write says who accepted it: nothing to judge", "", bound, evidence)
    overlaps: list[dict[str, Any]] = []
    for i, first in enumerate(terms):
        for second in terms[i + 1:]:
            if first.instance == second.instance:
                continue
            start, end = max(first.start, second.start), min(first.end, second.end)
            if start < end:
                overlaps.append({"terms": [first.name, second.name], "from": start, "to": end,
                                 "seconds": end - start, **_inside(requests, first.name, second.name, start, end)})
    evidence["overlaps"] = overlaps
    sequence = " -> ".join(t.name for t in terms)
    if overlaps:
        worst = max(overlaps, key=lambda o: o["seconds"])
        return Verdict(name, "split_brain", Outcome.FAIL,
                       f"{' and '.join(worst['terms'])} both accepted writes for {format_duration(worst['seconds'])} "
                       f"({sum(worst['writes'].values())} writes)", f"{len(overlaps)} overlap(s)", bound, evidence)
    return Verdict(name, "split_brain", Outcome.PASS, f"terms one after the other: {sequence}",
                   f"{len(terms)} term(s), no overlap", bound, evidence)


def _inside(requests: Requests, first: str, second: str, start: float, end: float) -> dict[str, Any]:
    """The two terms' writes that started within [start, end]: counts and the first examples."""
    inside = (_acknowledged(requests)
              .filter(pl.col("accepted_by").is_in([first, second]) & pl.col("t").is_between(start, end))
              .sort("t").collect())
    counts = dict(inside.group_by("accepted_by").len().iter_rows())
    return {"writes": {term: int(counts.get(term, 0)) for term in (first, second)},
            "examples": inside.head(EXAMPLES).select("resource_id", "accepted_by", "t").to_dicts()}
