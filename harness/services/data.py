"""The synthetic hospital every built-in service loads at start-up (``topology.data``)."""

from __future__ import annotations

from pydantic import Field

from harness.models import FrozenModel, StrictInt


class DataOptions(FrozenModel):
    """The synthetic hospital every service loads at start-up (deterministic per seed)."""

    seed: StrictInt = Field(default=2024, ge=0, le=2**63 - 1)
    """Same seed, same patients, results, images and schedules (0 to 2**63 - 1: an int64, as
    the services' storage and every language hold it)."""

    patients: StrictInt = Field(default=0, ge=0, le=100_000)
    """How many patients (0 = start empty; 10 to 100 000 for realistic data)."""
