"""Exploration (single runs): RTO in Polars. Usage: explore_rto_polars.py requests.parquet VARIANT
VARIANT: over (sort(service, t) + .over) | per-service | per-service-presorted (file sorted by t) | numpy."""
import sys
import time

import numpy as np
import polars as pl

F=1795441200.0; W=1.0; thr=0.99
P, v = sys.argv[1], sys.argv[2]


def rto(req, fault_start, window=W, min_success=thr):
    """First version: all services at once, sort(service, t) + .over("service")."""
    s = (req.select("service", "t", "ok").filter(pl.col("t") >= fault_start)
         .sort("service", "t")
         .with_columns(
             i=pl.int_range(pl.len(), dtype=pl.UInt32).over("service"),
             n=pl.len().over("service"),
             cum=(pl.col("ok").cast(pl.UInt32).cum_sum() - pl.col("ok").cast(pl.UInt32)).over("service"),
             end=pl.col("t").search_sorted(pl.col("t") + window, side="left").over("service")))
    s = s.with_columns(ok_in=pl.col("cum").gather(pl.col("end").clip(upper_bound=pl.len() - 1)).over("service"))
    s = s.filter(pl.col("ok") & (pl.col("end") < pl.col("n")))
    s = s.filter((pl.col("ok_in") - pl.col("cum")) >= min_success * (pl.col("end") - pl.col("i")))
    return s.group_by("service").agg(back=pl.col("t").min())
t0=time.perf_counter()
lf = pl.scan_parquet(P)
def one(s, presorted):
    x = lf.filter((pl.col("service") == s) & (pl.col("t") >= F)).select("t", "ok")
    x = x.set_sorted("t") if presorted else x.sort("t")
    n = pl.len()
    cum = pl.col("ok").cast(pl.UInt32).cum_sum() - pl.col("ok").cast(pl.UInt32)
    x = x.with_columns(i=pl.int_range(pl.len(), dtype=pl.UInt32), cum=cum, end=pl.col("t").search_sorted(pl.col("t") + W, side="left"))
    x = x.with_columns(ok_in=pl.col("cum").gather(pl.col("end").clip(upper_bound=pl.len() - 1)), n=pl.len())
    x = x.filter(pl.col("ok") & (pl.col("end") < pl.col("n")) & ((pl.col("ok_in") - pl.col("cum")) >= thr * (pl.col("end") - pl.col("i"))))
    return x.select(pl.lit(s).alias("service"), pl.col("t").min().alias("back"))
services = ["ehr","imaging","labs","messaging","scheduling"]
if v == "over":
    df = rto(lf, F).collect()
elif v == "per-service":
    df = pl.concat(pl.collect_all([one(s, False) for s in services]))
elif v == "per-service-presorted":
    df = pl.concat(pl.collect_all([one(s, True) for s in services]))
elif v == "numpy":
    d = lf.filter(pl.col("t") >= F).select("service", "t", "ok").sort("service", "t").collect()
    out = []
    for (s,), g in d.group_by("service", maintain_order=True):
        t = g["t"].to_numpy(); ok = g["ok"].to_numpy()
        cum = np.concatenate([[0], np.cumsum(ok, dtype=np.int64)])
        i = np.arange(len(t)); end = np.searchsorted(t, t + W, side="left")
        good = ok & (end < len(t)) & ((cum[np.minimum(end, len(t))] - cum[i]) >= thr * (end - i))
        out.append((s, t[np.argmax(good)] if good.any() else None))
    df = pl.DataFrame(out, schema=["service","back"], orient="row")
print(v, f"{time.perf_counter()-t0:.2f}s", sorted((str(a), b - F) for a, b, *_ in df.rows()))
