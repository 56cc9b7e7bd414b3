"""Experiment shapes compile to Locust stages that cover the whole run."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from harness.experiment import LoadConfig
from harness.load.shapes import compile_stages


def _users(shape: dict[str, Any], length: float = 40.0, users: int = 10) -> list[tuple[float, int]]:
    stages = compile_stages(LoadConfig.model_validate({"users": users, "shape": shape}), length, ramp_default=8)
    assert stages[-1].until == length
    assert all(a.until < b.until for a, b in itertools.pairwise(stages))
    return [(s.until, s.users) for s in stages]


def test_constant_is_one_stage() -> None:
    assert _users({"type": "constant"}) == [(40.0, 10)]


def test_ramp_climbs_over_the_steady_state_by_default_then_holds() -> None:
    users = _users({"type": "ramp", "start_users": 2})
    assert users[0][1] <= 3 and users[-1] == (40.0, 10)
    assert [u for _, u in users] == sorted(u for _, u in users)
    assert max(t for t, u in users if u < 10) <= 8


def test_morning_rounds_peaks_in_the_middle_and_starts_at_base() -> None:
    users = _users({"type": "morning_rounds", "base": 0.3})
    assert users[0][1] == 3
    peak_times = [t for t, u in users if u == 10]
    assert peak_times and min(peak_times) >= 10 and max(peak_times) <= 32
    assert users[-1][1] == 6


def test_shift_change_dips_then_surges_around_its_time() -> None:
    users = _users({"type": "shift_change", "at": "20s", "dip": 0.5, "surge": 1.5})
    lowest = min(users, key=lambda s: s[1])
    highest = max(users, key=lambda s: s[1])
    assert lowest[1] <= 6 and 17 <= lowest[0] <= 21
    assert highest[1] >= 13 and 20 <= highest[0] <= 24
    assert users[-1][1] == 10


def test_explicit_stages_are_cut_at_the_run_length() -> None:
    users = _users({"type": "stages", "stages": [{"until": "5s", "users": 2}, {"until": "90s", "users": 7}]})
    assert users == [(5.0, 2), (40.0, 7)]


def test_zero_length_is_refused() -> None:
    with pytest.raises(ValueError, match="more than 0"):
        compile_stages(LoadConfig(), 0, ramp_default=1)
