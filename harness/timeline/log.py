"""The run's append-only timeline file (JSON lines), written from many threads.

Contract: :meth:`TimelineWriter.append` is thread-safe and cheap (a lock and a list
append); records are written to disk in batches by :meth:`flush`, which the owner calls
periodically and at close. Nothing appended before ``close()`` is lost. Readers get the
records in file order, which is append order (not necessarily ``t`` order: a request is
appended when it finishes, with ``t`` = its start).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from harness.timeline.events import TimelineRecord, record_from_dict, record_to_dict

TIMELINE_FILE = "timeline.jsonl"


class TimelineWriter:
    """Appends records to ``path``; call :meth:`close` (or use as a context manager)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._pending: list[TimelineRecord | str] = []
        self._file: IO[str] | None = path.open("a", encoding="utf-8")
        self._count = 0

    def append(self, record: TimelineRecord) -> None:
        with self._lock:
            self._pending.append(record)
            self._count += 1

    def append_encoded(self, lines: list[str]) -> None:
        """Append records already encoded as JSON lines (no trailing newline), exactly as
        :meth:`append` would have written them. For high-rate producers that validated the
        lines themselves (the load's records): it skips decoding into dataclasses and
        encoding again."""
        with self._lock:
            self._pending.extend(lines)
            self._count += len(lines)

    @property
    def count(self) -> int:
        """How many records were appended so far (flushed or not)."""
        return self._count

    def flush(self) -> None:
        """Write pending records to disk (one write call per batch)."""
        with self._lock:
            batch, self._pending = self._pending, []
            if self._file is None:
                if batch:
                    raise RuntimeError(f"timeline {self.path} is closed; {len(batch)} records not written")
                return
            if batch:
                self._file.write("".join(
                    (r if isinstance(r, str) else json.dumps(record_to_dict(r))) + "\n" for r in batch))
            self._file.flush()

    def close(self) -> None:
        self.flush()
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def __enter__(self) -> TimelineWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_timeline(path: Path) -> Iterator[TimelineRecord]:
    """Yield every record of a timeline file. A torn last line (a SIGKILLed writer) is
    skipped; any other malformed line raises ``ValueError`` naming the line number."""
    with path.open(encoding="utf-8") as fh:
        lines = fh.readlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield record_from_dict(json.loads(line))
        except (json.JSONDecodeError, TypeError, ValueError) as exc:
            if number == len(lines) and not line.endswith("\n"):
                return
            raise ValueError(f"{path}:{number}: bad timeline record: {exc}") from exc
