"""Settings of the scheduling service (validated; built from the command line)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mock_services.synthetic.model import MAX_PATIENTS


@dataclass(frozen=True)
class Config:
    """``db_path``: the SQLite file (created if missing); ``seed``/``patients``: the synthetic
    hospital whose schedules are loaded into an empty database (patients 0 = load nothing).

    Raises ValueError on an empty name/datacenter, a port outside 0..65535 or a patient count
    outside 0..100 000.
    """

    name: str
    datacenter: str
    db_path: Path
    host: str = "127.0.0.1"
    port: int = 0
    seed: int = 2024
    patients: int = 0

    def __post_init__(self) -> None:
        if not self.name or not self.datacenter:
            raise ValueError("name and datacenter must not be empty")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"--port must be in 0..65535, got {self.port}")
        if not 0 <= self.patients <= MAX_PATIENTS:
            raise ValueError(f"--patients must be in 0..{MAX_PATIENTS}, got {self.patients}")
