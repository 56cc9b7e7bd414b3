"""Checkers at scale (issue 5): every checker over a synthetic timeline of N request records.

    .venv/bin/python bench/bench_checks.py [--records 1000000] [--keep]

Writes a realistic timeline (300 users, 5 services, ~20 operations, 10 % writes with ids,
failures clustered in a 10 s fault) plus its read-back, then judges it with the experiment
below in a fresh process (so peak memory is the judge's own) and prints wall time and peak
RSS. Target (issue 5): 10 000 000 records in <= 10 s and <= 2 GB. Today's checkers read the
JSON-lines timeline into Python objects: this bench measures how far that is from the target
(see docs/design/checkers-at-scale.md for the columnar plan).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

EXPERIMENT = """
version: 1
name: bench-checks
topology: {services: [ehr, messaging, imaging, labs, scheduling]}
faults: [{type: power_loss, name: cut, target: dc-a, at: 0s, duration: 10s}]
checks:
  - {type: availability, service: ehr, phases: [steady_state, recovery]}
  - {type: failover_time, service: ehr, fault: cut, max: 30s}
  - {type: recovery_order, fault: cut, order: [ehr, labs, messaging, imaging, scheduling]}
  - {type: reconnection, service: ehr, within: 30s}
  - {type: blast_radius, service: scheduling}
  - {type: ledger, service: ehr}
  - {type: split_brain, service: ehr}
"""

SERVICES = ["ehr", "ehr", "ehr", "ehr", "labs", "messaging", "imaging", "scheduling"]


def generate(folder: Path, records: int) -> None:
    rng = random.Random(7)
    start = 1_800_000_000.0
    span = records / 1000.0  # 1 000 requests/s
    fault_at, fault_end = start + span * 0.4, start + span * 0.4 + 10
    phases = [("steady_state", start, fault_at), ("faults", fault_at, fault_end), ("recovery", fault_end, start + span)]
    with (folder / "timeline.jsonl").open("w") as out, (folder / "readback.jsonl").open("w") as readback:
        for phase, begin, _ in phases:
            out.write(json.dumps({"kind": "phase", "t": begin, "phase": phase, "action": "start"}) + "\n")
        out.write(json.dumps({"kind": "fault", "t": fault_at, "action": "inject", "fault": "cut",
                              "fault_type": "power_loss", "target": "dc-a"}) + "\n")
        out.write(json.dumps({"kind": "fault", "t": fault_end, "action": "heal", "fault": "cut",
                              "fault_type": "power_loss", "target": "dc-a"}) + "\n")
        batch = []
        for i in range(records):
            t = start + i / 1000.0
            service = SERVICES[i % len(SERVICES)]
            user = f"{i % 2}-{i % 300}"
            down = fault_at <= t < fault_at + 3
            record = {"kind": "request", "t": t, "duration": rng.expovariate(200), "source": "load",
                      "service": service, "operation": f"{service}: GET thing {i % 4}", "ok": not down,
                      "persona": "nurse", "user": user, "served_by": "ehr-a" if t < fault_at else "ehr-b"}
            if down:
                record["error"] = "http-503"
            if service == "ehr" and i % 10 == 0 and not down:
                key = f"Observation?identifier=urn:hchaos:load|r-{i}"
                record.update({"operation": "ehr: POST Observation", "resource_id": f"Observation/o{i}",
                               "version": "1", "write_key": key,
                               "accepted_by": "ehr-a#1" if t < fault_at else "ehr-b#2"})
                readback.write(json.dumps({"key": key, "found": [{"id": f"o{i}", "version": "1"}]}) + "\n")
            batch.append(json.dumps(record))
            if len(batch) >= 100_000:
                out.write("\n".join(batch) + "\n")
                batch = []
        out.write("\n".join(batch) + "\n" if batch else "")
        for phase, _, end in phases:
            out.write(json.dumps({"kind": "phase", "t": end, "phase": phase, "action": "end"}) + "\n")


JUDGE = """
import sys, time, resource
from pathlib import Path
from harness.experiment import load_experiment
from harness.runner.runner import judge_run
folder = Path(sys.argv[1])
started = time.perf_counter()
verdicts = judge_run(load_experiment(folder / "experiment.yaml"), folder)
elapsed = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"{elapsed:.2f} {peak:.0f} " + ",".join(f"{v.check}={v.outcome.value}" for v in verdicts))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the generated folder")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-checks-"))
    (folder / "experiment.yaml").write_text(EXPERIMENT)
    started = time.perf_counter()
    generate(folder, args.records)
    size = (folder / "timeline.jsonl").stat().st_size / 1e6
    print(f"generated {args.records:,} request records ({size:.0f} MB JSON lines) "
          f"in {time.perf_counter() - started:.1f}s")
    out = subprocess.run([sys.executable, "-c", JUDGE, str(folder)], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[1])
    if out.returncode != 0:
        print(out.stderr[-2000:])
        sys.exit(1)
    elapsed, peak, verdicts = out.stdout.split(" ", 2)
    print(f"all checkers: {float(elapsed):.1f}s, peak RSS {float(peak):.0f} MB "
          f"({args.records / float(elapsed):,.0f} records/s; target for 10M: <= 10 s, <= 2048 MB)")
    print(f"verdicts: {verdicts.strip()}")
    if args.keep:
        print(f"kept: {folder}")
    else:
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
