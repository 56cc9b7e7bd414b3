"""Checkers at scale (issue 5): every checker over a synthetic timeline of N request records.

    .venv/bin/python bench/bench_checks.py [--records 1000000] [--keep]

    .venv/bin/python bench/bench_checks.py --records 1000000 --journal   # also the crash path

Writes a realistic timeline (300 users, 5 services, ~20 operations, ~25 % writes with ids:
FHIR creates, HL7 results by MSH-10, STOW-RS instances; failures clustered in a 10 s fault, and
a read-back with lost, duplicated, stale and unexpected writes so every list is built) through
the harness's own TimelineWriter -- so the run
folder has what a real run leaves: the JSON-lines journal, events.jsonl and the Parquet request
segments -- plus its read-back, then judges it with the experiment below in a fresh process
(so peak memory is the judge's own) and prints wall time and peak RSS, median of --repeat runs.
Target (issue 5): 10 000 000 records in <= 10 s and <= 2 GB.

``--journal`` also judges the same folder as a run that was killed before closing (no manifest:
every request rebuilt from the journal), side by side: the slow path, for comparison.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

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
  - {type: ledger, service: messaging}
  - {type: ledger, service: imaging}
  - {type: split_brain, service: ehr}
"""

SERVICES = ["ehr", "ehr", "ehr", "ehr", "labs", "messaging", "imaging", "scheduling"]


def generate(folder: Path, records: int) -> None:
    from harness.readback import READBACK_FILE, FoundResource, ReadBack, write_readback
    from harness.readback.table import READBACK_TABLE_FILE, write_readback_table
    from harness.timeline import FaultRecord, PhaseRecord, TimelineWriter
    rng = random.Random(7)
    start = 1_800_000_000.0
    span = records / 1000.0  # 1 000 requests/s
    fault_at, fault_end = start + span * 0.4, start + span * 0.4 + 10
    phases = [("steady_state", start, fault_at), ("faults", fault_at, fault_end), ("recovery", fault_end, start + span)]
    writer = TimelineWriter(folder / "timeline.jsonl")
    readback: list[ReadBack] = []
    with writer:
        for phase, begin, _ in phases:
            writer.append(PhaseRecord(begin, phase, "start"))  # type: ignore[arg-type]
        writer.append(FaultRecord(fault_at, "inject", "cut", "power_loss", "dc-a"))
        writer.append(FaultRecord(fault_end, "heal", "cut", "power_loss", "dc-a"))
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
            write = None
            if service == "ehr" and i % 10 in (0, 2):
                write = {"operation": "ehr: POST Observation", "resource_id": f"Observation/o{i}", "version": "1",
                         "write_key": f"Observation?identifier=urn:hchaos:load|r-{i}",
                         "accepted_by": "ehr-a#1" if t < fault_at else "ehr-b#2"}
                found = FoundResource(f"o{i}", "0" if i % 9001 == 0 else "1", "ehr-b#2")  # some stale
            elif service == "messaging":  # every message is an ORU^R01 result
                write = {"operation": "messaging: ORU^R01", "message_id": f"M{i}", "ack_code": "AA",
                         "write_key": f"DiagnosticReport?identifier=urn:hchaos:hl7|M{i}"}
                found = FoundResource(f"dr{i}", "1", "ehr-b#2")
            elif service == "imaging" and i % 16 == 6:
                write = {"operation": "imaging: POST /studies (STOW-RS)", "instance_uid": f"1.2.826.0.1.{i}",
                         "write_key": f"dicom:instances?SOPInstanceUID=1.2.826.0.1.{i}"}
                found = FoundResource(f"1.2.826.0.1.{i}", None, "pacs-a")
            elif service == "ehr" and i % 10 == 4:  # a read of an earlier write
                record.update({"operation": "ehr: GET Observation/{id}", "resource_id": f"Observation/o{i - 4}",
                               "version": "1", "status": 200})
            if write is not None:
                record.update(write)
                if down:  # not acknowledged: no id came back (yet a third of them were applied)
                    record.pop("resource_id", None)
                    record.pop("ack_code", None)
                    record.pop("instance_uid", None)
                    applied = i % 3 == 0
                else:
                    applied = i % 5003 != 0  # a few acknowledged writes lost
                copies = (found, found) if i % 7001 == 0 else (found,)  # a few duplicated
                readback.append(ReadBack(str(write["write_key"]), copies if applied else ()))
            batch.append(json.dumps(record))
            if len(batch) >= 10_000:
                writer.append_encoded(batch)
                writer.flush()
                batch = []
        writer.append_encoded(batch)
        for phase, _, end in phases:
            writer.append(PhaseRecord(end, phase, "end"))  # type: ignore[arg-type]
    # as the runner writes them after recovery
    write_readback(folder / READBACK_FILE, readback)
    write_readback_table(folder / READBACK_TABLE_FILE, readback)


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


def judge(folder: Path) -> tuple[float, float, float, str]:
    """(judge_run's seconds, the whole process's seconds -- interpreter and imports included --,
    peak RSS in MB, verdicts)."""
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", JUDGE, str(folder)], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[1])
    process = time.perf_counter() - started
    if out.returncode != 0:
        print(out.stderr[-2000:])
        sys.exit(1)
    elapsed, peak, verdicts = out.stdout.split(" ", 2)
    return float(elapsed), process, float(peak), verdicts.strip()


def measure(folder: Path, repeat: int) -> tuple[float, float, float, str]:
    runs = [judge(folder) for _ in range(repeat)]
    return (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs),
            statistics.median(r[2] for r in runs), runs[0][3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="judge this many times, report medians")
    parser.add_argument("--journal", action="store_true", help="also judge as a killed run (rebuilt from the journal)")
    parser.add_argument("--keep", action="store_true", help="keep the generated folder")
    parser.add_argument("--reuse", type=Path, help="judge a folder kept by an earlier --keep (no generation)")
    args = parser.parse_args()
    folder = args.reuse or Path(tempfile.mkdtemp(prefix="bench-checks-"))
    started = time.perf_counter()
    if args.reuse is None:
        (folder / "experiment.yaml").write_text(EXPERIMENT)
        generate(folder, args.records)
    else:
        args.records = len(pl.scan_parquet(folder / "requests" / "*.parquet").select("t").collect())
        args.keep = True
    size = (folder / "timeline.jsonl").stat().st_size / 1e6
    parquet = sum(p.stat().st_size for p in (folder / "requests").glob("*.parquet")) / 1e6
    how = "reused" if args.reuse else "generated"
    print(f"{how} {args.records:,} request records in {time.perf_counter() - started:.1f}s: journal {size:.0f} MB, "
          f"Parquet segments {parquet:.0f} MB")
    elapsed, process, peak, verdicts = measure(folder, args.repeat)
    print(f"all checkers, segments: {elapsed:.2f}s ({process:.2f}s for the whole process), peak RSS {peak:.0f} MB "
          f"(median of {args.repeat}; {args.records / elapsed:,.0f} records/s; target for 10M: <= 10 s, <= 2048 MB)")
    print(f"verdicts: {verdicts}")
    if args.journal:
        (folder / "requests" / "manifest.json").unlink()
        for segment in (folder / "requests").glob("*.parquet"):
            segment.unlink()
        slow, _, slow_peak, slow_verdicts = measure(folder, 1)
        print(f"all checkers, rebuilt from the journal (a killed run): {slow:.2f}s, peak RSS {slow_peak:.0f} MB; "
              f"segments are {slow / elapsed:.1f}x faster")
        if slow_verdicts != verdicts:
            print(f"DIFFERENT verdicts from the journal: {slow_verdicts}")
    if args.keep:
        print(f"kept: {folder}")
    else:
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
