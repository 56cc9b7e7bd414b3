"""Stored notifications: SQLite (WAL, ``synchronous=FULL``) or in memory.

Each notification is the JSON object a sender posted plus ``received_at`` (epoch seconds, the
sink's clock, strictly increasing) and ``seq``. A notification whose ``id`` was stored before is
not stored again (a sender's retry after a lost answer): :meth:`Store.add` returns the first copy.
One connection, used from the event loop's thread only.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS notifications (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE,
    received_at REAL NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS notifications_by_time ON notifications(received_at);
"""


class Store:
    def __init__(self, path: Path | None) -> None:
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(":memory:" if path is None else path, isolation_level=None, check_same_thread=False)
        if path is not None:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)
        (latest,) = self.db.execute("SELECT max(received_at) FROM notifications").fetchone()
        self._last = float(latest or 0.0)

    def close(self) -> None:
        self.db.close()

    def _now(self) -> float:
        now = max(time.time(), self._last + 1e-6)  # strictly increasing: ?since= never misses one
        self._last = now
        return now

    def add(self, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Store ``body``; returns (the stored notification, True) or (the earlier copy, False)."""
        identifier = body.get("id")
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            if isinstance(identifier, str):
                row = self.db.execute(
                    "SELECT seq, received_at, body FROM notifications WHERE id = ?", (identifier,)
                ).fetchone()
                if row is not None:
                    return {**json.loads(row[2]), "seq": row[0], "received_at": row[1]}, False
            received = self._now()
            cursor = self.db.execute(
                "INSERT INTO notifications (id, received_at, body) VALUES (?, ?, ?)",
                (identifier if isinstance(identifier, str) else None, received, json.dumps(body, ensure_ascii=False)),
            )
        return {**body, "seq": cursor.lastrowid, "received_at": received}, True

    def since(self, since: float, event: str | None = None, source: str | None = None) -> list[dict[str, Any]]:
        """Notifications received strictly after ``since``, oldest first, optionally filtered."""
        rows = self.db.execute(
            "SELECT seq, received_at, body FROM notifications WHERE received_at > ? ORDER BY seq", (since,)
        )
        found = []
        for seq, received, body in rows:
            item = {**json.loads(body), "seq": seq, "received_at": received}
            if (event is None or item.get("event") == event) and (source is None or item.get("source") == source):
                found.append(item)
        return found

    def count(self) -> int:
        (n,) = self.db.execute("SELECT count(*) FROM notifications").fetchone()
        return int(n)
