"""The request records as a table: the columnar form the checkers read (Polars, Parquet).

One column per :class:`~harness.timeline.events.RequestRecord` field (``kind`` dropped: every
row is a request). Types chosen for 10 million rows (docs/design/checkers-at-scale.md):

* ``t``, ``duration``: Float64 (epoch seconds need the 53-bit mantissa);
* ``ok``: Boolean; ``status``: Int16, null when there was no response;
* low-cardinality strings (service, operation, user, error kind...): Categorical, which
  Parquet stores dictionary-encoded and Polars groups on as integers;
* identifiers (resource id, MSH-10, SOP Instance UID, write key): String.

Two ways in: JSON lines exactly as the timeline file holds them (:func:`frame_from_lines`, the
fast path the segment writer uses) and record objects (:func:`frame_from_records`, for tests
and small in-memory timelines). Both give the same frame.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import fields

import polars as pl

from harness.timeline.events import RequestRecord

CATEGORICAL = ("source", "service", "operation", "error", "served_by", "datacenter", "version", "persona", "user",
               "ack_code", "accepted_by", "mode")
"""Few distinct values over a whole run: stored as dictionary codes."""

IDENTIFIERS = ("resource_id", "message_id", "instance_uid", "write_key", "downtime_id", "patient")
"""One value per write: plain strings."""

REQUEST_SCHEMA: dict[str, pl.DataType] = {
    "t": pl.Float64(), "duration": pl.Float64(), "ok": pl.Boolean(), "status": pl.Int16(), "as_of": pl.Float64(),
    **{name: pl.Categorical() for name in CATEGORICAL},
    **{name: pl.String() for name in IDENTIFIERS},
}
"""The request table's columns and types, in a fixed order (every segment has exactly these)."""

# What the JSON parser is told. Polars 2.1 panics on Int16 (and Categorical) while reading
# JSON ("unexpected dtype when deserializing ndjson"): parse wide, cast after.
_JSON_SCHEMA: dict[str, pl.DataType] = {
    name: (pl.Int64() if dtype == pl.Int16() else pl.String() if dtype == pl.Categorical() else dtype)
    for name, dtype in REQUEST_SCHEMA.items()}

_RECORD_FIELDS = tuple(f.name for f in fields(RequestRecord) if f.name != "kind")
assert set(_RECORD_FIELDS) == set(REQUEST_SCHEMA), "REQUEST_SCHEMA must list every RequestRecord field"


def empty_frame() -> pl.DataFrame:
    """A request table with no rows (a run without any request)."""
    return pl.DataFrame(schema=REQUEST_SCHEMA)


def frame_from_lines(lines: Sequence[str]) -> pl.DataFrame:
    """The request table of JSON lines (request records as the timeline writes them; keys absent
    from a line are null; ``kind`` and unknown keys are ignored)."""
    if not lines:
        return empty_frame()
    data = io.BytesIO("\n".join(lines).encode("utf-8"))
    # The parser only reads the schema's keys: "kind" and any key a newer writer adds are skipped.
    frame = pl.read_ndjson(data, schema=_JSON_SCHEMA, ignore_errors=False)
    return _typed(frame)


def frame_from_records(records: Iterable[RequestRecord]) -> pl.DataFrame:
    """The request table of record objects (any order; rows keep it)."""
    columns: dict[str, list[object]] = {name: [] for name in _RECORD_FIELDS}
    for record in records:
        for name in _RECORD_FIELDS:
            columns[name].append(getattr(record, name))
    if not columns["t"]:
        return empty_frame()
    return _typed(pl.DataFrame(columns, schema=_JSON_SCHEMA))


def records_of(frame: pl.DataFrame) -> list[RequestRecord]:
    """Back to record objects (for small frames: evidence, tests)."""
    return [RequestRecord(**{k: v for k, v in row.items() if v is not None})
            for row in frame.select(_RECORD_FIELDS).iter_rows(named=True)]


def _typed(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select(pl.col(name).cast(dtype) for name, dtype in REQUEST_SCHEMA.items())
