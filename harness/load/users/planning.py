"""What the plan asks of Locust, in Locust's terms: the active stage, integer weights.

Pure Python (the logic of :mod:`.shape` and :mod:`.factory`, kept importable by tests).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import reduce
from typing import TypeVar

from harness.load.plan import Stage

K = TypeVar("K")

WEIGHT_RESOLUTION = 1000
"""Fractional weights keep their ratios to 1/1000 of the largest one."""


def stage_at(stages: Sequence[Stage], elapsed: float) -> tuple[int, float] | None:
    """``(users, spawn_rate)`` of the first stage whose ``until`` is after ``elapsed``
    seconds, or ``None`` once the last stage is over (the load's normal end)."""
    for stage in stages:
        if elapsed < stage.until:
            return stage.users, stage.spawn_rate
    return None


def integer_weights(weights: Mapping[K, float]) -> dict[K, int]:
    """The same ratios as small positive integers: Locust repeats a task ``weight`` times in
    its task list, so task weights must be integers (33/24/17 stay 33/24/17; 0.5/0.25
    become 2/1). Every weight must be > 0; none is rounded away to 0."""
    if not weights:
        return {}
    for key, weight in weights.items():
        if not (weight > 0 and math.isfinite(weight)):
            raise ValueError(f"weight of {key!r} must be a positive number, got {weight!r}")
    values = list(weights.values())
    if all(float(w).is_integer() for w in values):
        scaled = {key: int(w) for key, w in weights.items()}
    else:
        top = max(values)
        scaled = {key: max(1, round(w / top * WEIGHT_RESOLUTION)) for key, w in weights.items()}
    divisor = reduce(math.gcd, scaled.values())
    return {key: w // divisor for key, w in scaled.items()}
