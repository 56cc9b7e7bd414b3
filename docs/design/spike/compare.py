"""Cross-checks of the spike's answers: Polars vs DuckDB (dumped with SPIKE_DUMP=dir), and
both vs the harness's own pure-Python checker functions on two services.

    SPIKE_DUMP=/tmp/spike/out_pl .venv/bin/python docs/design/spike/checks_polars.py ... all
    SPIKE_DUMP=/tmp/spike/out_duck .venv/bin/python docs/design/spike/checks_duckdb.py ... all
    .venv/bin/python docs/design/spike/compare.py /tmp/spike/out_pl /tmp/spike/out_duck requests.parquet events.jsonl
"""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))
from common import RTO_MIN_SUCCESS, RTO_WINDOW, read_events  # noqa: E402

from harness.checks.failover import first_sustained_success  # noqa: E402
from harness.checks.windows import percentile  # noqa: E402
from harness.timeline.events import RequestRecord  # noqa: E402


def norm(df: pl.DataFrame) -> pl.DataFrame:
    df = df.with_columns(pl.col(pl.Categorical).cast(pl.String))
    if "p" in df.columns:  # DuckDB's list of quantiles
        df = df.with_columns(p50=pl.col("p").list.get(0), p95=pl.col("p").list.get(1),
                             p99=pl.col("p").list.get(2)).drop("p")
    for c in df.columns:
        if df[c].dtype.is_integer():
            df = df.with_columns(pl.col(c).cast(pl.Int64))
        if df[c].dtype == pl.List(pl.Categorical):
            df = df.with_columns(pl.col(c).cast(pl.List(pl.String)))
    return df


def main() -> None:
    a_dir, b_dir, requests, events = (Path(p) for p in sys.argv[1:5])
    ok = True
    for f in sorted(a_dir.glob("*.parquet")):
        a = norm(pl.read_parquet(f))
        b = norm(pl.read_parquet(b_dir / f.name))
        b = b.select(a.columns)
        same = a.equals(b)
        if not same and a.shape == b.shape:
            diffs = [c for c in a.columns if not (a[c].dtype.is_float() and (a[c] - b[c]).abs().max() < 1e-9)
                     and not a[c].equals(b[c])]
            same = not diffs
            note = f" (differs in {diffs})" if diffs else " (equal within 1e-9)"
        else:
            note = "" if same else f" shapes {a.shape} vs {b.shape}"
        ok &= same
        print(f"{f.stem:<20} rows {a.height:>8}  polars == duckdb: {same}{note}")

    ev = read_events(events)
    start = ev.injects["dc-a-power-loss"][0]
    rto = pl.read_parquet(a_dir / "rto.parquet")
    av = pl.read_parquet(a_dir / "availability.parquet").with_columns(pl.col(pl.Categorical).cast(pl.String))
    for service in ("imaging", "messaging"):
        rows = (pl.scan_parquet(requests).filter(pl.col("service") == service)
                .select("t", "duration", "ok", "service").sort("t").collect())
        recs = [RequestRecord(t=r["t"], duration=r["duration"], source="load", service=service, operation="x",
                              ok=r["ok"]) for r in rows.iter_rows(named=True)]
        back = first_sustained_success(recs, start, RTO_WINDOW, RTO_MIN_SUCCESS)
        ours = rto.filter(pl.col("service").cast(pl.String) == service)["back"].item()
        print(f"rto {service:<10} harness {back - start if back else None:.6f}  polars {ours - start:.6f}  "
              f"equal: {back == ours}")
        ok &= back == ours
        s, e = ev.phases["faults"]
        durations = sorted(r.duration for r in recs if r.ok and s <= r.t < e)
        ref = percentile(durations, 0.95)
        got = av.filter((pl.col("service") == service) & (pl.col("phase") == "faults"))["p95"].item()
        print(f"p95 {service:<10} harness {ref:.9f}  polars {got:.9f}  equal: {ref == got}")
        ok &= ref == got
    print("ALL EQUAL" if ok else "DIFFERENCES FOUND")


if __name__ == "__main__":
    main()
