#!/usr/bin/env bash
# Peak anonymous vs file-backed RSS of a command (sampled every 0.1 s from /proc/PID/status).
# /usr/bin/time's "maximum resident set size" counts the pages of mmap'ed input files too
# (polars maps timeline.jsonl): those are page cache, reclaimable, not the process's own memory.
#   bash docs/design/spike/rss_split.sh CMD ...
"$@" > /dev/null &
pid=$!
maxa=0; maxf=0
while kill -0 $pid 2>/dev/null; do
  a=$(awk '/RssAnon/ {print $2}' /proc/$pid/status 2>/dev/null); f=$(awk '/RssFile/ {print $2}' /proc/$pid/status 2>/dev/null)
  [ -n "$a" ] && [ "$a" -gt $maxa ] && maxa=$a
  [ -n "$f" ] && [ "$f" -gt $maxf ] && maxf=$f
  sleep 0.1
done
wait $pid
echo "peak RssAnon $((maxa / 1024)) MB, peak RssFile $((maxf / 1024)) MB: $*"
