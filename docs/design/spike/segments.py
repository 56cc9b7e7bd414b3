"""Segmented Parquet (one file per flush of the live writer) and the end-of-run compaction.

    .venv/bin/python docs/design/spike/segments.py split requests.parquet DIR ROWS_PER_SEGMENT
    .venv/bin/python docs/design/spike/segments.py compact 'DIR/*.parquet' out.parquet

``split`` makes, from a converted file, the segments the run would have left (file order, one
file per ROWS_PER_SEGMENT records: 3 000 ~ a 1 s flush at 3 000 req/s); the checkers then read
``DIR/*.parquet`` directly. ``compact`` is the streaming merge of the segments into one file.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import polars as pl


def main() -> None:
    started = time.perf_counter()
    if sys.argv[1] == "split":
        src, out, rows = Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
        out.mkdir(parents=True, exist_ok=True)
        df = pl.read_parquet(src)
        for i, lo in enumerate(range(0, df.height, rows)):
            df.slice(lo, rows).write_parquet(out / f"part-{i:06d}.parquet", compression="zstd")
        size = sum(f.stat().st_size for f in out.glob("*.parquet"))
        print(f"RESULT seconds={time.perf_counter() - started:.2f} bytes={size} files={i + 1}")
    elif sys.argv[1] == "compact":
        src, dst = sys.argv[2], Path(sys.argv[3])
        pl.scan_parquet(src).sink_parquet(dst, compression="zstd", row_group_size=1_000_000)
        print(f"RESULT seconds={time.perf_counter() - started:.2f} bytes={dst.stat().st_size}")


if __name__ == "__main__":
    main()
