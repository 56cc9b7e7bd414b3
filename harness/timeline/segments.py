"""Parquet segments of the request table, written during the run beside the JSON-lines journal.

The JSON-lines timeline stays the crash-safe journal (every line is readable the moment it is
written). The checkers read the requests from ``requests/part-NNNNNN.parquet`` instead: 18 times
smaller and read column by column, which is what makes 10 million requests checkable in seconds
(docs/design/checkers-at-scale.md). Contract:

* segments hold the request records in journal order, numbered from 0 with no gap;
* a segment is whole or absent: written to a temporary name, fsynced, then renamed (a Parquet
  file is unreadable until its footer is written, so one file held open for the run would be
  lost whole by a SIGKILL);
* ``requests/manifest.json`` is written last, at close, with the number of request rows: a
  folder with a manifest whose count matches its segments is complete. Without one (a killed
  run, or a run from before segments existed) the reader rebuilds the tail from the journal
  (:mod:`harness.timeline.store`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from harness.timeline.columns import frame_from_lines

REQUESTS_DIR = "requests"
MANIFEST_FILE = "manifest.json"
SEGMENT_ROWS = 100_000
"""Requests per segment: ~35 s of a 3 000 req/s run, ~30 MB of pending lines, ~0.15 s to write.
Much smaller segments slow the checkers down (3 000-row segments doubled their time)."""
SEGMENT_SECONDS = 60.0
"""...or a segment at least every minute: at a soak's few dozen requests/s SEGMENT_ROWS takes
most of an hour, and the writer holds every pending line meanwhile (the runner's memory grew
~1 MB a minute). At 40 req/s this gives 2 400-row segments, 60 an hour."""


def segment_path(folder: Path, number: int) -> Path:
    return folder / f"part-{number:06d}.parquet"


def segment_paths(folder: Path) -> list[Path]:
    """The folder's segments in order (temporary files of an interrupted write excluded)."""
    return sorted(folder.glob("part-*.parquet"))


def write_segment(folder: Path, number: int, lines: Sequence[str]) -> Path:
    """Write request ``lines`` (JSON) as segment ``number``, atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    final = segment_path(folder, number)
    temporary = final.with_name(final.name + ".tmp")
    frame_from_lines(lines).write_parquet(temporary, compression="zstd", statistics=True)
    with temporary.open("rb") as fh:
        os.fsync(fh.fileno())
    os.replace(temporary, final)
    return final


def segment_rows(paths: Sequence[Path]) -> int:
    """Rows in the segments, from their footers (no data read)."""
    if not paths:
        return 0
    return int(pl.scan_parquet(list(paths)).select(pl.len()).collect().item())


def write_manifest(folder: Path, requests: int, segments: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    temporary = folder / (MANIFEST_FILE + ".tmp")
    temporary.write_text(json.dumps({"requests": requests, "segments": segments}) + "\n", encoding="utf-8")
    os.replace(temporary, folder / MANIFEST_FILE)


def read_manifest(folder: Path) -> dict[str, int] | None:
    """The manifest, or ``None`` if absent or unreadable (then the folder is treated as incomplete)."""
    try:
        data = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
        return {"requests": int(data["requests"]), "segments": int(data["segments"])}
    except (OSError, ValueError, KeyError, TypeError):
        return None
