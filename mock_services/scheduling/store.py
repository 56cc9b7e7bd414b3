"""The schedules' SQLite store: one row per schedule, optimistic concurrency by version.

Durability: WAL journal with ``synchronous=FULL``, and every write is one transaction that is
committed before the HTTP answer is sent -- an acknowledged change survives SIGKILL (and power
loss), and a crash mid-write leaves the previous version intact (SQLite's atomic commit).

Times: ``last_modified`` is stored as UTC ISO 8601 with microseconds and ``Z``
(``2024-08-03T07:00:00.000000Z``), a fixed-width form whose string order is time order, so
"modified after T" is an indexed string comparison. Each write's time is strictly after the
previous write's (bumped by 1 µs if the clock did not move or went back), so a client that
polls ``changes(since=<the until it was given>)`` never misses or repeats a change.

One connection, used from the event loop's thread only: queries are small (indexed, one
schedule at a time) and writes are rare, so serialising them is both simplest and correct.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS schedules (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    unit TEXT NOT NULL,
    date TEXT NOT NULL,
    version INTEGER NOT NULL,
    last_modified TEXT NOT NULL,
    slots TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS schedules_by_time ON schedules(last_modified);
CREATE INDEX IF NOT EXISTS schedules_by_unit ON schedules(kind, unit, date);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


class NotFound(Exception):
    pass


class VersionMismatch(Exception):
    def __init__(self, current: int) -> None:
        super().__init__(f"current version is {current}")
        self.current = current


def format_time(moment: datetime) -> str:
    """An aware datetime in the stored form (UTC, microseconds, ``Z``)."""
    return moment.astimezone(UTC).strftime(TIME_FORMAT)


def parse_time(text: str) -> datetime:
    """ISO 8601 (``Z``, an offset, or none = UTC) -> aware UTC datetime; ValueError if invalid,
    or if UTC cannot hold it (``0001-01-01T00:00:00+01:00`` is in year 0 in UTC)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    try:
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{text!r} is outside the years 1-9999 once in UTC") from None


@dataclass(frozen=True)
class Schedule:
    id: str
    kind: str
    unit: str
    date: str
    version: int
    last_modified: str
    slots: list[dict[str, Any]]

    def summary(self) -> dict[str, Any]:
        """Everything but the slots (with their count): a list entry."""
        return {
            "id": self.id,
            "kind": self.kind,
            "unit": self.unit,
            "date": self.date,
            "version": self.version,
            "last_modified": self.last_modified,
            "slot_count": len(self.slots),
        }

    def document(self) -> dict[str, Any]:
        return {**self.summary(), "slots": self.slots}


_COLUMNS = "id, kind, unit, date, version, last_modified, slots"


def _row(row: tuple[Any, ...]) -> Schedule:
    return Schedule(row[0], row[1], row[2], row[3], row[4], row[5], json.loads(row[6]))


class Store:
    """See the module docstring. Not thread-safe: one caller thread."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.db = connection
        self._last_write = self._max_time()

    @classmethod
    def open(cls, path: Path) -> Store:
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        connection.executescript(SCHEMA)
        return cls(connection)

    def close(self) -> None:
        self.db.close()

    def _max_time(self) -> datetime | None:
        (latest,) = self.db.execute("SELECT max(last_modified) FROM schedules").fetchone()
        return parse_time(latest) if latest else None

    def _write_time(self) -> str:
        now = datetime.now(UTC)
        if self._last_write is not None and now <= self._last_write:
            now = self._last_write + timedelta(microseconds=1)
        self._last_write = now
        return format_time(now)

    def count(self) -> int:
        (n,) = self.db.execute("SELECT count(*) FROM schedules").fetchone()
        return int(n)

    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def load(self, schedules: Iterable[dict[str, Any]], meta: dict[str, str]) -> int:
        """Insert generated schedules (times normalised) and ``meta`` in ONE transaction, so a
        crash during loading leaves an empty store that the next start loads again."""
        count = 0
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            for s in schedules:
                self.db.execute(
                    f"INSERT INTO schedules ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (s["id"], s["kind"], s["unit"], s["date"], s["version"],
                     format_time(parse_time(s["last_modified"])), json.dumps(s["slots"], ensure_ascii=False)),
                )  # fmt: skip
                count += 1
            self.db.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", meta.items())
        self._last_write = self._max_time()
        return count

    def find(self, kind: str | None = None, unit: str | None = None, date: str | None = None) -> list[Schedule]:
        """Schedules matching every given filter, by date, kind, unit."""
        clauses, args = [], []
        for column, value in (("kind", kind), ("unit", unit), ("date", date)):
            if value is not None:
                clauses.append(f"{column} = ?")
                args.append(value)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self.db.execute(f"SELECT {_COLUMNS} FROM schedules {where} ORDER BY date, kind, unit", args)
        return [_row(r) for r in rows]

    def get(self, schedule_id: str) -> Schedule:
        row = self.db.execute(f"SELECT {_COLUMNS} FROM schedules WHERE id = ?", (schedule_id,)).fetchone()
        if row is None:
            raise NotFound(schedule_id)
        return _row(row)

    def changed_since(self, since: datetime) -> list[Schedule]:
        """Schedules whose last_modified is strictly after ``since``, oldest change first."""
        rows = self.db.execute(
            f"SELECT {_COLUMNS} FROM schedules WHERE last_modified > ? ORDER BY last_modified", (format_time(since),)
        )
        return [_row(r) for r in rows]

    def latest_write(self) -> str | None:
        """The last write's time (stored form), None for a store never written."""
        return None if self._last_write is None else format_time(self._last_write)

    def update_slots(self, schedule_id: str, slots: list[dict[str, Any]], expected_version: int | None) -> Schedule:
        """Replace the slots (version + 1, last_modified now) if the version is still
        ``expected_version`` (None = any). Raises NotFound / VersionMismatch; atomic."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            current = self.get(schedule_id)
            if expected_version is not None and current.version != expected_version:
                raise VersionMismatch(current.version)
            updated = Schedule(
                current.id, current.kind, current.unit, current.date, current.version + 1, self._write_time(), slots
            )
            self.db.execute(
                "UPDATE schedules SET version = ?, last_modified = ?, slots = ? WHERE id = ?",
                (updated.version, updated.last_modified, json.dumps(slots, ensure_ascii=False), schedule_id),
            )
        return updated
