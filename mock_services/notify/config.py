"""Settings of the notification sink (validated; built from the command line)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Config:
    """``db_path``: the SQLite file (None = in memory: lost at exit, fine for tests).

    Raises ValueError on an empty name/datacenter or a port outside 0..65535.
    """

    name: str
    datacenter: str
    db_path: Path | None = None
    host: str = "127.0.0.1"
    port: int = 0

    def __post_init__(self) -> None:
        if not self.name.strip() or not self.datacenter.strip():
            raise ValueError("--name and --datacenter must not be empty")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"--port must be in 0..65535, got {self.port}")
