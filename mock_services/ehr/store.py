"""Durable storage of one EHR instance: a replication log that *is* the data, in SQLite.

Tables (the schema is part of the contract: a checker may open a stopped or frozen
instance's file read-only to see what it really holds):

* ``meta(key, value)`` -- ``epoch`` (the replication term, starts at 1 in a fresh file).
* ``log(lsn INTEGER PRIMARY KEY, epoch, resource_type, resource_id, version_id,
  last_updated, body)`` -- one row per write, ``lsn`` contiguous from 1, ``body`` the
  resource's JSON text exactly as served. The current version of a resource is its row with
  the highest lsn; there is no separate resource table, so replicating the log replicates
  the data.
* ``identifier(resource_type, resource_id, system, value)`` -- the search index over each
  resource's current ``identifier[]`` (``system`` is ``''`` when absent).

Durability: WAL mode, and every method that changes data commits before it returns, so a
caller may acknowledge as soon as it returns. ``synchronous=NORMAL`` is enough for the
failure we simulate (the process is SIGKILLed: committed WAL frames are in the OS page cache
and survive); it would not survive a kernel crash, which the harness does not cause.

Thread-safety: one connection guarded by a lock. The service calls it from the event loop
(each call is sub-millisecond), tests may call it from other threads.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS log (
    lsn INTEGER PRIMARY KEY,
    epoch INTEGER NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    version_id TEXT NOT NULL,
    last_updated TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS log_resource ON log (resource_type, resource_id, lsn);
CREATE TABLE IF NOT EXISTS identifier (
    resource_type TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    system TEXT NOT NULL,
    value TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS identifier_value ON identifier (resource_type, value, system);
CREATE INDEX IF NOT EXISTS identifier_resource ON identifier (resource_type, resource_id);
"""

_COLUMNS = "lsn, epoch, resource_type, resource_id, version_id, last_updated, body"


@dataclass(frozen=True)
class LogEntry:
    """One write: the unit of replication. ``body`` is the resource's JSON text."""

    lsn: int
    epoch: int
    resource_type: str
    resource_id: str
    version_id: str
    last_updated: str
    body: str


@dataclass(frozen=True)
class TokenMatch:
    """One FHIR token to match against ``identifier``; ``None`` means "any"."""

    system: str | None
    value: str | None


class StoreError(Exception):
    """The caller asked for something the log cannot do (e.g. a gap in replicated lsns)."""


def _identifiers(body: str) -> list[tuple[str, str]]:
    """(system, value) pairs of a resource's ``identifier[]``; malformed items are skipped.

    The FHIR layer validates what clients send; replicated bodies were validated by the
    primary, so skipping (rather than failing) only protects the index from odd data.
    """
    resource = json.loads(body)
    found: list[tuple[str, str]] = []
    items = resource.get("identifier") if isinstance(resource, dict) else None
    if isinstance(items, list):
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("value"), str):
                system = item.get("system")
                found.append((system if isinstance(system, str) else "", item["value"]))
    return found


class Store:
    """The SQLite file of one instance. Open with :meth:`open`; close with :meth:`close`."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._lock = threading.RLock()
        self._epoch = self._scalar("SELECT value FROM meta WHERE key = 'epoch'") or 1
        self._lsn = self._scalar("SELECT MAX(lsn) FROM log") or 0

    @classmethod
    def open(cls, path: Path) -> Store:
        """Open (creating if needed) the database at ``path``; a fresh file gets epoch 1."""
        path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, so a commit happens exactly
        # where the code says, not whenever the sqlite3 module decides.
        db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=5.0)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(_SCHEMA)
        db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('epoch', '1')")
        return cls(db)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- reads ---------------------------------------------------------------------------

    @property
    def epoch(self) -> int:
        """The persisted replication term."""
        return self._epoch

    @property
    def last_lsn(self) -> int:
        """The highest lsn in the log (0 when empty)."""
        return self._lsn

    def epoch_at(self, lsn: int) -> int | None:
        """The epoch of the entry at ``lsn``; 0 for lsn 0 (the empty prefix); None if absent."""
        if lsn == 0:
            return 0
        return self._scalar("SELECT epoch FROM log WHERE lsn = ?", (lsn,))

    def entries_after(self, lsn: int, limit: int) -> list[LogEntry]:
        """Up to ``limit`` entries with lsn > ``lsn``, in lsn order."""
        return self._entries(f"SELECT {_COLUMNS} FROM log WHERE lsn > ? ORDER BY lsn LIMIT ?", (lsn, limit))

    def read(self, resource_type: str, resource_id: str, version_id: str | None = None) -> LogEntry | None:
        """The current version of a resource, or the given version; None if there is none."""
        where = f"SELECT {_COLUMNS} FROM log WHERE resource_type = ? AND resource_id = ?"
        if version_id is None:
            found = self._entries(f"{where} ORDER BY lsn DESC LIMIT 1", (resource_type, resource_id))
        else:
            found = self._entries(f"{where} AND version_id = ?", (resource_type, resource_id, version_id))
        return found[0] if found else None

    def search(
        self,
        resource_type: str,
        *,
        identifier_all_of: Sequence[Sequence[TokenMatch]] = (),
        ids: Sequence[str] | None = None,
        limit: int,
    ) -> tuple[int, list[LogEntry]]:
        """Current versions matching every filter: (total matches, first ``limit`` in lsn order).

        ``identifier_all_of`` is a conjunction of disjunctions: each inner sequence is one
        ``identifier=`` parameter whose comma-separated tokens are OR-ed (FHIR semantics).
        """
        # Each filter is one SELECT of matching resource ids; their INTERSECT is the answer.
        selects: list[tuple[str, list[object]]] = []
        for any_of in identifier_all_of:
            ors: list[str] = []
            params: list[object] = [resource_type]
            for token in any_of:
                conditions = ["1"]
                if token.system is not None:
                    conditions.append("system = ?")
                    params.append(token.system)
                if token.value is not None:
                    conditions.append("value = ?")
                    params.append(token.value)
                ors.append("(" + " AND ".join(conditions) + ")")
            where = " OR ".join(ors) or "0"
            selects.append((f"SELECT resource_id FROM identifier WHERE resource_type = ? AND ({where})", params))
        if ids is not None:
            marks = ",".join("?" * len(ids)) or "NULL"
            sql = f"SELECT resource_id FROM log WHERE resource_type = ? AND resource_id IN ({marks})"
            selects.append((sql, [resource_type, *ids]))
        if not selects:
            selects.append(("SELECT resource_id FROM log WHERE resource_type = ?", [resource_type]))
        matching = " INTERSECT ".join(sql for sql, _ in selects)
        all_params = tuple(param for _, params in selects for param in params)
        total = self._scalar(f"SELECT COUNT(*) FROM ({matching})", all_params) or 0
        sql = (
            f"SELECT {_COLUMNS} FROM log WHERE lsn IN (SELECT MAX(lsn) FROM log WHERE resource_type = ? "
            f"AND resource_id IN ({matching}) GROUP BY resource_id) ORDER BY lsn LIMIT ?"
        )
        return total, self._entries(sql, (resource_type, *all_params, limit))

    # -- writes (each commits before returning) --------------------------------------------

    def set_epoch(self, epoch: int) -> None:
        """Persist a new epoch. Epochs never go down: a lower value is a caller bug."""
        if epoch < self._epoch:
            raise StoreError(f"epoch must not decrease ({self._epoch} -> {epoch})")
        with self._transaction() as db:
            db.execute("UPDATE meta SET value = ? WHERE key = 'epoch'", (str(epoch),))
        self._epoch = epoch

    def append(self, resource_type: str, resource_id: str, version_id: str, last_updated: str, body: str) -> LogEntry:
        """Append a local write at lsn = last + 1 in the current epoch; committed on return."""
        with self._lock:
            entry = LogEntry(self._lsn + 1, self._epoch, resource_type, resource_id, version_id, last_updated, body)
            with self._transaction() as db:
                self._insert(db, entry)
            self._lsn = entry.lsn
            return entry

    def apply(self, entries: Sequence[LogEntry]) -> None:
        """Append replicated entries, which must continue the log contiguously (lsn last+1...)."""
        with self._lock:
            for offset, entry in enumerate(entries):
                if entry.lsn != self._lsn + 1 + offset:
                    raise StoreError(f"entry lsn {entry.lsn} does not follow lsn {self._lsn + offset}")
            if not entries:
                return
            with self._transaction() as db:
                for entry in entries:
                    self._insert(db, entry)
            self._lsn = entries[-1].lsn

    def replace_log(self, entries: Sequence[LogEntry], epoch: int) -> list[LogEntry]:
        """Replace the whole log with ``entries`` (lsn 1..n) in ONE transaction; return discarded.

        Discarded = local entries not identical (same lsn, epoch, resource, version and body)
        to the incoming entry at their lsn: writes this instance held that the new log does
        not -- lost on purpose (see the package docs). Whole entries are compared, not just
        (lsn, epoch), because two primaries that tied at the same epoch wrote different
        entries under the same (lsn, epoch). A crash part-way leaves the old log intact, so a
        resync can simply be retried.
        """
        for position, entry in enumerate(entries, start=1):
            if entry.lsn != position:
                raise StoreError(f"resync log is not contiguous from 1: position {position} has lsn {entry.lsn}")
        with self._lock:
            local = self._entries(f"SELECT {_COLUMNS} FROM log ORDER BY lsn", ())
            # entries[lsn - 1] is the incoming entry at lsn (contiguity checked above).
            discarded = [e for e in local if e.lsn > len(entries) or entries[e.lsn - 1] != e]
            new_epoch = max(self._epoch, epoch)
            with self._transaction() as db:
                db.execute("DELETE FROM log")
                db.execute("DELETE FROM identifier")
                for entry in entries:
                    self._insert(db, entry)
                db.execute("UPDATE meta SET value = ? WHERE key = 'epoch'", (str(new_epoch),))
            self._lsn = entries[-1].lsn if entries else 0
            self._epoch = new_epoch
            return discarded

    # -- internals -----------------------------------------------------------------------

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            # IMMEDIATE takes the write lock up front, so a transaction never fails half-way
            # on a lock upgrade.
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @staticmethod
    def _insert(db: sqlite3.Connection, entry: LogEntry) -> None:
        db.execute(
            f"INSERT INTO log ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                entry.lsn,
                entry.epoch,
                entry.resource_type,
                entry.resource_id,
                entry.version_id,
                entry.last_updated,
                entry.body,
            ),
        )
        # The index describes the current version only: replace what the previous one had.
        db.execute(
            "DELETE FROM identifier WHERE resource_type = ? AND resource_id = ?",
            (entry.resource_type, entry.resource_id),
        )
        db.executemany(
            "INSERT INTO identifier (resource_type, resource_id, system, value) VALUES (?, ?, ?, ?)",
            [(entry.resource_type, entry.resource_id, system, value) for system, value in _identifiers(entry.body)],
        )

    def _scalar(self, sql: str, params: tuple[object, ...] = ()) -> int | None:
        """The first column of the first row as an int (the meta table stores text), or None."""
        with self._lock:
            row = self._db.execute(sql, params).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def _entries(self, sql: str, params: tuple[object, ...]) -> list[LogEntry]:
        with self._lock:
            rows = self._db.execute(sql, params).fetchall()
        return [LogEntry(int(r[0]), int(r[1]), r[2], r[3], r[4], r[5], r[6]) for r in rows]
