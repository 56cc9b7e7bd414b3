"""Exploration (single runs): RTO in DuckDB per service, ASOF self-join vs fetch + numpy.
Usage: explore_rto_duckdb_per_service.py asof-per-service | numpy"""
import sys
import time

import duckdb
import numpy as np

P='/tmp/spike/conv_polars.parquet'; F=1795441200.0; W=1.0; thr=0.99
v=sys.argv[1]
con=duckdb.connect()
con.execute(f"CREATE VIEW req AS SELECT * FROM read_parquet('{P}')")
t0=time.perf_counter()
res=[]
for svc in ["ehr","imaging","labs","messaging","scheduling"]:
    if v=='asof-per-service':
        sql=f"""WITH s AS (SELECT t, ok, row_number() OVER (ORDER BY t) AS i,
                      sum(ok::INTEGER) OVER (ORDER BY t ROWS UNBOUNDED PRECEDING) - ok::INTEGER AS cum
               FROM req WHERE service = '{svc}' AND t >= {F})
        SELECT min(s.t) - {F} FROM s ASOF JOIN s AS e ON e.t >= s.t + {W}
        WHERE s.ok AND (e.cum - s.cum) >= {thr} * (e.i - s.i)"""
        res.append((svc, con.sql(sql).fetchall()[0][0]))
    elif v=='numpy':
        tb = con.sql(f"SELECT t, ok FROM req WHERE service = '{svc}' AND t >= {F} ORDER BY t").fetchnumpy()
        t = tb["t"]; ok = np.asarray(tb["ok"], dtype=bool)
        cum = np.concatenate([[0], np.cumsum(ok, dtype=np.int64)])
        i = np.arange(len(t)); end = np.searchsorted(t, t + W, side="left")
        good = ok & (end < len(t)) & ((cum[np.minimum(end, len(t))] - cum[i]) >= thr * (end - i))
        res.append((svc, t[np.argmax(good)] - F if good.any() else None))
print(v, f"{time.perf_counter()-t0:.2f}s", res)
