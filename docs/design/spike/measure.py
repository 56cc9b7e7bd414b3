"""Run a command several times, each in its own process under ``/usr/bin/time -v``, and record
the wall-clock time, the peak RSS and the command's own ``RESULT`` line; print medians.

    .venv/bin/python docs/design/spike/measure.py --label NAME --repeat 3 --out results.jsonl -- CMD ...

``wall`` is /usr/bin/time's elapsed time of the whole process (interpreter start, imports and
all); ``RESULT seconds=`` is the script's own timing of the work (no interpreter start).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys


def run_once(cmd: list[str]) -> dict[str, object]:
    proc = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True, check=False)
    err = proc.stderr
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", err).group(1))  # type: ignore[union-attr]
    wall_s = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (.+)", err).group(1)  # type: ignore[union-attr]
    parts = [float(p) for p in wall_s.strip().split(":")]
    wall = sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
    result = {}
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            result.update(dict(kv.split("=", 1) for kv in line.split()[1:]))
    if proc.returncode != 0:
        print(err[-3000:], file=sys.stderr)
    return {"rc": proc.returncode, "wall": wall, "rss_mb": rss / 1024, "result": result,
            "stdout_tail": proc.stdout[-2000:]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--label", required=True)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default="/tmp/spike/results.jsonl")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    cmd = args.cmd[1:] if args.cmd and args.cmd[0] == "--" else args.cmd
    runs = [run_once(cmd) for _ in range(args.repeat)]
    seconds = [float(r["result"]["seconds"]) for r in runs if "seconds" in r["result"]]  # type: ignore[index]
    summary = {"label": args.label, "cmd": cmd, "runs": runs,
               "median_wall": statistics.median(r["wall"] for r in runs),  # type: ignore[misc]
               "median_rss_mb": statistics.median(r["rss_mb"] for r in runs),  # type: ignore[misc]
               "median_seconds": statistics.median(seconds) if seconds else None,
               "ok": all(r["rc"] == 0 for r in runs)}
    with open(args.out, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(summary) + "\n")
    sec = f"{summary['median_seconds']:.2f}" if seconds else "-"
    print(f"{args.label:<40} wall {summary['median_wall']:7.2f}s  work {sec:>7}s  "
          f"rss {summary['median_rss_mb']:8.0f} MB  ok={summary['ok']}")
    print(runs[-1]["stdout_tail"])


if __name__ == "__main__":
    main()
