"""The read-back as a table, one row per resource found (the form the ledger queries).

Columns: ``key`` (the write key), ``error`` (set when the key could not be read: indeterminate),
``id``, ``version``, ``source``, ``updated`` (and for orders ``authored``, ``subject``,
``downtime``) of one resource found under the key. A key that was read and
found nothing has one row with ``id`` null, so "read, nothing there" (lost) and "not read"
(indeterminate: no row, or ``error`` set) stay apart.

A run writes it as ``readback.parquet`` beside the human-readable ``readback.jsonl`` (one line
per key): parsing nested JSON lines is the slow part at scale (2.5 s for 500 000 keys, against
a few milliseconds for the table). Runs that have only the JSON lines are read from them.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import polars as pl

from harness.readback.lookup import READBACK_FILE, ReadBack

READBACK_TABLE_FILE = "readback.parquet"

READBACK_SCHEMA: dict[str, pl.DataType] = {
    "key": pl.String(), "error": pl.String(), "id": pl.String(), "version": pl.String(), "source": pl.String(),
    "authored": pl.String(), "subject": pl.String(), "downtime": pl.Boolean(), "updated": pl.String()}

_FOUND = pl.Struct({"id": pl.String(), "version": pl.String(), "source": pl.String(), "authored": pl.String(),
                    "subject": pl.String(), "downtime": pl.Boolean(), "updated": pl.String()})
_FILE_SCHEMA: dict[str, pl.DataType] = {"key": pl.String(), "error": pl.String(), "found": pl.List(_FOUND)}


def readback_table(results: Iterable[ReadBack]) -> pl.DataFrame:
    """The table of read-back results held in memory."""
    rows: dict[str, list[str | bool | None]] = {name: [] for name in READBACK_SCHEMA}
    for result in results:
        for found in result.found or (None,):
            rows["key"].append(result.key)
            rows["error"].append(result.error)
            for name in ("id", "version", "source", "authored", "subject", "downtime", "updated"):
                rows[name].append(getattr(found, name) if found else None)
    return pl.DataFrame(rows, schema=READBACK_SCHEMA)


def write_readback_table(path: Path, results: Iterable[ReadBack]) -> None:
    """Write the table of ``results`` as Parquet, atomically (a temporary name, then renamed)."""
    temporary = path.with_name(path.name + ".tmp")
    readback_table(results).write_parquet(temporary, compression="zstd")
    temporary.replace(path)


def scan_run_readback(run_dir: Path) -> pl.LazyFrame | None:
    """The read-back table of the run in ``run_dir``: its ``readback.parquet``, else its
    ``readback.jsonl``; ``None`` if the run has neither (no ledger check, or killed before)."""
    table = run_dir / READBACK_TABLE_FILE
    if table.exists():
        return pl.scan_parquet(table)
    return scan_readback(run_dir / READBACK_FILE)


def scan_readback(path: Path) -> pl.LazyFrame | None:
    """The table of a ``readback.jsonl`` file, or ``None`` if there is none. Raises
    ``ValueError`` naming the file when it cannot be parsed."""
    if not path.exists():
        return None
    if path.stat().st_size == 0:
        return pl.LazyFrame(schema=READBACK_SCHEMA)
    try:
        raw = pl.read_ndjson(path, schema=_FILE_SCHEMA)
    except Exception as exc:  # Polars' own errors name no file
        raise ValueError(f"{path}: unreadable read-back: {exc}") from exc
    # explode: a key with an empty (or absent) list keeps one row whose struct is null
    return raw.lazy().explode("found", empty_as_null=True, keep_nulls=True).unnest("found").select(
        list(READBACK_SCHEMA))
