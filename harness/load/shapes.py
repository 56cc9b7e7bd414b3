"""From the experiment's load shape to Locust stages (see :class:`harness.load.plan.Stage`).

Named shapes are piecewise-linear profiles of (fraction of the run, fraction of the peak
users), sampled once per second -- Locust's shape ticks once per second too -- and merged
where the user count does not change. ``length`` is how long the load must last (the
experiment's steady state + faults + recovery); the last stage ends at ``length``.
"""

from __future__ import annotations

import itertools
import math

from harness.experiment.load import (
    ConstantShape,
    LoadConfig,
    MorningRoundsShape,
    RampShape,
    ShiftChangeShape,
    StagesShape,
)
from harness.load.plan import Stage

Profile = list[tuple[float, float]]
"""(seconds from the start of the load, users), times increasing; linear in between."""


def compile_stages(load: LoadConfig, length: float, ramp_default: float) -> list[Stage]:
    """The stages for ``load`` over ``length`` seconds. ``ramp_default`` is the ramp's length
    when the experiment does not give one (the steady-state phase)."""
    if length <= 0:
        raise ValueError(f"the load must last more than 0 s, got {length:g}")
    shape = load.shape
    if isinstance(shape, StagesShape):
        stages = [Stage(s.until, s.users, load.spawn_rate) for s in shape.stages if s.until < length]
        last_users = next((s.users for s in shape.stages if s.until >= length), shape.stages[-1].users)
        return _merge([*stages, Stage(length, last_users, load.spawn_rate)])
    return _sample(_profile(shape, load.users, length, ramp_default), load.spawn_rate, length)


def _profile(shape: ConstantShape | RampShape | MorningRoundsShape | ShiftChangeShape, peak: int, length: float,
             ramp_default: float) -> Profile:
    if isinstance(shape, ConstantShape):
        return [(0.0, peak), (length, peak)]
    if isinstance(shape, RampShape):
        over = min(shape.over if shape.over is not None else ramp_default, length)
        return _increasing([(0.0, shape.start_users), (over, peak), (length, peak)])
    if isinstance(shape, MorningRoundsShape):
        base = shape.base * peak
        return [(0.0, base), (0.25 * length, peak), (0.65 * length, peak), (0.9 * length, 0.6 * peak),
                (length, 0.6 * peak)]
    at = shape.at if shape.at is not None else length / 2
    at = min(max(at, 0.0), length)
    width = max(2.0, 0.05 * length)  # a handover lasts a few seconds in a compressed run
    points = [(0.0, peak), (max(0.0, at - width), peak), (at, shape.dip * peak),
              (min(length, at + width), shape.surge * peak), (min(length, at + 3 * width), peak), (length, peak)]
    return _increasing(points)


def _increasing(points: Profile) -> Profile:
    kept: Profile = []
    for t, value in points:
        if kept and t <= kept[-1][0]:
            kept[-1] = (kept[-1][0], value)
        else:
            kept.append((t, value))
    return kept


def _at(profile: Profile, t: float) -> int:
    """Users at ``t`` (linear between the profile's points)."""
    for (t0, v0), (t1, v1) in itertools.pairwise(profile):
        if t0 <= t <= t1:
            share = (t - t0) / (t1 - t0) if t1 > t0 else 1.0
            return max(0, round(v0 + share * (v1 - v0)))
    return max(0, round(profile[-1][1]))


def _sample(profile: Profile, spawn_rate: float, length: float) -> list[Stage]:
    # Each one-second stage aims at the profile's value in its middle.
    stages = [Stage(float(second), _at(profile, second - 0.5), spawn_rate)
              for second in range(1, math.ceil(length) + 1)]
    stages[-1] = Stage(length, stages[-1].users, spawn_rate)
    return _merge(stages)


def _merge(stages: list[Stage]) -> list[Stage]:
    """Consecutive stages with the same users and rate become one (the later ``until``)."""
    merged: list[Stage] = []
    for stage in stages:
        if merged and merged[-1].users == stage.users and merged[-1].spawn_rate == stage.spawn_rate:
            merged[-1] = stage
        else:
            merged.append(stage)
    return merged
