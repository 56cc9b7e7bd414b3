"""Print results.jsonl (from measure.py) as a Markdown table; the last entry of a label wins.

    .venv/bin/python docs/design/spike/report.py /tmp/spike/results.jsonl
"""

from __future__ import annotations

import json
import sys


def main() -> None:
    rows: dict[str, dict[str, object]] = {}
    with open(sys.argv[1], encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            rows[r["label"]] = r
    print("| measurement | work s (median of 3) | process wall s | peak RSS MB | runs (work s) | output MB |")
    print("|---|---:|---:|---:|---|---:|")
    for label, r in rows.items():
        runs = r["runs"]
        works = [float(x["result"].get("seconds", "nan")) for x in runs]  # type: ignore[union-attr]
        size = runs[-1]["result"].get("bytes")  # type: ignore[index, union-attr]
        size_mb = f"{int(size) / 1e6:.0f}" if size else ""
        med = r["median_seconds"]
        print(f"| {label} | {med:.2f} | {r['median_wall']:.2f} | {r['median_rss_mb']:.0f} | "
              f"{', '.join(f'{w:.2f}' for w in works)} | {size_mb} |" + ("" if r["ok"] else " FAILED"))


if __name__ == "__main__":
    main()
