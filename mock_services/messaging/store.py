"""The engine's durable message store and forwarding queue, in SQLite (WAL), with group commit.

Schema (a contract: a checker may open a stopped engine's file read-only):

* ``messages`` -- one row per accepted message, unique by ``(control_id, sender)`` (MSH-10,
  MSH-3): ``seq`` (arrival order), ``message_type`` (``ORU^R01``), ``received_at`` (epoch
  s), ``ack_code`` (AA or CA: what the first receipt was answered), ``destination`` (``fhir``
  or ``''``), ``status`` (``queued`` | ``delivered`` | ``errored`` | ``no-destination``),
  ``queue_pos`` (forwarding order; rotation moves a message to the back by raising it),
  ``attempts``, ``last_attempt_at``, ``delivered_at``, ``last_error``, ``resources`` (JSON
  list of the references the destination returned), ``duplicates`` (receipts of the same
  MSH-10 after the first), ``raw`` (the message text as received).

Durability and group commit: every write is a *job* run by ONE writer thread. The thread
takes every job waiting in its queue (at most ``MAX_BATCH``), runs them in one transaction
(each inside a savepoint, so one failing job does not undo the others) and commits once;
only then are the jobs' futures resolved -- and only then does the engine send the ACKs. So
concurrently arriving messages share one fsync instead of paying one each, and nothing is
acknowledged before its commit. With ``synchronous=FULL`` (default) the commit fsyncs the
WAL: an ACKed message survives SIGKILL, kernel crash and power cut. With ``NORMAL`` it
survives SIGKILL (committed frames are in the OS page cache) but the last commits before a
kernel crash can be lost (the file is never corrupted either way). See
:class:`~.config.Synchronous`.

Reads go through :class:`Reader` objects, one connection each (WAL readers never block the
writer); the listener's HTTP API and the forwarder thread each have their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from mock_services.messaging.config import Synchronous
from mock_services.messaging.eventlog import logger

MAX_BATCH = 256
STATUSES = ("queued", "delivered", "errored", "no-destination")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY,
    control_id TEXT NOT NULL,
    sender TEXT NOT NULL,
    message_type TEXT NOT NULL,
    received_at REAL NOT NULL,
    ack_code TEXT NOT NULL,
    destination TEXT NOT NULL,
    status TEXT NOT NULL,
    queue_pos INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_attempt_at REAL,
    delivered_at REAL,
    last_error TEXT,
    resources TEXT,
    duplicates INTEGER NOT NULL DEFAULT 0,
    raw TEXT NOT NULL,
    UNIQUE (control_id, sender)
);
CREATE INDEX IF NOT EXISTS queue ON messages (destination, queue_pos) WHERE status = 'queued';
"""
_COLUMNS = (
    "seq, control_id, sender, message_type, received_at, ack_code, destination, status, queue_pos, attempts, "
    "last_attempt_at, delivered_at, last_error, resources, duplicates, raw"
)

T = TypeVar("T")


class StoreError(Exception):
    """The store could not do what was asked (closed, disk error, ...): nothing was committed."""


@dataclass(frozen=True)
class Incoming:
    """An accepted message, as the listener hands it to the store."""

    control_id: str
    sender: str
    message_type: str
    raw: str
    ack_code: str
    destination: str  # '' = nothing to forward to
    received_at: float


@dataclass(frozen=True)
class PutResult:
    """Where a message went: its ``seq``, and whether it was already stored (a duplicate)."""

    seq: int
    duplicate: bool


@dataclass(frozen=True)
class StoredMessage:
    """One row of ``messages`` (see the module docstring for the fields)."""

    seq: int
    control_id: str
    sender: str
    message_type: str
    received_at: float
    ack_code: str
    destination: str
    status: str
    queue_pos: int
    attempts: int
    last_attempt_at: float | None
    delivered_at: float | None
    last_error: str | None
    resources: tuple[str, ...]
    duplicates: int
    raw: str

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> StoredMessage:
        values = list(row)
        values[13] = tuple(json.loads(values[13])) if values[13] else ()
        return cls(*values)

    def to_json(self, *, with_raw: bool) -> dict[str, object]:
        """The API's view: every field, times as epoch seconds, ``raw`` only if asked."""
        document: dict[str, object] = {
            "seq": self.seq,
            "control_id": self.control_id,
            "sender": self.sender,
            "message_type": self.message_type,
            "received_at": self.received_at,
            "ack_code": self.ack_code,
            "destination": self.destination or None,
            "status": self.status,
            "attempts": self.attempts,
            "last_attempt_at": self.last_attempt_at,
            "delivered_at": self.delivered_at,
            "last_error": self.last_error,
            "resources": list(self.resources),
            "duplicates": self.duplicates,
        }
        if with_raw:
            document["raw"] = self.raw
        return document


@dataclass
class _Job:
    """A write and whom to tell: a thread blocked on ``future``, or ``waiter`` on ``loop``."""

    run: Callable[[sqlite3.Connection], Any]
    future: Future[Any] | None = None
    waiter: asyncio.Future[Any] | None = None
    loop: asyncio.AbstractEventLoop | None = None


def _settle(outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    """Resolve event-loop waiters (runs on their loop); a cancelled waiter is skipped."""
    for waiter, result, error in outcomes:
        if waiter.done():
            continue
        if error is None:
            waiter.set_result(result)
        else:
            waiter.set_exception(error)


def _connect(path: Path) -> sqlite3.Connection:
    # isolation_level=None: we issue BEGIN/COMMIT ourselves (group commit needs that control).
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10.0)
    connection.execute("PRAGMA busy_timeout = 10000")
    return connection


class Store:
    """The writer side (see the module docstring). Thread-safe; ``put`` is for the event loop.

    ``queued`` is set after every commit that queued a message for forwarding (the
    forwarder waits on it instead of polling).
    """

    def __init__(self, path: Path, synchronous: Synchronous = Synchronous.FULL) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._connection = _connect(path)
        self._connection.execute("PRAGMA journal_mode = WAL")
        self._connection.execute(f"PRAGMA synchronous = {synchronous.value.upper()}")
        self._connection.executescript(_SCHEMA)
        row = self._connection.execute("SELECT coalesce(max(queue_pos), 0) FROM messages").fetchone()
        self._next_pos = int(row[0]) + 1  # only the writer thread touches it after this
        self.queued = threading.Event()
        self._queued_in_batch = False
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._closed = False
        self._close_lock = threading.Lock()
        self.commits = 0
        self.committed_jobs = 0
        self._thread = threading.Thread(target=self._write_loop, name="msg-store-writer", daemon=True)
        self._thread.start()

    # -- writing ---------------------------------------------------------------------------

    def _enqueue(self, job: _Job) -> bool:
        with self._close_lock:
            if self._closed:
                return False
            self._jobs.put(job)
            return True

    def submit(self, run: Callable[[sqlite3.Connection], T]) -> Future[T]:
        """Run ``run(connection)`` in the next group commit; the future resolves after COMMIT.

        For threads (blocking on ``result()``); code on an event loop uses :meth:`put`."""
        future: Future[T] = Future()
        if not self._enqueue(_Job(run, future=future)):
            future.set_exception(StoreError("the store is closed"))
        return future

    async def put(self, message: Incoming) -> PutResult:
        """Store ``message`` durably (or find it already stored); raises :class:`StoreError`.

        The writer resolves every waiter of one commit with a single wake-up of their loop
        (not one cross-thread future per message: that cost more CPU than the INSERT)."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[PutResult] = loop.create_future()
        job = _Job(lambda connection: self._insert(connection, message), waiter=waiter, loop=loop)
        if not self._enqueue(job):
            raise StoreError("the store is closed")
        return await waiter

    def _insert(self, connection: sqlite3.Connection, m: Incoming) -> PutResult:
        status = "queued" if m.destination else "no-destination"
        cursor = connection.execute(
            "INSERT OR IGNORE INTO messages (control_id, sender, message_type, received_at, ack_code, destination,"
            " status, queue_pos, raw) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                m.control_id,
                m.sender,
                m.message_type,
                m.received_at,
                m.ack_code,
                m.destination,
                status,
                self._next_pos,
                m.raw,
            ),
        )
        if cursor.rowcount == 1:
            self._next_pos += 1
            self._queued_in_batch |= status == "queued"
            return PutResult(int(cursor.lastrowid or 0), duplicate=False)
        key = (m.control_id, m.sender)
        connection.execute("UPDATE messages SET duplicates = duplicates + 1 WHERE control_id = ? AND sender = ?", key)
        row = connection.execute("SELECT seq FROM messages WHERE control_id = ? AND sender = ?", key).fetchone()
        return PutResult(int(row[0]), duplicate=True)

    def mark_delivered(self, seq: int, attempts: int, resources: list[str]) -> None:
        """Blocking: record a successful delivery (called by the forwarder thread)."""

        def run(connection: sqlite3.Connection) -> None:
            connection.execute(
                "UPDATE messages SET status = 'delivered', attempts = ?, last_attempt_at = ?, delivered_at = ?,"
                " resources = ? WHERE seq = ?",
                (attempts, time.time(), time.time(), json.dumps(resources), seq),
            )

        self.submit(run).result()

    def mark_failed(self, seq: int, attempts: int, error: str, *, give_up: bool, rotate: bool) -> None:
        """Blocking: record a failed attempt; ``give_up`` -> errored, else ``rotate`` -> back of the queue."""

        def run(connection: sqlite3.Connection) -> None:
            status = "errored" if give_up else "queued"
            connection.execute(
                "UPDATE messages SET status = ?, attempts = ?, last_attempt_at = ?, last_error = ? WHERE seq = ?",
                (status, attempts, time.time(), error[:1000], seq),
            )
            if rotate and not give_up:
                connection.execute("UPDATE messages SET queue_pos = ? WHERE seq = ?", (self._next_pos, seq))
                self._next_pos += 1

        self.submit(run).result()

    def _write_loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            batch = [job]
            stop = False
            while len(batch) < MAX_BATCH:
                try:
                    more = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list[_Job]) -> None:
        outcomes: list[tuple[_Job, Any, BaseException | None]] = []
        self._queued_in_batch = False
        next_pos = self._next_pos
        connection = self._connection
        try:
            connection.execute("BEGIN IMMEDIATE")
            for job in batch:
                if job.future is not None and not job.future.set_running_or_notify_cancel():
                    continue  # its asker gave up: nobody to answer
                connection.execute("SAVEPOINT job")
                try:
                    outcomes.append((job, job.run(connection), None))
                    connection.execute("RELEASE job")
                except Exception as error:
                    connection.execute("ROLLBACK TO job")
                    connection.execute("RELEASE job")
                    outcomes.append((job, None, error))
            connection.execute("COMMIT")
        except sqlite3.Error as error:
            logger.error("event=store-commit-failed jobs=%d error=%r", len(batch), str(error))
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            self._next_pos = next_pos
            failure = StoreError(f"commit failed: {error}")
            outcomes = [(job, None, failure) for job in batch if job.future is None or not job.future.done()]
        else:
            self.commits += 1
            self.committed_jobs += len(outcomes)
            if self._queued_in_batch:
                self.queued.set()
        self._deliver(outcomes)

    @staticmethod
    def _deliver(outcomes: list[tuple[_Job, Any, BaseException | None]]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any, BaseException | None]]] = {}
        for job, result, error in outcomes:
            if job.future is not None:
                if error is None:
                    job.future.set_result(result)
                else:
                    job.future.set_exception(error)
            elif job.waiter is not None and job.loop is not None:
                by_loop.setdefault(job.loop, []).append((job.waiter, result, error))
        for loop, waiters in by_loop.items():
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody is waiting any more
                loop.call_soon_threadsafe(_settle, waiters)

    def close(self) -> None:
        """Finish every job already submitted, then stop the writer. Idempotent."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
            self._jobs.put(None)
        self._thread.join(timeout=10)
        self._connection.close()

    def reader(self) -> Reader:
        """A new read connection (give each thread its own)."""
        return Reader(self.path)


class Reader:
    """Read-only queries on one connection of its own (guarded by a lock, so shareable)."""

    def __init__(self, path: Path) -> None:
        self._connection = _connect(path)
        self._lock = threading.Lock()

    def _all(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._connection.execute(sql, params).fetchall()

    def head(self, destination: str) -> StoredMessage | None:
        """The next message to forward to ``destination`` (lowest ``queue_pos`` still queued)."""
        rows = self._all(
            f"SELECT {_COLUMNS} FROM messages WHERE status = 'queued' AND destination = ? ORDER BY queue_pos LIMIT 1",
            (destination,),
        )
        return StoredMessage.from_row(rows[0]) if rows else None

    def queue_stats(self) -> tuple[int, float | None]:
        """(messages queued for forwarding, ``received_at`` of the oldest one or None)."""
        rows = self._all("SELECT count(*), min(received_at) FROM messages WHERE status = 'queued'")
        return int(rows[0][0]), rows[0][1]

    def counts(self) -> dict[str, int]:
        """Messages per status (every status present, 0 when none)."""
        counts = dict.fromkeys(STATUSES, 0)
        for status, count in self._all("SELECT status, count(*) FROM messages GROUP BY status"):
            counts[status] = int(count)
        return counts

    def find(self, control_id: str, sender: str | None = None) -> list[StoredMessage]:
        """Messages with MSH-10 ``control_id`` (from ``sender`` = MSH-3 if given), by seq."""
        if sender is None:
            rows = self._all(f"SELECT {_COLUMNS} FROM messages WHERE control_id = ? ORDER BY seq", (control_id,))
        else:
            rows = self._all(
                f"SELECT {_COLUMNS} FROM messages WHERE control_id = ? AND sender = ? ORDER BY seq",
                (control_id, sender),
            )
        return [StoredMessage.from_row(row) for row in rows]

    def list(self, status: str | None, limit: int, after: int = 0) -> list[StoredMessage]:
        """Up to ``limit`` messages with ``seq > after`` (and ``status`` if given), by seq."""
        params: tuple[Any, ...]
        if status is None:
            sql, params = f"SELECT {_COLUMNS} FROM messages WHERE seq > ? ORDER BY seq LIMIT ?", (after, limit)
        else:
            sql = f"SELECT {_COLUMNS} FROM messages WHERE status = ? AND seq > ? ORDER BY seq LIMIT ?"
            params = (status, after, limit)
        return [StoredMessage.from_row(row) for row in self._all(sql, params)]

    def close(self) -> None:
        with self._lock:
            self._connection.close()
