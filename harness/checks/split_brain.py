"""Split brain: writes acknowledged by two primaries whose terms overlap in time.

Input: acknowledged writes that say who accepted them (``accepted_by`` = ``"<instance>#<epoch>"``,
the EHR's ``meta.source``). Each (instance, epoch) is a term; its span runs from the start of
its first acknowledged write to the end of its last. A clean failover gives terms one after
the other (the old primary's last write ends before the new one's first starts); two terms of
different instances whose spans overlap accepted writes at the same time: split brain. Every
overlapping pair is listed with its window and write counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.checks.verdict import Outcome, Verdict
from harness.durations import format_duration
from harness.timeline import RequestRecord

EXAMPLES = 5


@dataclass
class _Term:
    name: str
    start: float
    end: float
    writes: list[RequestRecord]

    @property
    def instance(self) -> str:
        return self.name.rsplit("#", 1)[0]


def terms_of(requests: Sequence[RequestRecord]) -> list[_Term]:
    """Every term that acknowledged a write, by start."""
    terms: dict[str, _Term] = {}
    for r in requests:
        if not (r.ok and r.accepted_by):
            continue
        term = terms.get(r.accepted_by)
        if term is None:
            terms[r.accepted_by] = _Term(r.accepted_by, r.t, r.t + r.duration, [r])
        else:
            term.start, term.end = min(term.start, r.t), max(term.end, r.t + r.duration)
            term.writes.append(r)
    return sorted(terms.values(), key=lambda t: t.start)


def check_split_brain(name: str, requests: Sequence[RequestRecord]) -> Verdict:
    """Fail when two instances' terms acknowledged writes at overlapping times."""
    bound = "one primary at a time"
    terms = terms_of(requests)
    evidence: dict[str, Any] = {"terms": [{"term": t.name, "start": t.start, "end": t.end, "writes": len(t.writes)}
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
                inside = [w for w in first.writes + second.writes if start <= w.t <= end]
                overlaps.append({
                    "terms": [first.name, second.name], "from": start, "to": end, "seconds": end - start,
                    "writes": {t.name: sum(1 for w in t.writes if start <= w.t <= end) for t in (first, second)},
                    "examples": [{"resource_id": w.resource_id, "accepted_by": w.accepted_by, "t": w.t}
                                 for w in sorted(inside, key=lambda w: w.t)[:EXAMPLES]],
                })
    evidence["overlaps"] = overlaps
    sequence = " -> ".join(t.name for t in terms)
    if overlaps:
        worst = max(overlaps, key=lambda o: o["seconds"])
        return Verdict(name, "split_brain", Outcome.FAIL,
                       f"{' and '.join(worst['terms'])} both accepted writes for {format_duration(worst['seconds'])} "
                       f"({sum(worst['writes'].values())} writes)", f"{len(overlaps)} overlap(s)", bound, evidence)
    return Verdict(name, "split_brain", Outcome.PASS, f"terms one after the other: {sequence}",
                   f"{len(terms)} term(s), no overlap", bound, evidence)
