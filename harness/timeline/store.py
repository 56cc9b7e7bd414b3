"""Reading a run's timeline back from its folder, for the checkers: requests as a lazy table,
everything else as a short list of records.

A folder closed cleanly has a manifest whose request count its segments match: the requests are
scanned straight from the Parquet segments and the events read from ``events.jsonl``; nothing
reads the (large) journal. Otherwise -- the harness was killed, a segment could not be written,
or the run predates segments -- the segments that exist in order are kept and the requests after
them are rebuilt from the journal, which is the reference: the result is the same table, only
slower to get (the whole journal is read once).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from harness.timeline.columns import REQUEST_SCHEMA, empty_frame, frame_from_lines, frame_from_records
from harness.timeline.events import RequestRecord, TimelineRecord, record_from_dict
from harness.timeline.log import EVENTS_FILE, TIMELINE_FILE, read_timeline
from harness.timeline.segments import REQUESTS_DIR, read_manifest, segment_path, segment_rows

_REBUILD_CHUNK = 100_000
_SEGMENT_NAME = re.compile(r"part-(\d{6})\.parquet")
# Every request line holds one of these (the harness's json.dumps, the load's compact encoding);
# inside a string value the quotes would be escaped, so a line holding one is a request record.
_REQUEST_MARKS = (b'"kind": "request"', b'"kind":"request"')


@dataclass(frozen=True)
class RunTimeline:
    """A run's timeline as the checkers read it.

    ``requests``: every request record, as a lazy table of
    :data:`~harness.timeline.columns.REQUEST_SCHEMA` (journal order); ``events``: every other
    record, in journal order; ``rebuilt``: how many requests had to be rebuilt from the journal
    (0 for a cleanly closed run)."""

    requests: pl.LazyFrame
    events: list[TimelineRecord]
    rebuilt: int = 0

    @classmethod
    def from_records(cls, records: list[TimelineRecord] | tuple[TimelineRecord, ...]) -> RunTimeline:
        """The same view of records held in memory (tests, small timelines)."""
        requests = [r for r in records if isinstance(r, RequestRecord)]
        return cls(frame_from_records(requests).lazy(), [r for r in records if not isinstance(r, RequestRecord)])


def load_run_timeline(run_dir: Path) -> RunTimeline:
    """The timeline of the run in ``run_dir`` (see the module's docstring for the two paths).
    Raises ``FileNotFoundError`` if the folder has no timeline at all and ``ValueError`` naming
    the file and line for a corrupt record (a torn last line is skipped)."""
    journal = run_dir / TIMELINE_FILE
    folder = run_dir / REQUESTS_DIR
    segments = _contiguous_segments(folder)
    manifest = read_manifest(folder)
    events_path = run_dir / EVENTS_FILE
    if (manifest is not None and manifest["segments"] == len(segments) and events_path.exists()
            and segment_rows(segments) == manifest["requests"]):
        requests = pl.scan_parquet(segments) if segments else empty_frame().lazy()
        return RunTimeline(requests, list(read_timeline(events_path)))
    if not journal.exists():
        raise FileNotFoundError(f"{journal}: no timeline in {run_dir}")
    return _rebuild(journal, segments)


def _contiguous_segments(folder: Path) -> list[Path]:
    """Segments 0, 1, 2, ... up to the first missing number (later ones cannot be placed)."""
    numbers = sorted(int(m.group(1)) for p in folder.glob("part-*.parquet") if (m := _SEGMENT_NAME.fullmatch(p.name)))
    kept: list[Path] = []
    for expected, number in enumerate(numbers):
        if number != expected:
            break
        kept.append(segment_path(folder, number))
    return kept


def _rebuild(journal: Path, segments: list[Path]) -> RunTimeline:
    covered = segment_rows(segments)
    events: list[TimelineRecord] = []
    chunks: list[pl.DataFrame] = []
    pending: list[str] = []
    seen = 0
    for number, line, is_request in _journal_lines(journal):
        if is_request:
            seen += 1
            if seen > covered:
                pending.append(line)
                if len(pending) >= _REBUILD_CHUNK:
                    chunks.append(_frame(journal, pending))
                    pending = []
            continue
        try:
            events.append(record_from_dict(json.loads(line)))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{journal}:{number}: bad timeline record: {exc}") from exc
    if pending:
        chunks.append(_frame(journal, pending))
    if seen < covered:
        raise ValueError(f"{journal}: the journal has {seen} requests but its segments {covered}: "
                         "the segments are not this run's")
    frames = [pl.scan_parquet(segments)] if segments else []
    frames += [chunk.lazy() for chunk in chunks]
    requests = pl.concat(frames, how="vertical") if frames else pl.LazyFrame(schema=REQUEST_SCHEMA)
    return RunTimeline(requests, events, rebuilt=seen - covered)


def _journal_lines(journal: Path) -> Iterator[tuple[int, str, bool]]:
    """(line number, line, is a request) for every non-blank line. Only the last line can lack
    its newline; if it is also not valid JSON, the writer was killed mid-write and it is skipped."""
    with journal.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            if not raw.endswith(b"\n"):
                try:
                    json.loads(raw)
                except ValueError:
                    return
            yield number, raw.decode("utf-8"), _is_request(raw)


def _is_request(line: bytes) -> bool:
    return _REQUEST_MARKS[0] in line or _REQUEST_MARKS[1] in line


def _frame(journal: Path, lines: list[str]) -> pl.DataFrame:
    try:
        return frame_from_lines(lines)
    except Exception as exc:  # Polars names no line: find the culprit for the message
        for line in lines:
            try:
                record_from_dict(json.loads(line))
            except (ValueError, TypeError) as bad:
                raise ValueError(f"{journal}: bad request record {line[:200]!r}: {bad}") from exc
        raise ValueError(f"{journal}: request records unreadable as a table: {exc}") from exc
