"""The checkers of the spike written with Polars (lazy, projection pushed into the scan).

    .venv/bin/python docs/design/spike/checks_polars.py requests.parquet events.jsonl readback.parquet WHICH

WHICH: availability | rto | ledger | stale | reconnect | split_brain | blast | all (collect_all of every
query: common sub-plans are shared) | all-seq (one collect per checker, same process) | all-mem (the
needed columns collected once, every query on that DataFrame) | WHICH-json (the same straight from
timeline.jsonl, no Parquet). Optional 5th argument: the polars engine (auto | streaming | in-memory).
Prints ``RESULT seconds=...`` and a digest of each answer (SPIKE_DUMP=dir also writes every answer as
Parquet, for compare.py).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).parent))
from common import (
    ALL_WRITES,
    CATEGORICAL,
    FHIR_READS,
    FHIR_WRITES,
    HL7_WRITES,
    JSON_SCHEMA,
    RECONNECT_BOUND,
    RTO_MIN_SUCCESS,
    RTO_WINDOW,
    SERVICES,
    STOW_WRITES,
    Events,
    read_events,
)

QUANTILES = [0.5, 0.95, 0.99]


def phase_of(ev: Events) -> pl.Expr:
    """The phase's index (UInt8) in ``ev.phases``, null outside every phase. An integer code, not
    the phase's name: a 10M-row String column costs ~0.25 s and ~370 MB more in the group_by
    (explore/explore_availability.py)."""
    expr = pl.lit(None, dtype=pl.UInt8)
    for i, (start, end) in enumerate(ev.phases.values()):
        expr = pl.when((pl.col("t") >= start) & (pl.col("t") < end)).then(pl.lit(i, pl.UInt8)).otherwise(expr)
    return expr


def availability(req: pl.LazyFrame, ev: Events) -> pl.LazyFrame:
    """Per service and phase: requests, errors, error rate, p50/p95/p99 of successful requests'
    durations (nearest rank = 'equiprobable', as harness/checks/windows.percentile)."""
    names = pl.Series(list(ev.phases), dtype=pl.String)
    return (req.select("service", "ok", "duration", phase_of(ev).alias("phase"))
            .filter(pl.col("phase").is_not_null())
            .group_by("service", "phase")
            .agg(requests=pl.len(), errors=(~pl.col("ok")).sum(),
                 # one quantile expression per q: a list of quantiles is rejected in group_by (polars 2.1)
                 **{f"p{round(q * 100)}": pl.col("duration").filter("ok").quantile(q, "equiprobable")
                    for q in QUANTILES})
            .with_columns(error_rate=pl.col("errors") / pl.col("requests"),
                          phase=pl.lit(names).gather(pl.col("phase")))
            .sort("service", "phase"))


def rto_of(req: pl.LazyFrame, service: str, fault_start: float, window: float = RTO_WINDOW,
           min_success: float = RTO_MIN_SUCCESS, presorted: bool = False) -> pl.LazyFrame:
    """Start of the first window [t_i, t_i + window) at/after the fault's start that begins with
    a success, has success rate >= min_success and is fully observed (a request at or after its
    end) -- exactly harness.checks.failover.first_sustained_success, vectorised: prefix sums of
    successes + search_sorted for each window's end. One query per service (a sort on t alone,
    and no .over()): 1.7 s and 0.3 GB for the five services, against 2.2 s and 0.75 GB with
    sort(service, t) + .over("service") (explore/explore_rto_polars.py)."""
    s = req.filter((pl.col("service") == service) & (pl.col("t") >= fault_start)).select("t", "ok")
    s = s.set_sorted("t") if presorted else s.sort("t")
    ok = pl.col("ok").cast(pl.UInt32)
    s = s.with_columns(i=pl.int_range(pl.len(), dtype=pl.UInt32), n=pl.len(),
                       cum=ok.cum_sum() - ok,  # successes before row i
                       end=pl.col("t").search_sorted(pl.col("t") + window, side="left"))
    s = s.with_columns(ok_at_end=pl.col("cum").gather(pl.col("end").clip(upper_bound=pl.len() - 1)))
    s = s.filter(pl.col("ok") & (pl.col("end") < pl.col("n"))  # end == n: not fully observed
                 & ((pl.col("ok_at_end") - pl.col("cum")) >= min_success * (pl.col("end") - pl.col("i"))))
    return s.select(service=pl.lit(service), back=pl.col("t").min(), rto=pl.col("t").min() - fault_start)


def rto(req: pl.LazyFrame, fault_start: float, services: list[str] = SERVICES) -> pl.LazyFrame:
    return pl.concat([rto_of(req, s, fault_start) for s in services]).sort("service")


def acked_writes(req: pl.LazyFrame) -> pl.LazyFrame:
    """Every acknowledged write, one row per (system, key) with the highest acknowledged version."""
    w = req.filter(pl.col("ok") & pl.col("operation").is_in(ALL_WRITES)).select(
        "operation", "resource_id", "version", "message_id", "ack_code", "instance_uid", "t", "duration")
    fhir = (w.filter(pl.col("operation").is_in(FHIR_WRITES) & pl.col("resource_id").is_not_null())
            .select(pl.lit("fhir").alias("system"), pl.col("resource_id").alias("key"),
                    pl.col("version").cast(pl.String).cast(pl.Int32, strict=False)))
    hl7 = (w.filter(pl.col("operation").is_in(HL7_WRITES) & pl.col("ack_code").is_in(["AA", "CA"]))
           .select(pl.lit("hl7").alias("system"), pl.col("message_id").alias("key"),
                   pl.lit(1, pl.Int32).alias("version")))
    stow = (w.filter(pl.col("operation").is_in(STOW_WRITES))
            .select(pl.lit("dicom").alias("system"), pl.col("instance_uid").alias("key"),
                    pl.lit(1, pl.Int32).alias("version")))
    return (pl.concat([fhir, hl7, stow]).group_by("system", "key")
            .agg(version=pl.col("version").max(), acks=pl.len()))


def ledger(req: pl.LazyFrame, readback: pl.LazyFrame) -> dict[str, pl.LazyFrame]:
    acked = acked_writes(req)
    rb = readback.group_by("system", "key").agg(rb_version=pl.col("version").max(), copies=pl.len())
    return {
        "lost": acked.join(rb, on=["system", "key"], how="anti").sort("system", "key"),
        "stale": acked.join(rb, on=["system", "key"], how="inner")
        .filter(pl.col("rb_version") < pl.col("version")).sort("system", "key"),
        "duplicated": rb.filter(pl.col("copies") > 1).sort("system", "key"),
        "unexpected": rb.join(acked, on=["system", "key"], how="anti").sort("system", "key"),
    }


def stale_reads(req: pl.LazyFrame) -> pl.LazyFrame:
    """Successful reads that returned an older version than one already acknowledged (ack =
    t + duration <= the read's start) for the same resource. As-of join, so a hot resource
    (many versions x many reads) costs n log n, not reads x writes."""
    writes = (req.filter(pl.col("ok") & pl.col("operation").is_in(FHIR_WRITES) & pl.col("version").is_not_null())
              .select("resource_id", ack=pl.col("t") + pl.col("duration"),
                      acked_version=pl.col("version").cast(pl.String).cast(pl.Int32, strict=False))
              .sort("ack")
              .with_columns(pl.col("acked_version").cum_max().over("resource_id")))
    reads = (req.filter(pl.col("ok") & pl.col("operation").is_in(FHIR_READS) & pl.col("version").is_not_null())
             .select("resource_id", "t", "user",
                     read_version=pl.col("version").cast(pl.String).cast(pl.Int32, strict=False))
             .sort("t"))
    return (reads.join_asof(writes, left_on="t", right_on="ack", by="resource_id", strategy="backward",
                            check_sortedness=False)
            .filter(pl.col("read_version") < pl.col("acked_version"))
            .select("t", "resource_id", "user", "read_version", "acked_version").sort("t", "resource_id"))


def reconnection(req: pl.LazyFrame, fault_start: float, recovered: float,
                 bound: float = RECONNECT_BOUND) -> pl.LazyFrame:
    """Per user active before the fault: first success at/after ``recovered``; within bound?"""
    return (req.filter(pl.col("user").is_not_null()).select("user", "t", "ok")
            .group_by("user")
            .agg(active_before=(pl.col("t") < fault_start).any(),
                 first_ok=pl.col("t").filter(pl.col("ok") & (pl.col("t") >= recovered)).min())
            .filter("active_before")
            .with_columns(delay=pl.col("first_ok") - recovered)
            .with_columns(within=pl.col("delay").le(bound).fill_null(False))
            .select("user", "delay", "within").sort("user"))


def split_brain(req: pl.LazyFrame, bucket: float = 1.0) -> pl.LazyFrame:
    """1 s buckets of acknowledgement time in which writes of one service were acknowledged by
    more than one primary (served_by)."""
    return (req.filter(pl.col("ok") & pl.col("operation").is_in(ALL_WRITES) & pl.col("served_by").is_not_null())
            .select("service", "served_by", b=((pl.col("t") + pl.col("duration")) / bucket).floor())
            .group_by("service", "b").agg(primaries=pl.col("served_by").cast(pl.String).unique().sort())
            .filter(pl.col("primaries").list.len() > 1).sort("service", "b"))


def blast_radius(req: pl.LazyFrame, ev: Events) -> pl.LazyFrame:
    """Per fault, per service NOT targeted: error rate and p95 during the fault (inject..heal)."""
    frames = []
    for fault, (start, end, target) in ev.injects.items():
        frames.append(req.filter((pl.col("t") >= start) & (pl.col("t") < end)).select("service", "ok", "duration")
                      .group_by("service")
                      .agg(requests=pl.len(), error_rate=(~pl.col("ok")).mean(),
                           p95=pl.col("duration").filter("ok").quantile(0.95, "equiprobable"))
                      .with_columns(fault=pl.lit(fault), target=pl.lit(target)))
    return pl.concat(frames).sort("fault", "service")


def queries(req: pl.LazyFrame, ev: Events, readback: pl.LazyFrame, which: str) -> dict[str, pl.LazyFrame]:
    start, heal, _ = ev.injects["dc-a-power-loss"]
    q: dict[str, pl.LazyFrame] = {}
    if which in ("availability", "all"):
        q["availability"] = availability(req, ev)
    if which in ("rto", "all"):
        q["rto"] = rto(req, start)
    if which in ("ledger", "all"):
        q.update({f"ledger_{k}": v for k, v in ledger(req, readback).items()})
    if which in ("stale", "all"):
        q["stale_reads"] = stale_reads(req)
    if which in ("reconnect", "all"):
        q["reconnection"] = reconnection(req, start, heal)
    if which in ("split_brain", "all"):
        q["split_brain"] = split_brain(req)
    if which in ("blast", "all"):
        q["blast_radius"] = blast_radius(req, ev)
    return q


def digest(name: str, df: pl.DataFrame) -> str:
    head = df.head(2).to_dicts()
    return f"{name}: {df.height} rows; head={head}"


def main() -> None:
    src, events, rb_path, which = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
    engine = sys.argv[5] if len(sys.argv) > 5 else "auto"
    started = time.perf_counter()
    ev = read_events(events)
    readback = pl.scan_parquet(rb_path)
    if which.endswith("-json"):  # all-json, availability-json, ...: straight from timeline.jsonl
        req = (pl.scan_ndjson(src, schema=JSON_SCHEMA).filter(pl.col("kind") == "request")
               .with_columns(pl.col(CATEGORICAL).cast(pl.Categorical)))
        which = which.removesuffix("-json")
    elif which == "all-mem":
        # the columns the checkers use, read once into memory; every query then runs on it
        needed = ["t", "duration", "service", "operation", "ok", "served_by", "resource_id", "version", "user",
                  "message_id", "ack_code", "instance_uid"]
        req = pl.scan_parquet(src).select(needed).collect().lazy()
        which = "all"
    else:
        req = pl.scan_parquet(src)
    if which == "all-seq":
        out = {}
        for w in ("availability", "rto", "ledger", "stale", "reconnect", "split_brain", "blast"):
            for k, v in queries(req, ev, readback, w).items():
                out[k] = v.collect(engine=engine)  # type: ignore[arg-type]
    else:
        q = queries(req, ev, readback, which)
        out = dict(zip(q, pl.collect_all(list(q.values()), engine=engine), strict=True))  # type: ignore[arg-type]
    elapsed = time.perf_counter() - started
    dump = os.environ.get("SPIKE_DUMP")
    for name, df in out.items():
        print(digest(name, df))
        if dump:
            Path(dump).mkdir(parents=True, exist_ok=True)
            df.write_parquet(Path(dump) / f"{name}.parquet")
    print(f"RESULT seconds={elapsed:.2f}")


if __name__ == "__main__":
    main()
