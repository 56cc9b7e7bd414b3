"""The local durable downtime queue: orders and registrations accepted while the EHR is away.

SQLite in WAL mode with ``synchronous=FULL``: a 202 is answered only after the entry's
transaction committed, so an accepted entry survives SIGKILL and power loss of the
workstation. Each entry (see :class:`Entry`) keeps its downtime id (allocated from the reserved
range in the same transaction: :mod:`.identifiers`), kind (``registration``, ``medication``,
``lab``, ``imaging``), patient (a permanent id or a downtime patient id), the FHIR resource to
create, the original authored time, the clinician's idempotency key, and its reconciliation
state:

* ``queued`` -- waiting (``attempts`` and the last ``reason`` say what went wrong so far);
* ``reconciled`` -- created in the EHR as ``permanent_id`` at ``reconciled_at`` (``existed``:
  the conditional create found it already there -- a replay after a crash);
* ``failed`` -- the EHR refused it for good (4xx); kept with the reason for a human, never dropped.

Capacity: at most ``capacity`` entries ``queued`` at once; one more raises :class:`QueueFull`
and nothing already queued is touched. The same idempotency key enqueued twice returns the
first entry (a clinician's retry is not a second order). One connection, used from the event
loop's thread only.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mock_services.care.identifiers import ORDER, PATIENT, downtime_id

KINDS = ("registration", "medication", "lab", "imaging")
QUEUED, RECONCILED, FAILED = "queued", "reconciled", "failed"

SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    downtime_id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    patient TEXT NOT NULL,
    client_key TEXT UNIQUE,
    resource TEXT NOT NULL,
    authored TEXT NOT NULL,
    queued_at REAL NOT NULL,
    snapshot_as_of REAL,
    state TEXT NOT NULL,
    permanent_id TEXT,
    existed INTEGER,
    reason TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    reconciled_at REAL
);
CREATE INDEX IF NOT EXISTS entries_by_state ON entries(state, seq);
CREATE TABLE IF NOT EXISTS counters (kind TEXT PRIMARY KEY, next INTEGER NOT NULL);
"""
_COLUMNS = ("seq, downtime_id, kind, patient, client_key, resource, authored, queued_at, snapshot_as_of, state, "
            "permanent_id, existed, reason, attempts, reconciled_at")  # fmt: skip


class QueueFull(Exception):
    def __init__(self, capacity: int) -> None:
        super().__init__(f"the downtime queue is full ({capacity} entries waiting): nothing more can be accepted")
        self.capacity = capacity


@dataclass(frozen=True)
class Entry:
    seq: int
    downtime_id: str
    kind: str
    patient: str
    client_key: str | None
    resource: dict[str, Any]
    authored: str
    queued_at: float
    snapshot_as_of: float | None
    state: str
    permanent_id: str | None
    existed: bool | None
    reason: str | None
    attempts: int
    reconciled_at: float | None

    def to_json(self) -> dict[str, Any]:
        """The queue/reconciliation record as served (the resource left out: ``display`` says what it is)."""
        return {
            "downtime_id": self.downtime_id,
            "kind": self.kind,
            "patient": self.patient,
            "client_key": self.client_key,
            "display": describe(self.resource),
            "authored": self.authored,
            "queued_at": self.queued_at,
            "snapshot_as_of": self.snapshot_as_of,
            "state": self.state,
            "permanent_id": self.permanent_id,
            "existed": self.existed,
            "reason": self.reason,
            "attempts": self.attempts,
            "reconciled_at": self.reconciled_at,
        }


def describe(resource: dict[str, Any]) -> str:
    """A one-line human description of a queued resource (for screens and paper)."""
    if resource.get("resourceType") == "Patient":
        name = (resource.get("name") or [{}])[0]
        return f"{name.get('family', '')} {' '.join(name.get('given') or [])}".strip()
    concept = resource.get("medicationCodeableConcept") or resource.get("code") or {}
    text = concept.get("text") or ((concept.get("coding") or [{}])[0].get("display")) or "?"
    dosage = (resource.get("dosageInstruction") or [{}])[0].get("text")
    return f"{text} -- {dosage}" if dosage else str(text)


def _entry(row: tuple[Any, ...]) -> Entry:
    return Entry(
        row[0], row[1], row[2], row[3], row[4], json.loads(row[5]), row[6], row[7], row[8], row[9], row[10],
        None if row[11] is None else bool(row[11]), row[12], row[13], row[14],
    )  # fmt: skip


class Queue:
    """See the module docstring."""

    def __init__(self, connection: sqlite3.Connection, capacity: int, prefix: str, instance: str) -> None:
        self.db = connection
        self.capacity, self.prefix, self.instance = capacity, prefix, instance

    @classmethod
    def open(cls, path: Path, capacity: int, prefix: str, instance: str) -> Queue:
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        connection.executescript(SCHEMA)
        return cls(connection, capacity, prefix, instance)

    def close(self) -> None:
        self.db.close()

    def enqueue(
        self,
        kind: str,
        patient: str,
        resource: dict[str, Any],
        authored: str,
        client_key: str | None = None,
        snapshot_as_of: float | None = None,
    ) -> tuple[Entry, bool]:
        """Queue one entry; returns (entry, True) -- or (the earlier entry, False) for a known
        ``client_key``. Raises :class:`QueueFull`. Committed (fsynced) when it returns. A
        registration's ``patient`` is its own downtime id (the argument is ignored)."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            if client_key is not None:
                row = self.db.execute(f"SELECT {_COLUMNS} FROM entries WHERE client_key = ?", (client_key,)).fetchone()
                if row is not None:
                    return _entry(row), False
            (waiting,) = self.db.execute("SELECT count(*) FROM entries WHERE state = ?", (QUEUED,)).fetchone()
            if waiting >= self.capacity:
                raise QueueFull(self.capacity)
            range_kind = PATIENT if kind == "registration" else ORDER
            row = self.db.execute("SELECT next FROM counters WHERE kind = ?", (range_kind,)).fetchone()
            number = 1 if row is None else int(row[0])
            self.db.execute("INSERT OR REPLACE INTO counters (kind, next) VALUES (?, ?)", (range_kind, number + 1))
            identifier = downtime_id(self.prefix, range_kind, self.instance, number)
            if kind == "registration":
                patient = identifier  # a registration's patient is the downtime patient it creates
            self.db.execute(
                "INSERT INTO entries (downtime_id, kind, patient, client_key, resource, authored, queued_at, "
                "snapshot_as_of, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (identifier, kind, patient, client_key, json.dumps(resource, ensure_ascii=False), authored,
                 time.time(), snapshot_as_of, QUEUED),
            )  # fmt: skip
        return self.get(identifier), True

    def get(self, identifier: str) -> Entry:
        row = self.db.execute(f"SELECT {_COLUMNS} FROM entries WHERE downtime_id = ?", (identifier,)).fetchone()
        if row is None:
            raise KeyError(identifier)
        return _entry(row)

    def entries(self, state: str | None = None, patient: str | None = None, limit: int = 10_000) -> list[Entry]:
        """Entries in queue order, optionally of one state and/or patient."""
        clauses, args = [], []
        if state is not None:
            clauses.append("state = ?")
            args.append(state)
        if patient is not None:
            clauses.append("patient = ?")
            args.append(patient)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self.db.execute(f"SELECT {_COLUMNS} FROM entries {where} ORDER BY seq LIMIT ?", (*args, limit))
        return [_entry(row) for row in rows]

    def counts(self) -> dict[str, int]:
        found = dict(self.db.execute("SELECT state, count(*) FROM entries GROUP BY state").fetchall())
        return {state: int(found.get(state, 0)) for state in (QUEUED, RECONCILED, FAILED)}

    def depth(self) -> int:
        return self.counts()[QUEUED]

    def patient_map(self) -> dict[str, str]:
        """Downtime patient id -> permanent patient id, for every reconciled registration."""
        rows = self.db.execute(
            "SELECT downtime_id, permanent_id FROM entries WHERE kind = 'registration' AND state = ?", (RECONCILED,)
        )
        return {dt: permanent.removeprefix("Patient/") for dt, permanent in rows}

    def mark_reconciled(self, identifier: str, permanent_id: str, existed: bool) -> None:
        with self.db:
            self.db.execute(
                "UPDATE entries SET state = ?, permanent_id = ?, existed = ?, reconciled_at = ?, reason = NULL, "
                "attempts = attempts + 1 WHERE downtime_id = ? AND state = ?",
                (RECONCILED, permanent_id, int(existed), time.time(), identifier, QUEUED),
            )

    def mark_failed(self, identifier: str, reason: str) -> None:
        with self.db:
            self.db.execute(
                "UPDATE entries SET state = ?, reason = ?, attempts = attempts + 1 WHERE downtime_id = ? AND state = ?",
                (FAILED, reason, identifier, QUEUED),
            )

    def note_attempt(self, identifier: str, reason: str) -> None:
        """An attempt that did not settle the entry (the EHR went away again): it stays queued."""
        with self.db:
            self.db.execute(
                "UPDATE entries SET reason = ?, attempts = attempts + 1 WHERE downtime_id = ? AND state = ?",
                (reason, identifier, QUEUED),
            )
