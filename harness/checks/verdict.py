"""Verdicts: pass, fail or unknown, each with its evidence.

``unknown`` is a first-class answer (Jepsen's ``:unknown``): a checker that had no data to
judge, or that crashed, says unknown, never pass. When verdicts combine, the worst wins:
fail > unknown > pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Outcome(StrEnum):
    PASS = "pass"
    UNKNOWN = "unknown"
    FAIL = "fail"

    @property
    def severity(self) -> int:
        return {"pass": 0, "unknown": 1, "fail": 2}[self.value]


@dataclass(frozen=True)
class Verdict:
    """One check's answer. ``measured`` and ``bound`` are short human strings for the table
    ("2.31s" vs "<= 8s"); ``evidence`` holds the numbers behind them for the JSON report."""

    check: str
    check_type: str
    outcome: Outcome
    summary: str
    measured: str = ""
    bound: str = ""
    evidence: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"check": self.check, "type": self.check_type, "outcome": self.outcome.value,
                "summary": self.summary, "measured": self.measured, "bound": self.bound,
                "evidence": dict(self.evidence)}


def worst(outcomes: Iterable[Outcome]) -> Outcome:
    """The combined outcome: the most severe one; ``unknown`` when there is nothing."""
    result: Outcome | None = None
    for outcome in outcomes:
        if result is None or outcome.severity > result.severity:
            result = outcome
    return result if result is not None else Outcome.UNKNOWN


def guarded(check: str, check_type: str, run: Callable[[], Verdict]) -> Verdict:
    """Run a checker; a crash becomes an ``unknown`` verdict naming the exception."""
    try:
        return run()
    except Exception as exc:  # a crashing checker must never read as pass, nor stop the others
        return Verdict(check, check_type, Outcome.UNKNOWN, f"checker crashed: {type(exc).__name__}: {exc}")
