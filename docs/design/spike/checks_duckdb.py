"""The checkers of the spike written as DuckDB SQL over the Parquet file (same answers as
checks_polars.py).

    .venv/bin/python docs/design/spike/checks_duckdb.py requests.parquet events.jsonl readback.parquet WHICH \
        [MEMORY_LIMIT]

WHICH: availability | rto | ledger | stale | reconnect | split_brain | blast | all (every query in
turn on one connection, each scanning the Parquet file) | all-mat (the needed columns loaded once
into a temporary table first) | WHICH-json (the same on read_json of timeline.jsonl: all-json took
over 10 minutes per run, availability-json is the one measured).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).parent))
from common import (
    ALL_WRITES,
    FHIR_READS,
    FHIR_WRITES,
    HL7_WRITES,
    RECONNECT_BOUND,
    RTO_MIN_SUCCESS,
    RTO_WINDOW,
    SERVICES,
    STOW_WRITES,
    Events,
    read_events,
)
from convert import DUCK_COLUMNS


def sql_list(values: list[str]) -> str:
    return "(" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + ")"


def phase_case(ev: Events) -> str:
    whens = " ".join(f"WHEN t >= {s!r} AND t < {e!r} THEN '{name}'" for name, (s, e) in ev.phases.items())
    return f"CASE {whens} END"


def queries(ev: Events, which: str) -> dict[str, str]:
    start, heal, _ = ev.injects["dc-a-power-loss"]
    w, thr = RTO_WINDOW, RTO_MIN_SUCCESS
    acked = f"""
        SELECT system, key, max(version) AS version, count(*) AS acks FROM (
          SELECT 'fhir' AS system, resource_id AS key, TRY_CAST(version AS INTEGER) AS version FROM req
           WHERE ok AND operation IN {sql_list(FHIR_WRITES)} AND resource_id IS NOT NULL
          UNION ALL
          SELECT 'hl7', message_id, 1 FROM req
           WHERE ok AND operation IN {sql_list(HL7_WRITES)} AND ack_code IN ('AA', 'CA')
          UNION ALL
          SELECT 'dicom', instance_uid, 1 FROM req WHERE ok AND operation IN {sql_list(STOW_WRITES)})
        GROUP BY system, key"""
    rb = "SELECT system, key, max(version) AS rb_version, count(*) AS copies FROM readback GROUP BY system, key"
    q = {
        "availability": f"""
            SELECT service, phase, count(*) AS requests, count(*) FILTER (WHERE NOT ok) AS errors,
                   quantile_disc(duration, [0.5, 0.95, 0.99]) FILTER (WHERE ok) AS p,
                   errors / requests AS error_rate
            FROM (SELECT service, ok, duration, {phase_case(ev)} AS phase FROM req)
            WHERE phase IS NOT NULL GROUP BY service, phase ORDER BY service, phase""",
        # Per service: prefix sums of successes, then an ASOF self-join finds each window's end (the
        # first request at or after t + w): exactly the harness's half-open window and its "fully
        # observed" rule (no such request: no match). A RANGE ... FOLLOWING window frame instead
        # took 72-99 s here.
        "rto": " UNION ALL ".join(f"""
            (WITH s AS (SELECT t, ok, row_number() OVER (ORDER BY t) AS i,
                               sum(ok::INTEGER) OVER (ORDER BY t ROWS UNBOUNDED PRECEDING) - ok::INTEGER AS cum
                        FROM req WHERE service = '{svc}' AND t >= {start!r})
             SELECT '{svc}' AS service, min(s.t) AS back, min(s.t) - {start!r} AS rto
             FROM s ASOF JOIN s AS e ON e.t >= s.t + {w}
             WHERE s.ok AND (e.cum - s.cum) >= {thr} * (e.i - s.i))""" for svc in SERVICES) + " ORDER BY service",
        "ledger_lost": f"""WITH a AS ({acked}), r AS ({rb})
            SELECT * FROM a ANTI JOIN r USING (system, key) ORDER BY system, key""",
        "ledger_stale": f"""WITH a AS ({acked}), r AS ({rb})
            SELECT * FROM a JOIN r USING (system, key) WHERE rb_version < version ORDER BY system, key""",
        "ledger_duplicated": f"SELECT * FROM ({rb}) WHERE copies > 1 ORDER BY system, key",
        "ledger_unexpected": f"""WITH a AS ({acked}), r AS ({rb})
            SELECT * FROM r ANTI JOIN a USING (system, key) ORDER BY system, key""",
        "stale_reads": f"""
            WITH w AS (SELECT resource_id, t + duration AS ack,
                              max(TRY_CAST(version AS INTEGER)) OVER (PARTITION BY resource_id ORDER BY t + duration
                                                                      ROWS UNBOUNDED PRECEDING) AS acked_version
                       FROM req WHERE ok AND operation IN {sql_list(FHIR_WRITES)} AND version IS NOT NULL),
                 r AS (SELECT resource_id, t, "user", TRY_CAST(version AS INTEGER) AS read_version
                       FROM req WHERE ok AND operation IN {sql_list(FHIR_READS)} AND version IS NOT NULL)
            SELECT r.t, r.resource_id, r."user", read_version, acked_version
            FROM r ASOF JOIN w ON r.resource_id = w.resource_id AND r.t >= w.ack
            WHERE read_version < acked_version ORDER BY r.t, r.resource_id""",
        "reconnection": f"""
            SELECT "user", delay, coalesce(delay <= {RECONNECT_BOUND}, false) AS within FROM (
              SELECT "user", min(t) FILTER (WHERE ok AND t >= {heal!r}) - {heal!r} AS delay,
                     bool_or(t < {start!r}) AS active_before
              FROM req WHERE "user" IS NOT NULL GROUP BY "user")
            WHERE active_before ORDER BY "user" """,
        "split_brain": f"""
            SELECT service, floor(t + duration) AS b, list(DISTINCT served_by ORDER BY served_by) AS primaries
            FROM req WHERE ok AND operation IN {sql_list(ALL_WRITES)} AND served_by IS NOT NULL
            GROUP BY ALL HAVING count(DISTINCT served_by) > 1 ORDER BY service, b""",
        "blast_radius": " UNION ALL ".join(f"""
            SELECT service, count(*) AS requests, avg(CASE WHEN ok THEN 0 ELSE 1 END) AS error_rate,
                   quantile_disc(duration, 0.95) FILTER (WHERE ok) AS p95, '{f}' AS fault, '{target}' AS target
            FROM req WHERE t >= {s!r} AND t < {e!r} GROUP BY service""" for f, (s, e, target) in ev.injects.items())
        + " ORDER BY fault, service",
    }
    groups = {"availability": ["availability"], "rto": ["rto"], "stale": ["stale_reads"],
              "ledger": [k for k in q if k.startswith("ledger")], "reconnect": ["reconnection"],
              "split_brain": ["split_brain"], "blast": ["blast_radius"]}
    if which == "all":
        return q
    return {k: q[k] for k in groups[which]}


NEEDED = ["t", "duration", "service", "operation", "ok", "served_by", "resource_id", "version", "user",
          "message_id", "ack_code", "instance_uid"]


def main() -> None:
    src, events, rb_path, which = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
    started = time.perf_counter()
    con = duckdb.connect()
    if len(sys.argv) > 5:
        con.execute(f"SET memory_limit = '{sys.argv[5]}'")
    ev = read_events(events)
    con.execute(f"CREATE VIEW readback AS SELECT * FROM read_parquet('{rb_path}')")
    if which.endswith("-json"):  # all-json, availability-json, ...: every query reads timeline.jsonl again
        con.execute(f"""CREATE VIEW req AS SELECT * EXCLUDE (kind) FROM read_json('{src}', format = 'newline_delimited',
                        columns = {DUCK_COLUMNS}) WHERE kind = 'request'""")
        which = which.removesuffix("-json")
    elif which == "all-mat":
        con.execute(f"CREATE TEMP TABLE req AS SELECT {', '.join(NEEDED)} FROM read_parquet('{src}')")
        which = "all"
    else:
        con.execute(f"CREATE VIEW req AS SELECT * FROM read_parquet('{src}')")
    out = {}
    dump = os.environ.get("SPIKE_DUMP")
    for name, sql in queries(ev, which).items():
        out[name] = con.sql(sql).to_arrow_table()
    elapsed = time.perf_counter() - started
    for name, table in out.items():
        print(f"{name}: {table.num_rows} rows; head={table.slice(0, 2).to_pylist()}")
        if dump:
            import pyarrow.parquet as pq

            Path(dump).mkdir(parents=True, exist_ok=True)
            pq.write_table(table, Path(dump) / f"{name}.parquet")
    print(f"RESULT seconds={elapsed:.2f}")


if __name__ == "__main__":
    main()
