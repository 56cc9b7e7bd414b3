"""Exploration (single runs, figures quoted as such in checkers-at-scale.md): cost of the phase key
type and of quantiles in the availability query. Usage: explore_availability.py requests.parquet VARIANT [ENGINE]
VARIANT: str | code | code-noq | code-1q | code-sort | code-okfirst; events from /tmp/spike/events.jsonl."""
import sys
import time

sys.path.insert(0, str(__import__('pathlib').Path(__file__).resolve().parents[1]))
import polars as pl
from checks_polars import QUANTILES
from common import read_events


def phase_of(ev):
    """The phase's NAME as a String column (what the 'str' variant measures)."""
    expr = pl.lit(None, dtype=pl.String)
    for name, (s, e) in ev.phases.items():
        expr = pl.when((pl.col("t") >= s) & (pl.col("t") < e)).then(pl.lit(name)).otherwise(expr)
    return expr
ev = read_events(__import__('pathlib').Path('/tmp/spike/events.jsonl'))
P = sys.argv[1]
lf = pl.scan_parquet(P)
def phase_code(ev):
    expr = pl.lit(None, dtype=pl.UInt8)
    for i, (name, (s, e)) in enumerate(ev.phases.items()):
        expr = pl.when((pl.col("t") >= s) & (pl.col("t") < e)).then(pl.lit(i, pl.UInt8)).otherwise(expr)
    return expr
variant = sys.argv[2]
t0 = time.perf_counter()
if variant == 'str':
    q = lf.select("service", "ok", "duration", phase_of(ev).alias("phase")).filter(pl.col("phase").is_not_null()).group_by("service","phase").agg(pl.len(), (~pl.col("ok")).sum(), *[pl.col("duration").filter("ok").quantile(q,"equiprobable").alias(f"p{q}") for q in QUANTILES])
elif variant == 'code':
    q = lf.select("service", "ok", "duration", phase_code(ev).alias("phase")).filter(pl.col("phase").is_not_null()).group_by("service","phase").agg(pl.len(), (~pl.col("ok")).sum(), *[pl.col("duration").filter("ok").quantile(q,"equiprobable").alias(f"p{q}") for q in QUANTILES])
elif variant == 'code-noq':
    q = lf.select("service", "ok", "duration", phase_code(ev).alias("phase")).filter(pl.col("phase").is_not_null()).group_by("service","phase").agg(pl.len(), (~pl.col("ok")).sum())
elif variant == 'code-1q':
    q = lf.select("service", "ok", "duration", phase_code(ev).alias("phase")).filter(pl.col("phase").is_not_null()).group_by("service","phase").agg(pl.len(), (~pl.col("ok")).sum(), pl.col("duration").filter("ok").quantile(0.95,"equiprobable"))
elif variant == 'code-sort':
    # sort once, then take by rank within group
    q = (lf.select("service", "ok", "duration", phase_code(ev).alias("phase")).filter(pl.col("phase").is_not_null())
         .group_by("service","phase").agg(pl.len(), (~pl.col("ok")).sum(), d=pl.col("duration").filter("ok").sort())
         .with_columns(*[pl.col("d").list.get((pl.col("d").list.len().cast(pl.Float64) * q).ceil().cast(pl.Int64).clip(1) - 1).alias(f"p{q}") for q in QUANTILES]).drop("d"))
elif variant == 'code-okfirst':
    q = (lf.select("service", "ok", "duration", phase_code(ev).alias("phase")).filter(pl.col("phase").is_not_null())
         .group_by("service","phase").agg(pl.len(), (~pl.col("ok")).sum()))
    q2 = (lf.filter("ok").select("service", "duration", phase_code(ev).alias("phase")).filter(pl.col("phase").is_not_null())
         .group_by("service","phase").agg(*[pl.col("duration").quantile(q,"equiprobable").alias(f"p{q}") for q in QUANTILES]))
    q = q.join(q2, on=["service","phase"])
engine = sys.argv[3] if len(sys.argv) > 3 else "auto"
df = q.collect(engine=engine)
print(variant, engine, f"{time.perf_counter()-t0:.2f}s", df.height)
