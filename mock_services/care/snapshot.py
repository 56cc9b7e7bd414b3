"""The downtime snapshot on disk: format, atomic write, checked read, and the current one.

File format: one header line, then the JSON body::

    HCHAOS-CARE-SNAPSHOT 1 sha256=<hex of the body> bytes=<body length>\\n{...}

so truncation, a flipped byte or a foreign file are all detected before a clinician sees
anything (:class:`SnapshotCorrupt`, naming what is wrong). Writes are atomic: a temp file in
the same directory, ``fsync``, ``rename`` over the old file, ``fsync`` of the directory -- a
crash leaves either the old snapshot or the new one, never half of one.

The body (built by :mod:`.collect`)::

    {"format": 1, "source": <instance>, "as_of": <epoch s, when the fetch STARTED>,
     "finished": <epoch s>, "took": <s>, "wards": {ward: [patient ids]},
     "patients": {id: {"ward", "encounter_since", "demographics", "allergies", "vitals",
                       "medications", "results", "imaging"}},   # sections: see .fetch.section
     "schedules": {"status", "detail", "until": <scheduling's clock>, "documents": [...]}}

``as_of`` is when the fetch *started*: anything that happened after it may be missing, so a
screen that says "as of T" never claims more than it knows.

:class:`SnapshotStore` holds the current snapshot (or why there is none: ``missing`` /
``corrupt``) and a *pinned* copy -- the snapshot in force when downtime began, kept after
recovery for the schedule diff (refreshes do not replace it).

Memory (what a soak sees): the process grows with the snapshot, and the snapshot with the
chart data of its patients -- not with time or requests. A parsed body takes ~4x its file
size, and a refresh holds the new body beside the current one while it encodes it (a transient
peak of ~7x the file size, on a worker thread), so the RSS follows ~15x the file size, and
stays at its high-water mark (the C allocator keeps what it freed). What the file holds per
patient: results are capped (``chart.MAX_RESULTS`` documents, ~1.2 KB each), vitals are the
latest of each sign; active MedicationRequests are not (a MAR must list every active
medication), ~185 bytes of JSON each. Measured under the flagship's load, no faults: 14
patients, 72 KiB at the first refresh and 332 KiB after 10 minutes (531 active medications --
the load orders and never stops any -- and 138 results), the RSS +4.4 MB meanwhile, ~17 bytes
of RSS per byte of snapshot.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAGIC = "HCHAOS-CARE-SNAPSHOT"
FORMAT = 1
FILE_NAME = "snapshot.dat"
PINNED_NAME = "snapshot-downtime.dat"


class SnapshotError(Exception):
    """Base: the snapshot cannot be used; the message says why (shown to the clinician)."""

    state = "unavailable"


class SnapshotMissing(SnapshotError):
    state = "missing"


class SnapshotCorrupt(SnapshotError):
    state = "corrupt"


def encode(body: dict[str, Any]) -> bytes:
    payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    header = f"{MAGIC} {FORMAT} sha256={hashlib.sha256(payload).hexdigest()} bytes={len(payload)}\n"
    return header.encode() + payload


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``: temp file, fsync, rename, fsync the directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with temporary.open("wb") as sink:
        sink.write(data)
        sink.flush()
        os.fsync(sink.fileno())
    os.replace(temporary, path)
    _fsync_directory(path.parent)


def decode(data: bytes, where: str) -> dict[str, Any]:
    """The checked body of a snapshot file's bytes; raises SnapshotCorrupt naming the problem."""
    header, newline, payload = data.partition(b"\n")
    parts = header.decode("ascii", errors="replace").split(" ")
    if not newline or len(parts) != 4 or parts[0] != MAGIC:
        raise SnapshotCorrupt(f"{where} is not a care snapshot file (bad header)")
    if parts[1] != str(FORMAT):
        raise SnapshotCorrupt(f"{where} has snapshot format {parts[1]!r}, this application reads {FORMAT}")
    expected = parts[2].removeprefix("sha256=")
    length = parts[3].removeprefix("bytes=")
    if length != str(len(payload)):
        raise SnapshotCorrupt(f"{where} is truncated or padded: {len(payload)} bytes, the header says {length}")
    if hashlib.sha256(payload).hexdigest() != expected:
        raise SnapshotCorrupt(f"{where} fails its checksum (sha256 mismatch): the file is damaged")
    try:
        body = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as error:
        raise SnapshotCorrupt(f"{where} is not valid JSON: {error}") from None
    if not isinstance(body, dict) or not isinstance(body.get("as_of"), int | float):
        raise SnapshotCorrupt(f"{where} has no as_of time")
    if not isinstance(body.get("patients"), dict) or not isinstance(body.get("wards"), dict):
        raise SnapshotCorrupt(f"{where} lacks its patients or wards")
    return body


def read(path: Path) -> dict[str, Any]:
    """Read and check a snapshot file; raises SnapshotMissing / SnapshotCorrupt."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SnapshotMissing(f"no downtime snapshot at {path} (none taken yet, or it was deleted)") from None
    except OSError as error:
        raise SnapshotCorrupt(f"the downtime snapshot {path} cannot be read: {error}") from None
    return decode(data, f"the downtime snapshot {path}")


@dataclass(frozen=True)
class Snapshot:
    """A checked snapshot body with accessors."""

    body: dict[str, Any]

    @property
    def as_of(self) -> float:
        return float(self.body["as_of"])

    @property
    def wards(self) -> dict[str, list[str]]:
        wards: dict[str, list[str]] = self.body["wards"]
        return wards

    def patient(self, patient_id: str) -> dict[str, Any] | None:
        found = self.body["patients"].get(patient_id)
        return found if isinstance(found, dict) else None

    @property
    def schedules(self) -> dict[str, Any]:
        schedules = self.body.get("schedules")
        return schedules if isinstance(schedules, dict) else {"status": "unavailable", "documents": []}


class SnapshotStore:
    """The current snapshot (from disk) and the pinned downtime one. One event-loop thread."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / FILE_NAME
        self.pinned_path = directory / PINNED_NAME
        self.current: Snapshot | None = None
        self.error: SnapshotError | None = None
        self.pinned: Snapshot | None = None
        self.last_refresh: dict[str, Any] = {"outcome": None}

    def load(self) -> Snapshot | None:
        """(Re)read the file -- at start-up, and when downtime begins, since the disk is what
        a workstation falls back on. On failure ``current`` is None and ``error`` says why."""
        try:
            self.current, self.error = Snapshot(read(self.path)), None
        except SnapshotError as error:
            self.current, self.error = None, error
        try:
            self.pinned = Snapshot(read(self.pinned_path))
        except SnapshotError:
            self.pinned = None
        return self.current

    def replace(self, body: dict[str, Any]) -> int:
        """Write a new snapshot atomically and make it current; returns its size in bytes."""
        data = encode(body)
        write_atomic(self.path, data)
        self.current, self.error = Snapshot(body), None
        return len(data)

    def pin(self) -> None:
        """Keep the current snapshot file as the downtime baseline (for the schedule diff)."""
        if self.current is None:
            return
        temporary = self.pinned_path.with_name(f".{self.pinned_path.name}.tmp")
        shutil.copyfile(self.path, temporary)
        os.replace(temporary, self.pinned_path)
        self.pinned = self.current

    def status(self, max_age: float) -> dict[str, Any]:
        """``state`` ok | missing | corrupt, ``as_of``, ``age``, ``stale`` (age > max_age), ``detail``."""
        if self.current is None:
            error = self.error or SnapshotMissing("no snapshot loaded")
            return {"state": error.state, "detail": str(error), "as_of": None, "age": None, "stale": True,
                    "max_age": max_age, "last_refresh": self.last_refresh}  # fmt: skip
        age = time.time() - self.current.as_of
        return {
            "state": "ok",
            "detail": None,
            "as_of": self.current.as_of,
            "age": round(age, 3),
            "stale": age > max_age,
            "max_age": max_age,
            "patients": len(self.current.body["patients"]),
            "wards": len(self.current.wards),
            "last_refresh": self.last_refresh,
        }
