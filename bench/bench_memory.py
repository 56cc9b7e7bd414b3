"""Memory and start-up of the whole hospital with synthetic data (issue 3).

    .venv/bin/python bench/bench_memory.py [--patients 10000] [--services ehr,imaging,...]

Brings the reference topology up on the local backend with ``--patients`` synthetic
patients, then prints each process's resident memory (VmRSS and its peak VmHWM from
/proc) and the time to ready. Target: every service < 200 MB RSS with 10 000 patients.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.backends import DataOptions, ServiceOptions
from harness.backends.local import LocalBackend, LocalOptions
from harness.topology import ALL_SERVICES, reference_topology


def memory_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) in MB for ``pid`` and its children are not counted."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return fields.get("VmRSS", 0.0), fields.get("VmHWM", 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--services", default=",".join(ALL_SERVICES))
    args = parser.parse_args()
    services = tuple(s for s in args.services.split(",") if s)
    options = LocalOptions(services=ServiceOptions(data=DataOptions(seed=args.seed, patients=args.patients)),
                           ready_timeout=30)
    with tempfile.TemporaryDirectory() as tmp:
        backend = LocalBackend(reference_topology(services), Path(tmp), options=options)
        started = time.perf_counter()
        try:
            backend.up()
            ready = time.perf_counter() - started
            print(f"== {len(services)} services, {args.patients} patients: ready in {ready:.1f} s")
            print(f"   {'process':<12} {'RSS MB':>8} {'peak MB':>8}   target < 200 MB per service")
            for name in [i.name for i in backend.topology.instances] + ["toxiproxy", "haproxy"]:
                rss, peak = memory_mb(backend.supervisor.process(name).pid)
                flag = "" if peak < 200 or name in ("toxiproxy", "haproxy") else "  OVER"
                print(f"   {name:<12} {rss:8.1f} {peak:8.1f}{flag}")
        finally:
            backend.down()


if __name__ == "__main__":
    main()
