#!/usr/bin/env bash
# Reproduce the figures of docs/design/checkers-at-scale.md (about 30 minutes on 2 cores; needs
# ~4.5 GB free in $D). From the repository root, with the project's venv in .venv:
#   .venv/bin/pip install polars==2.1.0 duckdb==2.0.0 pyarrow==26.0.1   (not in pyproject)
#   bash docs/design/spike/run_all.sh            # SKIP_GEN=1 to reuse $D's timeline and conversions
set -euo pipefail
S=docs/design/spike
D=${D:-/tmp/spike}
PY=.venv/bin/python
M="$PY $S/measure.py --repeat 3 --out $D/results.jsonl"
M1="$PY $S/measure.py --repeat 1 --out $D/results.jsonl"
E=$D/events.jsonl
R=$D/readback.parquet
if [ -z "${SKIP_GEN:-}" ]; then
  $PY $S/gen_timeline.py --out $D                         # 10M requests, ~3.0 GB of JSON lines
  $PY $S/gen_timeline.py --out ${D}_small --n 200000      # for the live-writing costs
  # 1. conversion JSONL -> Parquet
  for v in polars polars-lowmem polars-sorted polars-plain duckdb duckdb-sorted pyarrow; do
    $M --label "convert $v" -- $PY $S/convert.py $v $D/timeline.jsonl $D/conv_$v.parquet
  done
fi
P=$D/conv_polars.parquet
# 2. checkers, one process per measurement
for w in availability rto ledger stale reconnect split_brain blast all all-seq all-mem; do
  $M --label "polars $w" -- $PY $S/checks_polars.py $P $E $R $w
done
for eng in in-memory streaming; do
  $M --label "polars all engine=$eng" -- $PY $S/checks_polars.py $P $E $R all $eng
done
$M --label "polars all (strings, no Categorical)" -- $PY $S/checks_polars.py $D/conv_polars-plain.parquet $E $R all
$M --label "polars all engine=in-memory (strings, no Categorical)" -- \
  $PY $S/checks_polars.py $D/conv_polars-plain.parquet $E $R all in-memory
$M --label "polars all (file sorted by t)" -- $PY $S/checks_polars.py $D/conv_polars-sorted.parquet $E $R all
for w in availability rto ledger stale reconnect split_brain blast all all-mat; do
  $M --label "duckdb $w" -- $PY $S/checks_duckdb.py $P $E $R $w
done
$M --label "duckdb all memory_limit=1GB" -- $PY $S/checks_duckdb.py $P $E $R all 1GB
$M --label "duckdb all (its own Parquet file)" -- $PY $S/checks_duckdb.py $D/conv_duckdb.parquet $E $R all
# straight from JSON lines: polars all-json; DuckDB's all-json ran over 10 minutes per run (every
# query parses the 3 GB again), so one query only
$M --label "polars all-json (no Parquet)" -- $PY $S/checks_polars.py $D/timeline.jsonl $E $R all-json
$M1 --label "duckdb availability-json (no Parquet, 1 run)" -- $PY $S/checks_duckdb.py $D/timeline.jsonl $E $R availability-json
$M1 --label "polars availability-json (no Parquet, 1 run)" -- $PY $S/checks_polars.py $D/timeline.jsonl $E $R availability-json
# segmented Parquet (one file per flush) and compaction
rm -rf $D/seg3k $D/seg100k
$PY $S/segments.py split $P $D/seg3k 3000
$PY $S/segments.py split $P $D/seg100k 100000
$M --label "polars all engine=in-memory, 3 334 segments of 3 000 rows" -- $PY $S/checks_polars.py "$D/seg3k/*.parquet" $E $R all in-memory
$M --label "polars all engine=in-memory, 100 segments of 100 000 rows" -- $PY $S/checks_polars.py "$D/seg100k/*.parquet" $E $R all in-memory
$M --label "duckdb all, 3 334 segments of 3 000 rows" -- $PY $S/checks_duckdb.py "$D/seg3k/*.parquet" $E $R all
$M --label "duckdb all, 100 segments of 100 000 rows" -- $PY $S/checks_duckdb.py "$D/seg100k/*.parquet" $E $R all
$M --label "compact 3 334 segments -> one file (polars sink)" -- $PY $S/segments.py compact "$D/seg3k/*.parquet" $D/compacted.parquet
# anonymous vs file-backed peak RSS (polars maps the JSON file)
for cmd in "convert.py polars $D/timeline.jsonl $D/x.parquet" "convert.py duckdb $D/timeline.jsonl $D/x.parquet" \
           "checks_polars.py $P $E $R all in-memory" "checks_duckdb.py $P $E $R all" \
           "checks_polars.py $D/timeline.jsonl $E $R all-json"; do
  bash $S/rss_split.sh $PY $S/$cmd
done
rm -f $D/x.parquet
# live writing cost per record (flush = 3 000 records ~ 1 s, and 100 000)
for b in 3000 100000; do BATCH=$b $PY $S/write_cost.py ${D}_small/timeline.jsonl ${D}_seg; done
# 3. answers: polars == duckdb == harness functions
rm -rf $D/out_pl $D/out_duck
SPIKE_DUMP=$D/out_pl $PY $S/checks_polars.py $P $E $R all > /dev/null
SPIKE_DUMP=$D/out_duck $PY $S/checks_duckdb.py $P $E $R all > /dev/null
$PY $S/compare.py $D/out_pl $D/out_duck $P $E
$PY $S/report.py $D/results.jsonl
