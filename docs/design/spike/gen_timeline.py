"""Synthetic timeline for the checkers-at-scale spike: N request records + a handful of
phase / fault / process records, written as the harness writes them (``timeline.jsonl``:
one flat JSON object per line, ``None`` fields dropped, keys in RequestRecord order, file
order = completion order), plus the "read-back" table (what the services hold after
recovery) as Parquet.

    .venv/bin/python docs/design/spike/gen_timeline.py --out /tmp/spike [--n 10000000]

Model (one hour of run, ~2 800 req/s):
  phases up / steady_state 0-1200 s / faults 1200-2400 s / recovery 2400-3500 s / checks;
  300 users (nurse 150, physician 90, lab_system 30, radiology_modality 15, scheduler 15),
  2 % probe records; 22 operation names on 5 services; ~10 % writes (FHIR create/update with
  ``Type/<32 hex>`` + version, HL7 ORU with message_id + ack_code, STOW with instance_uid);
  ~15 % reads of one resource that record the version read.
  fault dc-a-power-loss at 1200 s (ehr / messaging / imaging down for 90 / 45 / 120 s, then
  10 % errors on ehr until the heal at 1800 s; served_by switches from *-a to *-b, with a
  5 s zombie-primary overlap on ehr = split brain), labs latency 2000-2100 s (20 % timeouts),
  scheduling partition 2200-2230 s. Base error rate 0.3 %. A few stale reads after failover.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import polars as pl

T0 = 1_795_440_000.0  # steady state starts
FAULT = T0 + 1200.0
HEAL = T0 + 1800.0
RUN_END = T0 + 3500.0

# name, service, persona ("probe" = prober), kind, weight (share of all requests, %)
OPS = [
    ("ehr: GET Patient/{id}", "ehr", "nurse|physician", "read1", 9.0),
    ("ehr: GET Observation?patient&category=vital-signs", "ehr", "nurse|physician", "search", 11.0),
    ("ehr: GET MedicationRequest?patient&status=active", "ehr", "nurse|physician", "search", 14.0),
    ("ehr: GET AllergyIntolerance?patient", "ehr", "nurse|physician", "search", 7.0),
    ("ehr: GET Encounter?patient", "ehr", "nurse|physician", "search", 4.0),
    ("ehr: GET Observation/{id} (read back)", "ehr", "nurse", "read1", 5.0),
    ("ehr: POST Observation (vital signs)", "ehr", "nurse", "create", 2.5),
    ("ehr: POST MedicationAdministration", "ehr", "nurse", "create", 1.5),
    ("ehr: POST Observation (progress note)", "ehr", "physician", "create", 1.0),
    ("ehr: POST MedicationRequest", "ehr", "physician", "create", 0.7),
    ("ehr: PUT MedicationRequest/{id}", "ehr", "physician", "update", 1.3),
    ("labs: GET /patients/{id}/results", "labs", "physician", "search", 8.0),
    ("imaging: GET /studies?PatientID", "imaging", "physician", "search", 4.0),
    ("imaging: GET /studies/{uid}/metadata", "imaging", "physician", "search", 2.0),
    ("imaging: POST /studies (STOW-RS)", "imaging", "radiology_modality", "stow", 1.0),
    ("messaging: ORU^R01", "messaging", "lab_system", "hl7", 2.0),
    ("scheduling: GET /schedules", "scheduling", "scheduler", "search", 2.5),
    ("scheduling: GET /schedules/{id}", "scheduling", "scheduler", "search", 2.5),
    ("scheduling: POST /schedules/{id}/slots", "scheduling", "scheduler", "search", 0.3),
    ("scheduling: GET /schedules?kind=staff", "scheduling", "scheduler", "search", 0.5),
    ("create", "ehr", "probe", "create", 0.5),
    ("read", "ehr", "probe", "read1", 1.0),
    ("search", "ehr", "probe", "search", 0.5),
]
PERSONAS = {"nurse": 150, "physician": 90, "lab_system": 30, "radiology_modality": 15, "scheduler": 15}
OUTAGE = {"ehr": 90.0, "messaging": 45.0, "imaging": 120.0}
PRIMARY = {"ehr": "ehr", "messaging": "msg", "imaging": "pacs", "labs": "labs", "scheduling": "sched"}


def hex_ids(rng: np.random.Generator, n: int) -> list[str]:
    a = rng.integers(0, 2**63, size=n, dtype=np.int64)
    b = rng.integers(0, 2**63, size=n, dtype=np.int64)
    return [f"{x:016x}{y:016x}" for x, y in zip(a.tolist(), b.tolist(), strict=True)]


def build(n: int, seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    weights = np.array([o[4] for o in OPS])
    op_idx = rng.choice(len(OPS), size=n, p=weights / weights.sum())
    t = np.sort(rng.uniform(T0 - 5.0, RUN_END, size=n))
    names = np.array([o[0] for o in OPS], dtype=object)
    services = np.array([o[1] for o in OPS], dtype=object)
    kinds = np.array([o[3] for o in OPS], dtype=object)
    persona_of_op = [o[2] for o in OPS]
    service = services[op_idx]
    kind = kinds[op_idx]

    # users: stable ids "<worker>-<n>", persona fixed per user
    users_by_persona: dict[str, list[str]] = {}
    k = 0
    for persona, count in PERSONAS.items():
        users_by_persona[persona] = [f"{(k + i) % 2}-{(k + i) // 2 + 1}" for i in range(count)]
        k += count
    persona = np.empty(n, dtype=object)
    user = np.empty(n, dtype=object)
    source = np.full(n, "load", dtype=object)
    for i, spec in enumerate(persona_of_op):
        rows = np.nonzero(op_idx == i)[0]
        if spec == "probe":
            source[rows] = "probe"
            continue
        choices = spec.split("|")
        p = rng.choice(choices, size=len(rows))
        persona[rows] = p
        for c in choices:
            sel = rows[p == c]
            pool = np.array(users_by_persona[c], dtype=object)
            user[sel] = pool[rng.integers(0, len(pool), size=len(sel))]

    # failures
    fail_p = np.full(n, 0.003)
    for svc, outage in OUTAGE.items():
        m = (service == svc) & (t >= FAULT)
        fail_p[m & (t < FAULT + outage)] = 0.97
    fail_p[(service == "ehr") & (t >= FAULT + OUTAGE["ehr"]) & (t < HEAL)] = 0.10
    labs_slow = (service == "labs") & (t >= T0 + 2000) & (t < T0 + 2100)
    fail_p[labs_slow] = 0.20
    fail_p[(service == "scheduling") & (t >= T0 + 2200) & (t < T0 + 2230)] = 1.0
    ok = rng.uniform(size=n) >= fail_p

    duration = rng.lognormal(np.log(0.008), 0.8, size=n)
    duration[labs_slow] *= 10
    err_kinds = np.array(["http-503", "http-503", "http-503", "http-502", "connect", "timeout", "disconnected"],
                         dtype=object)
    error = np.where(ok, None, err_kinds[rng.integers(0, len(err_kinds), size=n)]).astype(object)
    hl7 = kind == "hl7"
    error[hl7 & ~ok] = np.array(["ack-AE", "no-ack", "connect"], dtype=object)[rng.integers(0, 3, (hl7 & ~ok).sum())]
    error[labs_slow & ~ok] = "timeout"
    duration[error == "timeout"] = 2.0 + rng.uniform(0, 0.01, (error == "timeout").sum())
    duration[error == "connect"] = rng.uniform(0.0005, 0.003, (error == "connect").sum())

    status = np.where(ok, np.where(np.isin(kind, ["create"]), 201, 200), 0)
    status = np.where(error == "http-503", 503, np.where(error == "http-502", 502, status))
    http_status = pl.Series("status", status, dtype=pl.Int16)
    http_status = pl.select(pl.when(pl.lit(http_status) == 0).then(None).otherwise(pl.lit(http_status))
                            .alias("status")).to_series()
    # MLLP has no HTTP status
    http_status = http_status.scatter(np.nonzero(hl7)[0], None)

    # served_by / datacenter: answered requests only
    answered = ok | np.isin(error, ["ack-AE"])
    prefix = np.array([PRIMARY[s] for s in service.tolist()], dtype=object)
    failed_over = np.zeros(n, dtype=bool)
    for svc, outage in OUTAGE.items():
        failed_over |= (service == svc) & (t >= FAULT + outage)
    labs_b = (service == "labs") & (rng.uniform(size=n) < 0.3)
    side = np.where(failed_over | labs_b, "b", "a")
    zombie = (service == "ehr") & (t >= FAULT + OUTAGE["ehr"]) & (t < FAULT + OUTAGE["ehr"] + 5) \
        & (rng.uniform(size=n) < 0.05)
    side = np.where(zombie, "a", side)
    served_by = np.where(answered, prefix + "-" + side, None).astype(object)
    datacenter = np.where(answered, "dc-" + side, None).astype(object)

    def text(name: str, values: np.ndarray) -> pl.Series:
        return pl.Series(name, values.tolist(), dtype=pl.String)

    df = pl.DataFrame([
        pl.Series("t", t), pl.Series("duration", duration), text("source", source), text("service", service),
        text("operation", names[op_idx]), pl.Series("ok", ok), http_status, text("error", error),
        text("served_by", served_by), text("datacenter", datacenter), text("persona", persona),
        text("user", user), text("kind_", kind),
    ])
    df = df.with_row_index("i")

    # --- FHIR ids and versions ---------------------------------------------------------
    types = {"ehr: POST Observation (vital signs)": "Observation", "ehr: POST MedicationAdministration":
             "MedicationAdministration", "ehr: POST Observation (progress note)": "Observation",
             "ehr: POST MedicationRequest": "MedicationRequest", "create": "Patient"}
    creates = df.filter((pl.col("kind_") == "create") & pl.col("ok")).select(
        "i", "t", "operation", (pl.col("t") + pl.col("duration")).alias("ack"))
    ids = hex_ids(rng, creates.height)
    creates = creates.with_columns(
        resource_id=pl.col("operation").replace_strict(types) + "/" + pl.Series(ids))
    # updates: ok PUTs of a MedicationRequest whose create was acknowledged before
    mr = creates.filter(pl.col("operation") == "ehr: POST MedicationRequest").sort("ack")
    upd = df.filter(pl.col("kind_") == "update")
    before = np.searchsorted(mr["ack"].to_numpy(), upd["t"].to_numpy())
    pick = np.floor(rng.uniform(size=upd.height) * before).astype(np.int64)
    upd = upd.select("i", "t", "ok", "duration").with_columns(
        resource_id=mr["resource_id"].gather(np.maximum(pick, 0)),
        valid=pl.Series(before > 0))
    upd = upd.filter("valid").drop("valid")
    writes = pl.concat([creates.select("i", "t", "resource_id", pl.lit(True).alias("ok"), "ack"),
                        upd.select("i", "t", "resource_id", "ok", (pl.col("t") + pl.col("duration")).alias("ack"))])
    writes = writes.sort("t").with_columns(
        version=pl.when("ok").then(pl.col("ok").cast(pl.Int32).cum_sum().over("resource_id")))
    # reads of one resource: a resource created (acknowledged) before; version = latest
    # acknowledged version at read time (stale: one older, 2 % of reads after failover)
    acked = writes.filter("ok").sort("ack")
    reads = df.filter(pl.col("kind_") == "read1").select("i", "t", "ok", "operation")
    acked_creates = acked.filter(pl.col("version") == 1)
    before = np.searchsorted(acked_creates["ack"].to_numpy(), reads["t"].to_numpy())
    # reads favour recent resources (a user reads back what it wrote / current patients)
    back = np.minimum(rng.exponential(20_000, size=reads.height).astype(np.int64), before)
    reads = reads.with_columns(resource_id=acked_creates["resource_id"].gather(np.maximum(before - 1 - back, 0)),
                               valid=pl.Series(before > 0)).filter("valid")
    reads = reads.sort("t").join_asof(acked.select("resource_id", "ack", "version").sort("ack"), left_on="t",
                                      right_on="ack", by="resource_id", strategy="backward",
                                      check_sortedness=False)
    reads = reads.with_columns(version=pl.col("version").cum_max().over("resource_id", order_by="t"))
    stale = (reads["t"].to_numpy() > FAULT + OUTAGE["ehr"]) & (reads["t"].to_numpy() < HEAL) \
        & (rng.uniform(size=reads.height) < 0.02) & (reads["version"].fill_null(1).to_numpy() > 1)
    reads = reads.with_columns(version=pl.when(pl.Series(stale)).then(pl.col("version") - 1)
                               .otherwise("version"))
    reads = reads.with_columns(version=pl.when("ok").then("version"))
    fhir = pl.concat([writes.select("i", "resource_id", "version"), reads.select("i", "resource_id", "version")])
    # probe records use the bare id (as harness/probe does)
    df = df.join(fhir, on="i", how="left").with_columns(
        resource_id=pl.when(pl.col("source") == "probe").then(pl.col("resource_id").str.split("/").list.last())
        .otherwise("resource_id"),
        version=pl.col("version").cast(pl.String))

    # --- HL7 / DICOM ids ---------------------------------------------------------------
    df = df.with_columns(
        message_id=pl.when(pl.col("kind_") == "hl7").then(
            pl.format("L7431-{}-{}", pl.col("user"), pl.int_range(pl.len()).over("user", "kind_") + 1)),
        ack_code=pl.when(pl.col("kind_") == "hl7").then(
            pl.when("ok").then(pl.when(pl.col("i") % 20 == 0).then(pl.lit("CA")).otherwise(pl.lit("AA")))
            .when(pl.col("error") == "ack-AE").then(pl.lit("AE"))),
    )
    stow_rows = (df["kind_"] == "stow").to_numpy()
    uid_digits = rng.integers(10**17, 10**18, size=(int(stow_rows.sum()), 2))
    uids = [f"2.25.{a}{b:018d}"[:44] for a, b in uid_digits.tolist()]
    uid_col = np.full(n, None, dtype=object)
    uid_col[stow_rows] = uids
    df = df.with_columns(instance_uid=pl.Series(uid_col.tolist(), dtype=pl.String))
    # file order = completion order
    df = df.sort(pl.col("t") + pl.col("duration"))
    readback = make_readback(df, rng)
    cols = ["t", "duration", "source", "service", "operation", "ok", "status", "error", "served_by",
            "datacenter", "resource_id", "version", "persona", "user", "message_id", "ack_code", "instance_uid"]
    return df.select(cols), readback


def make_readback(df: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """What the services hold after recovery: every acknowledged write's latest version, with
    a few lost, stale, duplicated and unexpected entries."""
    writes = pl.col("operation").str.contains("POST|PUT") | (pl.col("operation") == "create")
    fhir = (df.filter(pl.col("ok") & writes & pl.col("resource_id").is_not_null())
            .group_by("resource_id").agg(pl.col("version").cast(pl.Int32).max())
            .select(pl.lit("fhir").alias("system"), pl.col("resource_id").alias("key"), "version"))
    hl7 = df.filter(pl.col("ack_code").is_in(["AA", "CA"])).select(
        pl.lit("hl7").alias("system"), pl.col("message_id").alias("key"), pl.lit(1, pl.Int32).alias("version"))
    dicom = df.filter(pl.col("instance_uid").is_not_null() & pl.col("ok")).select(
        pl.lit("dicom").alias("system"), pl.col("instance_uid").alias("key"), pl.lit(1, pl.Int32).alias("version"))
    rb = pl.concat([fhir, hl7, dicom]).sample(fraction=1.0, shuffle=True, seed=1)
    m = rb.height
    u = rng.uniform(size=m)
    rb = rb.filter(pl.Series(u >= 0.0002))  # lost
    u2 = rng.uniform(size=rb.height)
    rb = rb.with_columns(version=pl.when(pl.Series(u2 < 0.002) & (pl.col("version") > 1))
                         .then(pl.col("version") - 1).otherwise("version"))  # stale
    dup = rb.filter(pl.col("system") == "hl7").sample(n=200, seed=2)  # duplicated
    extra = pl.DataFrame({"system": ["fhir"] * 500, "key": [f"Observation/{h}" for h in hex_ids(rng, 500)],
                          "version": [1] * 500}, schema={"system": pl.String, "key": pl.String, "version": pl.Int32})
    return pl.concat([rb, dup, extra])


def other_records() -> list[tuple[float, str]]:
    recs: list[dict[str, object]] = []
    for name, start, end in [("up", T0 - 60, T0 - 30), ("steady_state", T0, T0 + 1200), ("faults", FAULT, T0 + 2400),
                             ("recovery", T0 + 2400, RUN_END), ("checks", RUN_END + 1, RUN_END + 20)]:
        recs.append({"t": start, "phase": name, "action": "start", "kind": "phase"})
        recs.append({"t": end, "phase": name, "action": "end", "kind": "phase"})
    for f, ftype, target, start, end in [("dc-a-power-loss", "power_loss", "dc-a", FAULT, HEAL),
                                         ("labs-latency", "latency", "labs", T0 + 2000, T0 + 2100),
                                         ("sched-partition", "partition", "scheduling", T0 + 2200, T0 + 2230)]:
        recs.append({"t": start, "action": "inject", "fault": f, "fault_type": ftype, "target": target,
                     "duration": end - start, "kind": "fault"})
        recs.append({"t": end, "action": "heal", "fault": f, "fault_type": ftype, "target": target,
                     "duration": 0.0, "kind": "fault"})
    for i, name in enumerate(["toxiproxy", "ehr-a", "ehr-b", "msg-a", "msg-b", "pacs-a", "pacs-b", "labs-a",
                              "labs-b", "sched-a", "haproxy"]):
        recs.append({"t": T0 - 59 + i * 0.1, "name": name, "action": "start", "pid": 1000 + i, "kind": "process"})
        recs.append({"t": T0 - 50 + i * 0.1, "name": name, "action": "ready", "pid": 1000 + i, "kind": "process"})
    for name in ["ehr-a", "msg-a", "pacs-a"]:
        recs.append({"t": FAULT + 0.01, "name": name, "action": "kill", "pid": 1001, "kind": "process"})
    return sorted((float(r["t"]), json.dumps(r)) for r in recs)  # type: ignore[arg-type]


def json_lines(df: pl.DataFrame) -> pl.Series:
    """Each row as the harness's writer encodes it: json.dumps of the dict without None fields."""
    parts = []
    for i, (name, dtype) in enumerate(df.schema.items()):
        col = pl.col(name)
        if dtype == pl.String:
            val = pl.format('"{}"', col)
        elif dtype == pl.Boolean:
            val = pl.when(col).then(pl.lit("true")).otherwise(pl.lit("false"))
        else:
            val = col.cast(pl.String)
        item = pl.format('"{}": ', pl.lit(name)) + val
        if i:
            item = pl.lit(", ") + item
        parts.append(pl.when(col.is_not_null()).then(item).otherwise(pl.lit("")))
    parts.append(pl.lit(', "kind": "request"}'))
    return df.select(pl.concat_str([pl.lit("{"), *parts]).alias("line")).to_series()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("/tmp/spike"))
    ap.add_argument("--n", type=int, default=10_000_000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    df, readback = build(args.n, args.seed)
    print(f"built {df.height} requests in {time.perf_counter() - started:.1f}s")
    readback.write_parquet(args.out / "readback.parquet")
    others = other_records()
    # the non-request records alone, as a writer that keeps them apart would have them
    (args.out / "events.jsonl").write_text("".join(line + "\n" for _, line in others), encoding="utf-8")
    ends = (df["t"] + df["duration"]).to_numpy()
    with (args.out / "timeline.jsonl").open("w", encoding="utf-8") as fh:
        oi = 0
        step = 500_000
        for lo in range(0, df.height, step):
            chunk = df.slice(lo, step)
            hi_t = ends[min(lo + step, df.height) - 1]
            # interleave phase/fault/process records in time order
            lines = json_lines(chunk).to_list()
            chunk_ends = ends[lo:lo + step]
            out: list[str] = []
            j = 0
            while oi < len(others) and others[oi][0] <= hi_t:
                pos = int(np.searchsorted(chunk_ends, others[oi][0]))
                out.extend(lines[j:pos])
                j = max(j, pos)
                out.append(others[oi][1])
                oi += 1
            out.extend(lines[j:])
            fh.write("\n".join(out) + "\n")
        for _, line in others[oi:]:
            fh.write(line + "\n")
    print(f"wrote timeline.jsonl in {time.perf_counter() - started:.1f}s; readback {readback.height} rows")


if __name__ == "__main__":
    main()
