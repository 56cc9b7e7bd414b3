"""Exploration (single runs): RTO in DuckDB with a RANGE ... FOLLOWING window frame (72-99 s) vs an ASOF
self-join over all services at once. Usage: explore_rto_duckdb.py range-nofilter | asof"""
import sys
import time

import duckdb

P='/tmp/spike/conv_polars.parquet'; F=1795441200.0; W=1.0; thr=0.99
v=sys.argv[1]
con=duckdb.connect()
con.execute(f"CREATE VIEW req AS SELECT * FROM read_parquet('{P}')")
t0=time.perf_counter()
if v=='range-nofilter':
    sql=f"""WITH s AS (SELECT service, t, ok FROM req WHERE t >= {F}),
    w AS (SELECT service, t, ok, count(*) OVER win AS n_w, sum(ok::INTEGER) OVER win AS ok_w, max(t) OVER (PARTITION BY service) AS t_last
          FROM s WINDOW win AS (PARTITION BY service ORDER BY t RANGE BETWEEN CURRENT ROW AND {W} FOLLOWING))
    SELECT service, min(t) - {F} AS rto FROM w WHERE ok AND t + {W} <= t_last AND ok_w >= {thr} * n_w GROUP BY service ORDER BY service"""
elif v=='asof':
    sql=f"""WITH s AS (SELECT service, t, ok,
                  row_number() OVER (PARTITION BY service ORDER BY t) AS i,
                  sum(ok::INTEGER) OVER (PARTITION BY service ORDER BY t ROWS UNBOUNDED PRECEDING) - ok::INTEGER AS cum
           FROM req WHERE t >= {F}),
    e AS (SELECT service, t, i, cum FROM s)
    SELECT s.service, min(s.t) - {F} AS rto
    FROM s ASOF JOIN e ON s.service = e.service AND e.t >= s.t + {W}
    WHERE s.ok AND (e.cum - s.cum) >= {thr} * (e.i - s.i)
    GROUP BY s.service ORDER BY s.service"""
t=con.sql(sql).fetchall()
print(v, f"{time.perf_counter()-t0:.2f}s", t)
