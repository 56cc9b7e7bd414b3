"""JSONL -> Parquet conversion of the request records, one variant per process (run it under
``/usr/bin/time -v`` for the peak RSS).

    .venv/bin/python docs/design/spike/convert.py VARIANT timeline.jsonl out.parquet

Variants:
  polars          scan_ndjson(schema).filter(kind == request).cast(Categorical).sink_parquet  (streaming)
  polars-sorted   the same, sorted by t (file order is completion order, not t order)
  polars-plain    the same as polars, strings left as String (Parquet still dictionary-encodes them)
  polars-lowmem   the same as polars with scan_ndjson(low_memory=True) and 100 000-row row groups
  duckdb          COPY (SELECT ... FROM read_json(..., columns=...)) TO parquet
  duckdb-sorted   the same with ORDER BY t
  pyarrow         pyarrow.json.open_json (streaming reader) -> ParquetWriter, batch by batch
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).parent))
from common import CATEGORICAL, JSON_SCHEMA

ROW_GROUP = 1_000_000


def polars_convert(src: Path, dst: Path, *, sort: bool, categorical: bool, low_memory: bool = False) -> None:
    lf = pl.scan_ndjson(src, schema=JSON_SCHEMA, low_memory=low_memory).filter(pl.col("kind") == "request").drop("kind")
    casts = [pl.col("status").cast(pl.Int16)]
    if categorical:
        casts.append(pl.col(CATEGORICAL).cast(pl.Categorical))
    lf = lf.with_columns(casts)
    if sort:
        lf = lf.sort("t")
    lf.sink_parquet(dst, compression="zstd", row_group_size=100_000 if low_memory else ROW_GROUP)


DUCK_COLUMNS = ("{kind: 'VARCHAR', t: 'DOUBLE', duration: 'DOUBLE', source: 'VARCHAR', service: 'VARCHAR', "
                "operation: 'VARCHAR', ok: 'BOOLEAN', status: 'SMALLINT', error: 'VARCHAR', served_by: 'VARCHAR', "
                "datacenter: 'VARCHAR', resource_id: 'VARCHAR', version: 'VARCHAR', persona: 'VARCHAR', "
                "user: 'VARCHAR', message_id: 'VARCHAR', ack_code: 'VARCHAR', instance_uid: 'VARCHAR'}")


def duckdb_convert(src: Path, dst: Path, *, sort: bool) -> None:
    import duckdb

    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = " + ("true" if not sort else "false"))
    order = " ORDER BY t" if sort else ""
    con.execute(f"""
        COPY (SELECT * EXCLUDE (kind) FROM read_json('{src}', format = 'newline_delimited',
                                                     columns = {DUCK_COLUMNS})
              WHERE kind = 'request'{order})
        TO '{dst}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {ROW_GROUP})""")


def pyarrow_convert(src: Path, dst: Path) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.json as pj
    import pyarrow.parquet as pq

    arrow = {pl.String: pa.string(), pl.Float64: pa.float64(), pl.Boolean: pa.bool_(), pl.Int64: pa.int16()}
    fields = [pa.field(k, arrow[type(v)]) for k, v in JSON_SCHEMA.items()]
    schema = pa.schema(fields)
    reader = pj.open_json(src, read_options=pj.ReadOptions(block_size=16 << 20),
                          parse_options=pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore"))
    out_schema = pa.schema([pa.field(f.name, pa.dictionary(pa.int32(), pa.string()) if f.name in CATEGORICAL
                                     else f.type) for f in fields if f.name != "kind"])
    with pq.ParquetWriter(dst, out_schema, compression="zstd") as writer:
        for batch in reader:
            batch = batch.filter(pc.equal(batch.column("kind"), "request"))
            cols = [pc.dictionary_encode(batch.column(f.name)) if f.name in CATEGORICAL else batch.column(f.name)
                    for f in out_schema]
            writer.write_batch(pa.record_batch(cols, schema=out_schema))


def main() -> None:
    variant, src, dst = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    started = time.perf_counter()
    if variant.startswith("polars"):
        polars_convert(src, dst, sort=variant == "polars-sorted", categorical=variant != "polars-plain",
                       low_memory=variant == "polars-lowmem")
    elif variant.startswith("duckdb"):
        duckdb_convert(src, dst, sort=variant == "duckdb-sorted")
    elif variant == "pyarrow":
        pyarrow_convert(src, dst)
    else:
        raise SystemExit(f"unknown variant {variant}")
    print(f"RESULT seconds={time.perf_counter() - started:.2f} bytes={dst.stat().st_size}")


if __name__ == "__main__":
    main()
