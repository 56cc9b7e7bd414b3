"""Durable storage of one imaging instance: Part 10 files on disk, indexed in SQLite (WAL).

Layout under the storage directory (part of the contract: a checker may read a stopped or
frozen instance's index read-only):

* ``index.sqlite`` -- tables ``studies``, ``series``, ``instances`` (the QIDO-RS attributes,
  the file's relative ``path``, its ``size`` -- NULL for a seed file not rendered yet --
  and its ``source``: ``seed`` | ``stow`` | ``replication``), ``outbox(seq, sop_uid,
  queued_at)`` (instances the replica has not acknowledged yet, shipped in ``seq`` order)
  and ``meta(key, value)``.
* ``studies/<StudyInstanceUID>/<SOPInstanceUID>.dcm`` -- the Part 10 files, byte for byte
  as received (UIDs are validated before they become file names).
* ``tmp/<SOPInstanceUID>.part`` -- files being written.

An index written by an older version gains the columns added since (``ALTER TABLE``, empty
values: "not known") when it is opened.

Storing a batch (:meth:`Store.store_batch`), in this order:

1. write each new file to ``tmp/<sop>.part``;
2. ONE transaction inserts the index rows (and the outbox rows) and commits;
3. rename each ``tmp`` file to its final path (atomic on one file system).

A SIGKILL at any point leaves a state that :meth:`Store.open` repairs before serving: a
``tmp`` file *with* an index row was committed (the kill fell between 2 and 3) and is
renamed into place -- rolled forward; a ``tmp`` file *without* a row was never committed and
is deleted. So the index never names a missing file once recovery has run, a file is never
served before its row commits, and a failed or interrupted store leaves no row and no file:
the archive is untouched. The client of an interrupted request got no answer; if it retries,
an identical instance is acknowledged again without a new copy (STOW is idempotent per SOP
Instance UID; different content under a stored UID is refused as a duplicate).

Durability: WAL with ``synchronous=NORMAL`` and no fsync of files -- enough for the failure
the harness simulates (SIGKILL: the OS page cache survives), not for a kernel crash.

Seed rows (the synthetic studies) are inserted without files; :meth:`Store.read_bytes`
renders a seed file on first access (:mod:`.render`, deterministic) through the same
tmp-then-rename path, then records its size.

Thread-safety: one connection guarded by a re-entrant lock; the service calls it from its
event loop, tests may call it from other threads.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from mock_services.imaging.eventlog import log_event
from mock_services.imaging.part10 import FailureReason, InstanceAttrs, is_valid_uid
from mock_services.imaging.render import render_part10

INDEX_FILE = "index.sqlite"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS studies (
    study_uid TEXT PRIMARY KEY,
    patient_id TEXT NOT NULL,
    patient_name TEXT NOT NULL,
    birth_date TEXT NOT NULL,
    sex TEXT NOT NULL,
    study_date TEXT NOT NULL,
    study_time TEXT NOT NULL,
    accession TEXT NOT NULL,
    description TEXT NOT NULL,
    referring_physician TEXT NOT NULL DEFAULT '',
    study_id TEXT NOT NULL DEFAULT '',
    timezone TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS studies_patient ON studies (patient_id);
CREATE INDEX IF NOT EXISTS studies_accession ON studies (accession);
CREATE INDEX IF NOT EXISTS studies_date ON studies (study_date);
CREATE TABLE IF NOT EXISTS series (
    series_uid TEXT PRIMARY KEY,
    study_uid TEXT NOT NULL,
    modality TEXT NOT NULL,
    series_number INTEGER,
    description TEXT NOT NULL,
    pps_start_date TEXT NOT NULL DEFAULT '',
    pps_start_time TEXT NOT NULL DEFAULT '',
    request_attributes TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS series_study ON series (study_uid);
CREATE TABLE IF NOT EXISTS instances (
    sop_uid TEXT PRIMARY KEY,
    series_uid TEXT NOT NULL,
    study_uid TEXT NOT NULL,
    sop_class_uid TEXT NOT NULL,
    transfer_syntax TEXT NOT NULL,
    instance_number INTEGER,
    n_rows INTEGER,
    n_columns INTEGER,
    bits_allocated INTEGER,
    frames INTEGER,
    path TEXT NOT NULL,
    size INTEGER,
    source TEXT NOT NULL,
    stored_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS instances_series ON instances (series_uid);
CREATE INDEX IF NOT EXISTS instances_study ON instances (study_uid);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    sop_uid TEXT NOT NULL,
    queued_at REAL NOT NULL
);
"""

# Columns added after the first release (ALTER TABLE on an older index, see Store._migrate).
_ADDED_COLUMNS = {
    "studies": ("referring_physician", "study_id", "timezone"),
    "series": ("pps_start_date", "pps_start_time", "request_attributes"),
}

# Every column a StoredInstance needs, from the three tables.
_INSTANCE_SELECT = """
SELECT i.sop_uid, i.series_uid, i.study_uid, i.sop_class_uid, i.transfer_syntax, i.instance_number,
       i.n_rows, i.n_columns, i.bits_allocated, i.frames, i.path, i.size, i.source,
       se.modality, se.series_number, se.description AS series_description,
       se.pps_start_date, se.pps_start_time, se.request_attributes,
       st.patient_id, st.patient_name, st.birth_date, st.sex, st.study_date, st.study_time, st.accession,
       st.description AS study_description, st.referring_physician, st.study_id, st.timezone
FROM instances i
JOIN series se ON se.series_uid = i.series_uid
JOIN studies st ON st.study_uid = i.study_uid
"""


class Source(StrEnum):
    """How an instance came to be stored here."""

    SEED = "seed"
    STOW = "stow"
    REPLICATION = "replication"


class Outcome(StrEnum):
    STORED = "stored"
    ALREADY_STORED = "already-stored"  # identical bytes were stored before: acknowledged again
    FAILED = "failed"


@dataclass(frozen=True)
class StoreResult:
    """What became of one item of a batch; ``reason``/``message`` are set when it failed."""

    attrs: InstanceAttrs
    outcome: Outcome
    reason: FailureReason | None = None
    message: str = ""


@dataclass(frozen=True)
class StoredInstance:
    """One index row: the instance's attributes and where its file is."""

    attrs: InstanceAttrs
    path: str  # relative to the storage directory
    size: int | None  # None: a seed file not rendered yet
    source: Source


class StoreError(Exception):
    """The index names a file that cannot be read (should not happen after recovery)."""


def relative_path(attrs: InstanceAttrs) -> str:
    """Where the file of ``attrs`` lives, relative to the storage directory."""
    return f"studies/{attrs.study_uid}/{attrs.sop_uid}.dcm"


def _to_instance(row: sqlite3.Row) -> StoredInstance:
    attrs = InstanceAttrs(
        study_uid=row["study_uid"],
        series_uid=row["series_uid"],
        sop_uid=row["sop_uid"],
        sop_class_uid=row["sop_class_uid"],
        transfer_syntax=row["transfer_syntax"],
        patient_id=row["patient_id"],
        patient_name=row["patient_name"],
        birth_date=row["birth_date"],
        sex=row["sex"],
        study_date=row["study_date"],
        study_time=row["study_time"],
        accession=row["accession"],
        study_description=row["study_description"],
        modality=row["modality"],
        series_number=row["series_number"],
        series_description=row["series_description"],
        instance_number=row["instance_number"],
        rows=row["n_rows"],
        columns=row["n_columns"],
        bits_allocated=row["bits_allocated"],
        frames=row["frames"],
        referring_physician=row["referring_physician"],
        study_id=row["study_id"],
        timezone=row["timezone"],
        pps_start_date=row["pps_start_date"],
        pps_start_time=row["pps_start_time"],
        request_attributes=tuple((str(a), str(b)) for a, b in json.loads(row["request_attributes"])),
    )
    return StoredInstance(attrs, row["path"], row["size"], Source(row["source"]))


def _migrate(db: sqlite3.Connection) -> None:
    """Add the columns an index written by an older version lacks (empty for its rows:
    "not known", which is what QIDO-RS then says)."""
    for table, columns in _ADDED_COLUMNS.items():
        present = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        for column in columns:
            if column not in present:
                default = "'[]'" if column == "request_attributes" else "''"
                db.execute(f"ALTER TABLE {table} ADD COLUMN {column} TEXT NOT NULL DEFAULT {default}")


class Store:
    """The index and the files of one instance. Open with :meth:`open`; close with :meth:`close`."""

    def __init__(self, root: Path, db: sqlite3.Connection) -> None:
        self.root = root
        self._db = db
        self._lock = threading.RLock()
        self._tmp = root / "tmp"

    @classmethod
    def open(cls, root: Path) -> Store:
        """Open (creating if needed) the storage directory ``root`` and repair an interrupted store."""
        (root / "tmp").mkdir(parents=True, exist_ok=True)
        (root / "studies").mkdir(exist_ok=True)
        db = sqlite3.connect(root / INDEX_FILE, isolation_level=None, check_same_thread=False)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(_SCHEMA)
        _migrate(db)
        store = cls(root, db)
        store._recover()
        return store

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- crash recovery -------------------------------------------------------------------

    def _recover(self) -> None:
        rolled_forward = discarded = 0
        for tmp in sorted(self._tmp.iterdir()):
            sop_uid = tmp.name.removesuffix(".part")
            found = self.get(sop_uid) if tmp.name.endswith(".part") and is_valid_uid(sop_uid) else None
            if found is None:
                tmp.unlink()  # never committed: as if the request had never arrived
                discarded += 1
            else:
                final = self.root / found.path
                final.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp, final)  # committed: finish the rename the kill interrupted
                rolled_forward += 1
        if rolled_forward or discarded:
            log_event("recovery", rolled_forward=rolled_forward, discarded=discarded)

    # -- writes ---------------------------------------------------------------------------

    def store_batch(
        self, items: Sequence[tuple[InstanceAttrs, bytes]], source: Source, *, queue_for_replica: bool
    ) -> list[StoreResult]:
        """Store validated instances; one result per item, in order (see the module docstring).

        ``queue_for_replica``: also add an outbox row per newly stored instance, in the same
        transaction (so an acknowledged instance is always either shipped or still queued).
        """
        with self._lock:
            results: list[StoreResult | None] = [None] * len(items)
            pending: list[tuple[int, InstanceAttrs, bytes]] = []
            in_batch: dict[str, bytes] = {}
            for index, (attrs, data) in enumerate(items):
                earlier = in_batch.get(attrs.sop_uid)
                existing = self.get(attrs.sop_uid) if earlier is None else None
                if earlier is None and existing is None:
                    in_batch[attrs.sop_uid] = data
                    pending.append((index, attrs, data))
                    continue
                same = data == earlier if earlier is not None else existing is not None and self._same(existing, data)
                results[index] = (
                    StoreResult(attrs, Outcome.ALREADY_STORED)
                    if same
                    else StoreResult(
                        attrs,
                        Outcome.FAILED,
                        FailureReason.DUPLICATE_SOP_INSTANCE,
                        f"SOP Instance {attrs.sop_uid} is already stored with different content",
                    )
                )
            for index, attrs, message in self._write_pending(pending, source, queue_for_replica):
                results[index] = (
                    StoreResult(attrs, Outcome.STORED)
                    if message is None
                    else StoreResult(attrs, Outcome.FAILED, FailureReason.PROCESSING_FAILURE, message)
                )
            return [result for result in results if result is not None]

    def _same(self, existing: StoredInstance, data: bytes) -> bool:
        try:
            return self.read_bytes(existing) == data
        except StoreError:
            return False

    def _write_pending(
        self, pending: list[tuple[int, InstanceAttrs, bytes]], source: Source, queue: bool
    ) -> list[tuple[int, InstanceAttrs, str | None]]:
        if not pending:
            return []
        written: list[Path] = []
        now = time.time()
        try:
            for _, attrs, data in pending:
                (self.root / relative_path(attrs)).parent.mkdir(parents=True, exist_ok=True)
                tmp = self._tmp / f"{attrs.sop_uid}.part"
                written.append(tmp)
                tmp.write_bytes(data)
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._insert(
                    [attrs for _, attrs, _ in pending],
                    source,
                    now,
                    sizes=[len(data) for _, _, data in pending],
                )
                if queue:
                    self._db.executemany(
                        "INSERT INTO outbox (sop_uid, queued_at) VALUES (?, ?)",
                        [(attrs.sop_uid, now) for _, attrs, _ in pending],
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        except (OSError, sqlite3.Error) as error:
            for tmp in written:
                tmp.unlink(missing_ok=True)
            log_event("store-failed", instances=len(pending), error=error)
            return [(index, attrs, f"not stored: {error}") for index, attrs, _ in pending]
        except BaseException:
            # Anything else is a bug, and says so (a 500); but the batch must still leave
            # nothing behind: the transaction rolled back, so no file may stay either.
            for tmp in written:
                tmp.unlink(missing_ok=True)
            raise
        for _, attrs, _ in pending:
            os.replace(self._tmp / f"{attrs.sop_uid}.part", self.root / relative_path(attrs))
        return [(index, attrs, None) for index, attrs, _ in pending]

    def _insert(
        self, batch: Sequence[InstanceAttrs], source: Source, now: float, sizes: Sequence[int | None]
    ) -> None:
        """INSERT the rows of ``batch`` (studies and series only if new). Inside a transaction."""
        self._db.executemany(
            "INSERT OR IGNORE INTO studies (study_uid, patient_id, patient_name, birth_date, sex, study_date,"
            " study_time, accession, description, referring_physician, study_id, timezone)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (a.study_uid, a.patient_id, a.patient_name, a.birth_date, a.sex, a.study_date, a.study_time,
                 a.accession, a.study_description, a.referring_physician, a.study_id, a.timezone)
                for a in batch
            ],
        )
        self._db.executemany(
            "INSERT OR IGNORE INTO series (series_uid, study_uid, modality, series_number, description,"
            " pps_start_date, pps_start_time, request_attributes) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (a.series_uid, a.study_uid, a.modality, a.series_number, a.series_description, a.pps_start_date,
                 a.pps_start_time, json.dumps([list(item) for item in a.request_attributes]))
                for a in batch
            ],
        )
        self._db.executemany(
            "INSERT OR IGNORE INTO instances (sop_uid, series_uid, study_uid, sop_class_uid, transfer_syntax,"
            " instance_number, n_rows, n_columns, bits_allocated, frames, path, size, source, stored_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (a.sop_uid, a.series_uid, a.study_uid, a.sop_class_uid, a.transfer_syntax, a.instance_number,
                 a.rows, a.columns, a.bits_allocated, a.frames, relative_path(a), size, source.value, now)
                for a, size in zip(batch, sizes, strict=True)
            ],
        )

    def load_seed(
        self, instances: Iterable[InstanceAttrs], marker: str, on_progress: Callable[[int], None], chunk: int = 2000
    ) -> int:
        """Index seed instances (no files; rendered on first read) and record ``marker`` in
        ``meta.seed``, all in ONE transaction: a load killed half-way leaves nothing and runs
        again at the next start. Rows already present are kept. Returns the instances seen."""
        with self._lock:
            count = 0
            self._db.execute("BEGIN IMMEDIATE")
            try:
                buffer: list[InstanceAttrs] = []
                for attrs in instances:
                    buffer.append(attrs)
                    if len(buffer) >= chunk:
                        self._insert(buffer, Source.SEED, time.time(), [None] * len(buffer))
                        count += len(buffer)
                        buffer.clear()
                        on_progress(count)
                self._insert(buffer, Source.SEED, time.time(), [None] * len(buffer))
                count += len(buffer)
                self._db.execute("INSERT OR REPLACE INTO meta VALUES ('seed', ?)", (marker,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return count

    def seed_marker(self) -> str | None:
        """The ``marker`` of the last completed :meth:`load_seed`, if any."""
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = 'seed'").fetchone()
            return None if row is None else str(row[0])

    # -- reads ----------------------------------------------------------------------------

    def get(self, sop_uid: str) -> StoredInstance | None:
        with self._lock:
            row = self._db.execute(_INSTANCE_SELECT + " WHERE i.sop_uid = ?", (sop_uid,)).fetchone()
            return None if row is None else _to_instance(row)

    def instances(
        self, study_uid: str, series_uid: str | None = None, sop_uid: str | None = None
    ) -> list[StoredInstance]:
        """The instances of a study, series or single instance (empty if none), in series
        number then instance number order."""
        clauses, params = ["i.study_uid = ?"], [study_uid]
        if series_uid is not None:
            clauses.append("i.series_uid = ?")
            params.append(series_uid)
        if sop_uid is not None:
            clauses.append("i.sop_uid = ?")
            params.append(sop_uid)
        sql = f"{_INSTANCE_SELECT} WHERE {' AND '.join(clauses)} ORDER BY se.series_number, i.instance_number, i.rowid"
        with self._lock:
            return [_to_instance(row) for row in self._db.execute(sql, params)]

    def read_bytes(self, instance: StoredInstance) -> bytes:
        """The Part 10 bytes of ``instance``, rendering a seed file on first access."""
        final = self.root / instance.path
        if instance.source is Source.SEED and (instance.size is None or not final.exists()):
            return self._materialize(instance)
        try:
            return final.read_bytes()
        except OSError as error:
            raise StoreError(f"file of SOP Instance {instance.attrs.sop_uid} unreadable: {error}") from error

    def _materialize(self, instance: StoredInstance) -> bytes:
        # Under the lock, rendering included: two threads must not share the tmp file name.
        with self._lock:
            data = render_part10(instance.attrs)
            final = self.root / instance.path
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp = self._tmp / f"{instance.attrs.sop_uid}.part"
            tmp.write_bytes(data)
            os.replace(tmp, final)
            # After the rename: a kill in between leaves size NULL, and the next read renders
            # the same bytes again.
            self._db.execute("UPDATE instances SET size = ? WHERE sop_uid = ?", (len(data), instance.attrs.sop_uid))
        return data

    def query(self, sql: str, params: Sequence[object] = ()) -> list[sqlite3.Row]:
        """A read-only query over the index (QIDO-RS builds its own SQL)."""
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def counts(self) -> dict[str, int]:
        """``studies``, ``series``, ``instances`` and ``backlog`` (outbox rows)."""
        with self._lock:
            row = self._db.execute(
                "SELECT (SELECT COUNT(*) FROM studies), (SELECT COUNT(*) FROM series),"
                " (SELECT COUNT(*) FROM instances), (SELECT COUNT(*) FROM outbox)"
            ).fetchone()
            return {"studies": row[0], "series": row[1], "instances": row[2], "backlog": row[3]}

    # -- outbox ---------------------------------------------------------------------------

    def outbox_peek(self, limit: int) -> list[tuple[int, str]]:
        """The oldest ``limit`` outbox entries as ``(seq, sop_uid)``, in order."""
        with self._lock:
            rows = self._db.execute("SELECT seq, sop_uid FROM outbox ORDER BY seq LIMIT ?", (limit,))
            return [(int(seq), str(sop_uid)) for seq, sop_uid in rows]

    def outbox_remove(self, seqs: Sequence[int]) -> None:
        """Forget shipped entries (autocommit: one statement)."""
        if not seqs:
            return
        with self._lock:
            marks = ",".join("?" * len(seqs))
            self._db.execute(f"DELETE FROM outbox WHERE seq IN ({marks})", list(seqs))

    def backlog(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
