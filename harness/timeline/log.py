"""The run's append-only timeline, written from many threads.

Contract: :meth:`TimelineWriter.append` is thread-safe and cheap (a lock and a list
append); records are written to disk in batches by :meth:`flush`, which the owner calls
periodically and at close. Nothing appended before ``close()`` is lost. Readers get the
records in file order, which is append order (not necessarily ``t`` order: a request is
appended when it finishes, with ``t`` = its start).

Three forms, beside each other in the run folder, written in the same order under one lock:

* ``timeline.jsonl``: every record, one JSON line each -- the crash-safe journal;
* ``events.jsonl``: the records that are not requests (phases, faults, processes, halts): a
  few hundred lines the checkers read without scanning millions of requests;
* ``requests/part-*.parquet``: the request records in columns, one segment per
  :data:`~harness.timeline.segments.SEGMENT_ROWS` requests or per
  :data:`~harness.timeline.segments.SEGMENT_SECONDS` of them, whichever comes first, and one
  at close (:mod:`harness.timeline.segments`), what the checkers scan.

Memory: the request lines not yet in a segment are held until their segment is written, so a
run holds at most ``min(SEGMENT_ROWS, rate x SEGMENT_SECONDS)`` of them (~390 bytes each as
Python strings): ~1 MB at the flagship's 40 requests/s, ~40 MB at 3 000/s. Without the time
bound a soak at 40 requests/s held every line for 40 minutes before its first segment.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO

from harness.timeline.events import RequestRecord, TimelineRecord, record_from_dict, record_to_dict
from harness.timeline.segments import REQUESTS_DIR, SEGMENT_ROWS, SEGMENT_SECONDS, write_manifest, write_segment

TIMELINE_FILE = "timeline.jsonl"
EVENTS_FILE = "events.jsonl"


class TimelineWriter:
    """Appends records to ``path`` (and its sibling ``events.jsonl`` and ``requests/``); call
    :meth:`close` (or use as a context manager). ``clock``: seconds, monotonic (tests)."""

    def __init__(self, path: Path, *, segment_rows: int = SEGMENT_ROWS, segment_seconds: float = SEGMENT_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self.events_path = path.with_name(EVENTS_FILE)
        self.requests_dir = path.with_name(REQUESTS_DIR)
        self._segment_rows = segment_rows
        self._segment_seconds = segment_seconds
        self._clock = clock
        self._oldest_line_at = 0.0  # when the oldest request line not yet in a segment was journaled
        self._lock = threading.Lock()
        # Segments are written by one worker thread (0.1-0.2 s per 100k rows, mostly outside the
        # GIL), so that the caller of flush() -- the runner's clock loop -- never waits for one.
        self._segment_writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="timeline-segments")
        self._segment_futures: list[Future[None]] = []
        self._pending: list[TimelineRecord | str] = []
        self._file: IO[str] | None = path.open("a", encoding="utf-8")
        self._events: IO[str] = self.events_path.open("a", encoding="utf-8")
        self._count = 0
        self._request_lines: list[str] = []  # journaled, not yet in a segment
        self._requests = 0  # request records journaled
        self._segments = 0  # segment numbers handed out
        self._segment_error: str | None = None

    def append(self, record: TimelineRecord) -> None:
        with self._lock:
            self._pending.append(record)
            self._count += 1

    def append_encoded(self, lines: list[str]) -> None:
        """Append request records already encoded as JSON lines (no trailing newline), exactly
        as :meth:`append` would have written them. For high-rate producers that validated the
        lines themselves (the load's records): it skips decoding into dataclasses and
        encoding again. Only request records: they go to the request segments unread."""
        with self._lock:
            self._pending.extend(lines)
            self._count += len(lines)

    @property
    def count(self) -> int:
        """How many records were appended so far (flushed or not)."""
        return self._count

    def flush(self) -> None:
        """Write pending records to disk (one write call per file and batch); every
        ``segment_rows`` requests, or when the oldest request not yet in a segment was
        journaled ``segment_seconds`` ago, also write a request segment."""
        with self._lock:
            batch, self._pending = self._pending, []
            if self._file is None:
                if batch:
                    raise RuntimeError(f"timeline {self.path} is closed; {len(batch)} records not written")
                return
            if batch:
                if not self._request_lines:
                    self._oldest_line_at = self._clock()
                lines: list[str] = []
                events: list[str] = []
                for record in batch:
                    if isinstance(record, str):
                        lines.append(record)
                        self._request_lines.append(record)
                        continue
                    line = json.dumps(record_to_dict(record))
                    lines.append(line)
                    if isinstance(record, RequestRecord):
                        self._request_lines.append(line)
                    else:
                        events.append(line)
                self._requests += len(batch) - len(events)
                self._file.write("\n".join(lines) + "\n")
                if events:
                    self._events.write("\n".join(events) + "\n")
                    self._events.flush()
            self._file.flush()
            if len(self._request_lines) >= self._segment_rows or (
                    self._request_lines and self._clock() - self._oldest_line_at >= self._segment_seconds):
                self._submit_segment()

    def checkpoint(self) -> None:
        """Flush, then put every journaled request into segments now and wait until they are
        written (the read-back calls it so that the request table covers the whole run so far)."""
        self.flush()
        with self._lock:
            if self._request_lines:
                self._submit_segment()
            futures, self._segment_futures = self._segment_futures, []
        for future in futures:
            future.result()

    @property
    def segment_error(self) -> str | None:
        """Why request segments stopped being written, if they did (the journal is unaffected:
        readers rebuild the request table from it)."""
        return self._segment_error

    def close(self) -> None:
        if self._file is None:
            return
        self.checkpoint()
        self._segment_writer.shutdown(wait=True)
        with self._lock:
            if self._file is not None:
                if self._segment_error is None:
                    write_manifest(self.requests_dir, self._requests, self._segments)
                self._file.close()
                self._events.close()
                self._file = None

    def _submit_segment(self) -> None:
        """Under the lock: queue the pending request lines as the next segment. One worker
        writes them in submission order, so the segments' order is the journal's."""
        number, lines = self._segments, self._request_lines
        self._segments, self._request_lines = number + 1, []
        self._segment_futures = [f for f in self._segment_futures if not f.done()]
        self._segment_futures.append(self._segment_writer.submit(self._write_segment, number, lines))

    def _write_segment(self, number: int, lines: list[str]) -> None:
        """On the worker thread (the only one that writes segments)."""
        if self._segment_error is not None:
            return  # after a gap, later segments would be misplaced: the reader uses the journal
        try:
            write_segment(self.requests_dir, number, lines)
        except Exception as exc:  # disk full, ...: the journal has the records; never fail the run for it
            self._segment_error = f"request segment {number}: {type(exc).__name__}: {exc}"

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
