"""The SQLite store of one EHR instance: the replicated log, current resources, search indexes.

Tables:

* ``log`` -- every write (lsn, epoch, type, id, version, lastUpdated, body): the unit of
  replication (see the package docstring). Never holds the base snapshot.
* ``resource`` -- the current version of every resource, keyed by a stable ``rid`` (kept
  across versions, so search order and paging follow creation order). ``lsn`` 0 marks a
  version from the *base snapshot* (the synthetic data loaded at start-up, identical on both
  instances and never shipped); otherwise the version is the log entry at ``lsn``.
* ``base_version`` -- base versions that a logged update superseded (for vread, and to
  rewind a resync to the base).
* ``idx_*`` -- search indexes of current versions (:mod:`.index`).
* ``discarded`` -- log entries a resync threw away (writes this instance held that the new
  primary's log does not): kept forever, so a checker can name lost writes after the fact.
* ``meta`` -- ``epoch`` and ``base`` (the base snapshot's descriptor).

Durability: WAL, ``synchronous=NORMAL``; every write method commits before it returns, in ONE
transaction (a SIGKILLed process leaves the file as of its last commit). Committed WAL frames
are in the OS page cache and survive the process; not a kernel crash, which the harness does
not cause.

Reads of current versions go through an LRU cache of :data:`CACHE_SIZE` entries, kept
coherent because every change of a current version passes through one method
(``_set_current``), which evicts the key, under the store's lock.

Memory (what a soak sees): a write costs none -- the log, the resources and the indexes are in
the file, and SQLite's page cache is bounded (its default, 2 000 KiB per connection). Measured:
20 000 appends of 306-byte Patients, +0.4 bytes of RSS per write. What grows is the read cache:
~1 KB per cached version (1.05 KB of RSS measured with 306-byte bodies: the body, the entry and
its strings), at most :data:`CACHE_SIZE` of them, ~8 MB when full. It fills as *distinct*
resources are read: under the flagship's load (the probe reads back the patients it created,
the personas read charts) a primary grows ~3 MB in 10 minutes and stops at CACHE_SIZE distinct
resources; a standby serves no reads and stays flat.

Thread-safety: one connection guarded by a lock. The service calls it from the event loop
(reads and writes are sub-millisecond), tests may call it from other threads.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from mock_services.ehr.current import set_current
from mock_services.ehr.index import SCHEMA as INDEX_SCHEMA
from mock_services.ehr.index import Criterion, IndexRows, TokenMatch, where_clause
from mock_services.ehr.logentry import LogEntry
from mock_services.ehr.resources import RESOURCE_TYPES, compact_json

__all__ = ["DiscardedEntry", "LogEntry", "SearchPage", "Store", "StoreError", "TokenMatch"]

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
CREATE TABLE IF NOT EXISTS resource (
    rid INTEGER PRIMARY KEY,
    resource_type TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    lsn INTEGER NOT NULL,
    epoch INTEGER NOT NULL,
    version_id TEXT NOT NULL,
    last_updated TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS resource_key ON resource (resource_type, resource_id);
CREATE INDEX IF NOT EXISTS resource_by_type ON resource (resource_type);
CREATE TABLE IF NOT EXISTS base_version (
    resource_type TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    version_id TEXT NOT NULL,
    last_updated TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (resource_type, resource_id)
);
CREATE TABLE IF NOT EXISTS discarded (
    lsn INTEGER NOT NULL,
    epoch INTEGER NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    version_id TEXT NOT NULL,
    last_updated TEXT NOT NULL,
    discarded_at TEXT NOT NULL,
    new_epoch INTEGER NOT NULL
);
"""

_COLUMNS = "lsn, epoch, resource_type, resource_id, version_id, last_updated, body"
_RESOURCE_COLUMNS = "r.lsn, r.epoch, r.resource_type, r.resource_id, r.version_id, r.last_updated, r.body"
LOAD_BATCH = 2000  # resources per executemany during a base load
CACHE_SIZE = 8192  # current versions kept in memory for reads (~1 KB each)


@dataclass(frozen=True)
class SearchPage:
    """Current versions matching a search: ``total`` matches, ``entries`` in rid order,
    ``next_after`` the cursor for the next page (None when this page is the last)."""

    total: int
    entries: list[LogEntry]
    next_after: int | None


@dataclass(frozen=True)
class DiscardedEntry:
    """A log entry that a resync discarded: an acknowledged-or-not write that is now lost."""

    lsn: int
    epoch: int
    resource_type: str
    resource_id: str
    version_id: str
    last_updated: str
    discarded_at: str
    new_epoch: int

    def to_json(self) -> dict[str, object]:
        return dict(self.__dict__)


class StoreError(Exception):
    """The caller asked for something the store cannot do (e.g. a gap in replicated lsns)."""


class Store:
    """The SQLite file of one instance. Open with :meth:`open`; close with :meth:`close`."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._lock = threading.RLock()
        self._epoch = self._scalar("SELECT value FROM meta WHERE key = 'epoch'") or 1
        self._lsn = self._scalar("SELECT MAX(lsn) FROM log") or 0
        self._next_rid = (self._scalar("SELECT MAX(rid) FROM resource") or 0) + 1
        self._discarded_total = self._scalar("SELECT COUNT(*) FROM discarded") or 0
        # Current versions by (type, id), least recently read first. Every change of a current
        # version goes through _set_current, which evicts the key (replace_log clears all).
        self._cache: OrderedDict[tuple[str, str], LogEntry] = OrderedDict()
        row = db.execute("SELECT value FROM meta WHERE key = 'base'").fetchone()
        self._base: str | None = row[0] if row else None

    @classmethod
    def open(cls, path: Path) -> Store:
        """Open (creating if needed) the database at ``path``; a fresh file gets epoch 1."""
        path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, so a commit happens exactly
        # where the code says, not whenever the sqlite3 module decides.
        db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=5.0)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(_SCHEMA + INDEX_SCHEMA)
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

    @property
    def base(self) -> str | None:
        """The loaded base snapshot's descriptor (see :mod:`.baseload`), None if none."""
        return self._base

    @property
    def discarded_total(self) -> int:
        return self._discarded_total

    def epoch_at(self, lsn: int) -> int | None:
        """The epoch of the entry at ``lsn``; 0 for lsn 0 (the empty prefix); None if absent."""
        if lsn == 0:
            return 0
        return self._scalar("SELECT epoch FROM log WHERE lsn = ?", (lsn,))

    def entries_after(self, lsn: int, limit: int) -> list[LogEntry]:
        """Up to ``limit`` log entries with lsn > ``lsn``, in lsn order."""
        return self._entries(f"SELECT {_COLUMNS} FROM log WHERE lsn > ? ORDER BY lsn LIMIT ?", (lsn, limit))

    def read(self, resource_type: str, resource_id: str, version_id: str | None = None) -> LogEntry | None:
        """The current version of a resource, or the given version; None if there is none."""
        key = (resource_type, resource_id)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
            else:
                found = self._entries(
                    f"SELECT {_RESOURCE_COLUMNS} FROM resource r WHERE r.resource_type = ? AND r.resource_id = ?", key
                )
                if found:
                    cached = self._cache[key] = found[0]
                    if len(self._cache) > CACHE_SIZE:
                        self._cache.popitem(last=False)
        current = [cached] if cached is not None else []
        if version_id is None or (current and current[0].version_id == version_id):
            return current[0] if current else None
        logged = self._entries(
            f"SELECT {_COLUMNS} FROM log WHERE resource_type = ? AND resource_id = ? AND version_id = ? "
            "ORDER BY lsn DESC LIMIT 1",
            (resource_type, resource_id, version_id),
        )
        if logged:
            return logged[0]
        return next(
            iter(
                self._entries(
                    "SELECT 0, 0, resource_type, resource_id, version_id, last_updated, body FROM base_version "
                    "WHERE resource_type = ? AND resource_id = ? AND version_id = ?",
                    (resource_type, resource_id, version_id),
                )
            ),
            None,
        )

    def search(
        self, resource_type: str, criteria: Sequence[Criterion] = (), *, limit: int, after: int = 0
    ) -> SearchPage:
        """Current versions of ``resource_type`` matching every criterion, in rid order.

        ``after`` is a cursor from a previous page's ``next_after`` (0 = from the start).
        ``total`` counts every match, independent of the cursor.
        """
        where, params = where_clause(resource_type, criteria)
        with self._lock:
            total = self._scalar(f"SELECT COUNT(*) FROM resource r WHERE {where}", tuple(params)) or 0
            rows = self._db.execute(
                f"SELECT r.rid, {_RESOURCE_COLUMNS} FROM resource r WHERE {where} AND r.rid > ? ORDER BY r.rid LIMIT ?",
                (*params, after, limit + 1),
            ).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        entries = [LogEntry(int(r[1]), int(r[2]), r[3], r[4], r[5], r[6], r[7]) for r in rows]
        return SearchPage(total, entries, int(rows[-1][0]) if more and rows else None)

    def count(self, resource_type: str, criteria: Sequence[Criterion]) -> int:
        where, params = where_clause(resource_type, criteria)
        return self._scalar(f"SELECT COUNT(*) FROM resource r WHERE {where}", tuple(params)) or 0

    def discarded(self, after: int = 0, limit: int = 1000) -> list[DiscardedEntry]:
        """Discarded entries in the order they were discarded (``after``: skip that many)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT lsn, epoch, resource_type, resource_id, version_id, last_updated, discarded_at, new_epoch "
                "FROM discarded ORDER BY rowid LIMIT ? OFFSET ?",
                (limit, after),
            ).fetchall()
        return [DiscardedEntry(*row) for row in rows]

    def resource_count(self) -> int:
        return self._scalar("SELECT COUNT(*) FROM resource") or 0

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
                self._insert_log(db, entry)
                self._set_current(db, resource_type, resource_id, entry)
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
                    self._insert_log(db, entry)
                    self._set_current(db, entry.resource_type, entry.resource_id, entry)
            self._lsn = entries[-1].lsn

    def replace_log(self, entries: Sequence[LogEntry], epoch: int) -> list[LogEntry]:
        """Replace the whole log with ``entries`` (lsn 1..n) in ONE transaction; return discarded.

        Discarded = local entries not identical (same lsn, epoch, resource, version and body)
        to the incoming entry at their lsn: writes this instance held that the new log does
        not -- lost on purpose (see the package docs), and recorded in ``discarded``. Whole
        entries are compared, not just (lsn, epoch), because two primaries that tied at the
        same epoch wrote different entries under the same (lsn, epoch). Resources touched by
        the differing tails are rewound to their base version (or removed) and set to their
        latest version in the new log. A crash part-way leaves the old store intact, so a
        resync can simply be retried. The base snapshot is never touched.
        """
        for position, entry in enumerate(entries, start=1):
            if entry.lsn != position:
                raise StoreError(f"resync log is not contiguous from 1: position {position} has lsn {entry.lsn}")
        with self._lock:
            local = self._entries(f"SELECT {_COLUMNS} FROM log ORDER BY lsn", ())
            # entries[lsn - 1] is the incoming entry at lsn (contiguity checked above).
            discarded = [e for e in local if e.lsn > len(entries) or entries[e.lsn - 1] != e]
            common = discarded[0].lsn - 1 if discarded else len(local)
            touched = {(e.resource_type, e.resource_id) for e in local[common:]}
            touched |= {(e.resource_type, e.resource_id) for e in entries[common:]}
            latest = {
                (e.resource_type, e.resource_id): e for e in entries if (e.resource_type, e.resource_id) in touched
            }
            new_epoch = max(self._epoch, epoch)
            now = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
            self._cache.clear()
            with self._transaction() as db:
                db.execute("DELETE FROM log WHERE lsn > ?", (common,))
                for entry in entries[common:]:
                    self._insert_log(db, entry)
                # Removals first, then in lsn order: rids follow the new log's order.
                for key in sorted(touched, key=lambda k: latest[k].lsn if k in latest else 0):
                    self._set_current(db, key[0], key[1], latest.get(key))
                db.executemany(
                    "INSERT INTO discarded (lsn, epoch, resource_type, resource_id, version_id, last_updated, "
                    "discarded_at, new_epoch) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (e.lsn, e.epoch, e.resource_type, e.resource_id, e.version_id, e.last_updated, now, new_epoch)
                        for e in discarded
                    ],
                )
                db.execute("UPDATE meta SET value = ? WHERE key = 'epoch'", (str(new_epoch),))
            self._lsn = entries[-1].lsn if entries else 0
            self._epoch = new_epoch
            self._discarded_total += len(discarded)
            return discarded

    def load_base(
        self,
        descriptor: str,
        resources: Iterable[dict[str, object]],
        *,
        meta: Callable[[dict[str, object]], dict[str, object]],
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Load the base snapshot in ONE transaction: every resource at lsn 0, version "1".

        ``meta(resource)`` gives the ``meta`` element to store (deterministic, so both
        instances hold byte-identical bodies). ``progress(count)`` is called after each batch.
        Raises :class:`StoreError` if the store already holds resources or a resource is not
        of a supported type or lacks an id; nothing is loaded then.
        """
        with self._lock:
            if self._base is not None or self._scalar("SELECT 1 FROM resource LIMIT 1"):
                raise StoreError("the store already holds resources: a base snapshot goes into an empty store")
            count = 0
            rid = self._next_rid
            batch: list[tuple[object, ...]] = []
            rows = IndexRows()
            # A bigger page cache for the bulk insert (negative = KiB); restored afterwards.
            self._db.execute("PRAGMA cache_size = -32768")
            try:
                with self._transaction() as db:
                    for resource in resources:
                        resource_type = RESOURCE_TYPES.get(str(resource.get("resourceType")))
                        resource_id = resource.get("id")
                        if resource_type is None or not isinstance(resource_id, str):
                            raise StoreError(
                                f"base resource #{count + 1} has no supported resourceType or no id: "
                                f"{str(resource)[:120]}"
                            )
                        stored_meta = meta(resource)
                        body = compact_json({**resource, "meta": stored_meta})
                        batch.append(
                            (
                                rid,
                                resource_type.name,
                                resource_id,
                                0,
                                0,
                                stored_meta["versionId"],
                                stored_meta["lastUpdated"],
                                body,
                            )
                        )
                        rows.add(resource_type, resource, rid)
                        rid += 1
                        count += 1
                        if len(batch) >= LOAD_BATCH:
                            self._flush_base(db, batch, rows)
                            if progress is not None:
                                progress(count)
                    self._flush_base(db, batch, rows)
                    db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('base', ?)", (descriptor,))
            finally:
                self._db.execute("PRAGMA cache_size = -2000")
            # The load went through the WAL; fold it into the main file so the WAL is small again.
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._next_rid = rid
            self._base = descriptor
            return count

    # -- internals -----------------------------------------------------------------------

    @staticmethod
    def _flush_base(db: sqlite3.Connection, batch: list[tuple[object, ...]], rows: IndexRows) -> None:
        db.executemany(
            "INSERT INTO resource (rid, resource_type, resource_id, lsn, epoch, version_id, last_updated, body) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            batch,
        )
        batch.clear()
        rows.insert(db)

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
    def _insert_log(db: sqlite3.Connection, entry: LogEntry) -> None:
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

    def _set_current(
        self, db: sqlite3.Connection, resource_type: str, resource_id: str, entry: LogEntry | None
    ) -> None:
        """See :func:`.current.set_current`; also evicts the resource from the read cache."""
        self._cache.pop((resource_type, resource_id), None)
        set_current(db, resource_type, resource_id, entry, self._allocate_rid)

    def _allocate_rid(self) -> int:
        rid = self._next_rid
        self._next_rid += 1
        return rid

    def _scalar(self, sql: str, params: tuple[object, ...] = ()) -> int | None:
        """The first column of the first row as an int (the meta table stores text), or None."""
        with self._lock:
            row = self._db.execute(sql, params).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def _entries(self, sql: str, params: tuple[object, ...]) -> list[LogEntry]:
        with self._lock:
            rows = self._db.execute(sql, params).fetchall()
        return [LogEntry(int(r[0]), int(r[1]), r[2], r[3], r[4], r[5], r[6]) for r in rows]
