"""The witness's lease table: the grant rules (see the package docstring) and their storage.

Time is wall-clock seconds (``clock``, :func:`time.time` by default) because expiry is
persisted and must mean the same after a restart. Every decision that changes a lease is
committed before :meth:`LeaseTable.request` returns. Thread-safe (one lock).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mock_services.common.eventlog import log_to

logger = logging.getLogger("mock_services.witness")  # its own name: tests select the witness's events by it

_SCHEMA = """
CREATE TABLE IF NOT EXISTS lease (
    cluster TEXT PRIMARY KEY,
    holder TEXT,
    epoch INTEGER NOT NULL,
    expires_at REAL NOT NULL
);
"""


@dataclass(frozen=True)
class LeaseState:
    """A cluster's lease: ``holder`` None once released; ``epoch`` the highest ever granted."""

    cluster: str
    holder: str | None
    epoch: int
    expires_at: float

    def active(self, now: float) -> bool:
        return self.holder is not None and now < self.expires_at

    def to_json(self, now: float) -> dict[str, object]:
        return {
            "cluster": self.cluster,
            "holder": self.holder if self.active(now) else None,
            "last_holder": self.holder,
            "epoch": self.epoch,
            "expires_in": round(max(0.0, self.expires_at - now), 3),
        }


@dataclass(frozen=True)
class Decision:
    """The answer to a request: granted or not, why, and the lease as it is now."""

    granted: bool
    reason: str  # acquired | renewed | released | held | stale-epoch | not-holder
    state: LeaseState | None


class LeaseTable:
    """Leases by cluster. ``path`` None keeps them in memory only (lost on restart)."""

    def __init__(self, path: Path | None = None, clock: Callable[[], float] = time.time) -> None:
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path) if path else ":memory:", isolation_level=None, check_same_thread=False)
        if path is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._clock = clock
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def now(self) -> float:
        return self._clock()

    def get(self, cluster: str) -> LeaseState | None:
        with self._lock:
            row = self._db.execute(
                "SELECT cluster, holder, epoch, expires_at FROM lease WHERE cluster = ?", (cluster,)
            ).fetchone()
        return LeaseState(*row) if row else None

    def all(self) -> list[LeaseState]:
        with self._lock:
            rows = self._db.execute("SELECT cluster, holder, epoch, expires_at FROM lease ORDER BY cluster").fetchall()
        return [LeaseState(*row) for row in rows]

    def request(self, cluster: str, holder: str, epoch: int, ttl: float) -> Decision:
        """Acquire or renew ``cluster``'s lease for ``holder`` at ``epoch`` for ``ttl`` seconds."""
        with self._lock:
            now = self._clock()
            current = self._get_locked(cluster)
            if current is not None and epoch < current.epoch:
                return Decision(False, "stale-epoch", current)
            if current is not None and current.active(now) and current.holder != holder:
                return Decision(False, "held", current)
            renewal = current is not None and current.active(now) and current.holder == holder
            state = LeaseState(cluster, holder, epoch, now + ttl)
            self._put_locked(state)
        if not renewal or (current is not None and current.epoch != epoch):
            previous = f"{current.holder}@{current.epoch}" if current and current.holder else "none"
            log_to(
                logger, "lease-acquired", logging.WARNING, cluster=cluster, holder=holder, epoch=epoch, ttl=ttl,
                previous=previous,
            )  # fmt: skip
        return Decision(True, "renewed" if renewal else "acquired", state)

    def release(self, cluster: str, holder: str) -> Decision:
        """End ``holder``'s lease now (the recorded epoch stays)."""
        with self._lock:
            now = self._clock()
            current = self._get_locked(cluster)
            if current is None or current.holder != holder or not current.active(now):
                return Decision(False, "not-holder", current)
            state = LeaseState(cluster, None, current.epoch, now)
            self._put_locked(state)
        log_to(logger, "lease-released", logging.WARNING, cluster=cluster, holder=holder, epoch=current.epoch)
        return Decision(True, "released", state)

    def _get_locked(self, cluster: str) -> LeaseState | None:
        row = self._db.execute(
            "SELECT cluster, holder, epoch, expires_at FROM lease WHERE cluster = ?", (cluster,)
        ).fetchone()
        return LeaseState(*row) if row else None

    def _put_locked(self, state: LeaseState) -> None:
        self._db.execute(
            "INSERT INTO lease (cluster, holder, epoch, expires_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (cluster) DO UPDATE SET holder = excluded.holder, epoch = excluded.epoch, "
            "expires_at = excluded.expires_at",
            (state.cluster, state.holder, state.epoch, state.expires_at),
        )
