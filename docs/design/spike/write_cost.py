"""Live-writing cost per request record: today's JSON-lines writer versus Parquet segments
written during the run (one file per flush, written to a temporary name and renamed, so a
crash loses at most the records not yet flushed, as with JSON lines).

    .venv/bin/python docs/design/spike/write_cost.py /tmp/spike_small/timeline.jsonl /tmp/spike_seg

Each variant encodes the same 200 000 records in batches of BATCH (a flush), best of 3.
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.json as pj
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))
from common import CATEGORICAL  # noqa: E402

from harness.timeline.events import RequestRecord, record_from_dict, record_to_dict  # noqa: E402

FIELDS = ["t", "duration", "source", "service", "operation", "ok", "status", "error", "served_by", "datacenter",
          "resource_id", "version", "persona", "user", "message_id", "ack_code", "instance_uid"]
ARROW = pa.schema([pa.field(f, pa.float64() if f in ("t", "duration") else pa.bool_() if f == "ok"
                            else pa.int16() if f == "status" else pa.string()) for f in FIELDS])
BATCH = int(os.environ.get("BATCH", "3000"))  # ~1 s of records at 3 000 req/s


def best(fn, reps: int = 3) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    src, out = Path(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    lines = [ln for ln in src.read_text(encoding="utf-8").splitlines() if '"kind": "request"' in ln][:200_000]
    records = [record_from_dict(json.loads(ln)) for ln in lines]
    n = len(records)
    batches = [records[i:i + BATCH] for i in range(0, n, BATCH)]
    line_batches = [lines[i:i + BATCH] for i in range(0, n, BATCH)]

    def jsonl() -> None:
        with (out / "t.jsonl").open("w", encoding="utf-8") as fh:
            for b in batches:
                fh.write("".join(json.dumps(record_to_dict(r)) + "\n" for r in b))
                fh.flush()

    def segment(table: pa.Table, i: int) -> None:
        tmp = out / f".part-{i:06d}.parquet.tmp"
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, out / f"part-{i:06d}.parquet")

    def parquet_from_records() -> None:
        for i, b in enumerate(batches):
            cols = {f: [getattr(r, f) for r in b] for f in FIELDS}
            segment(pa.table(cols, schema=ARROW), i)

    def parquet_from_lines_pyarrow() -> None:
        opts = pj.ParseOptions(explicit_schema=pa.schema([*ARROW, pa.field("kind", pa.string())]))
        for i, b in enumerate(line_batches):
            table = pj.read_json(io.BytesIO(("\n".join(b) + "\n").encode()), parse_options=opts).drop_columns(["kind"])
            segment(table, i)

    def parquet_from_lines_polars() -> None:
        schema = {f: pl.Float64 if f in ("t", "duration") else pl.Boolean if f == "ok" else pl.Int64 if f == "status"
                  else pl.String for f in FIELDS}
        for i, b in enumerate(line_batches):
            df = pl.read_ndjson(io.BytesIO(("\n".join(b) + "\n").encode()), schema=schema)
            df = df.with_columns(pl.col("status").cast(pl.Int16), pl.col(CATEGORICAL).cast(pl.Categorical))
            tmp = out / f".part-{i:06d}.parquet.tmp"
            df.write_parquet(tmp, compression="zstd")
            os.replace(tmp, out / f"part-{i:06d}.parquet")

    for name, fn in [("jsonl (today: json.dumps per record)", jsonl),
                     ("parquet segments from records", parquet_from_records),
                     ("parquet segments from JSON lines (pyarrow)", parquet_from_lines_pyarrow),
                     ("parquet segments from JSON lines (polars)", parquet_from_lines_polars)]:
        for f in out.glob("*"):
            f.unlink()
        seconds = best(fn)
        size = sum(f.stat().st_size for f in out.glob("*"))
        print(f"{name:<46} {seconds / n * 1e6:6.2f} us/record  {size / n:6.1f} B/record  "
              f"batch {BATCH}  files {len(list(out.glob('*')))}")
    print(f"RESULT records={n} batch={BATCH}")
    _ = RequestRecord  # the record type the writer receives


if __name__ == "__main__":
    main()
