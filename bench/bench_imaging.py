"""Imaging (PACS) benchmarks (issue 3): start-up, memory, QIDO latency, STOW throughput.

Prints figures; asserts nothing (targets are compared in the output, not enforced).

    .venv/bin/python bench/bench_imaging.py [--patients N] [--queries N] [--stow N]

1. Start-up to ready (``/health`` 200), fresh storage: 0 patients and ``--patients``
   (default 10 000), then a restart on the same storage (seed already indexed). Target: < 1 s
   without seed data; loading time printed (the brief asks to say so beyond 60 s).
2. RSS of the seeded archive, after start-up and after the load below. Target: < 200 MB.
3. QIDO-RS ``GET /studies?PatientID=...`` latency, one keep-alive client, random patients.
4. STOW-RS throughput of small (8 x 8 pixels, ~1 KB) instances: one per request and 10 per
   request, sequential, to an archive with a replica (so the outbox and shipping run too),
   plus the replication lag of the last instance.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mock_services.imaging.config import Role
from mock_services.imaging.part10 import parse_part10
from mock_services.imaging.testing import ImagingProcess, free_port, make_part10, stow_body, wait_until

SEED = 2024


def rss_mb(process: ImagingProcess) -> float:
    assert process.popen is not None
    for line in Path(f"/proc/{process.popen.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start(directory: Path, name: str, role: Role, patients: int, *extra: str) -> tuple[ImagingProcess, float]:
    process = ImagingProcess(
        name, role, free_port(), directory / name, directory / f"{name}.log",
        ["--seed", str(SEED), "--patients", str(patients), *extra],
    )  # fmt: skip
    started = time.monotonic()
    process.start()
    process.wait_ready(timeout=600)
    return process, time.monotonic() - started


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=1_000)
    parser.add_argument("--stow", type=int, default=1_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        empty, took = start(directory, "pacs-empty", Role.ARCHIVE, 0)
        print(f"start-up, 0 patients:              {took:6.2f} s to ready   RSS {rss_mb(empty):6.1f} MB")
        empty.kill()

        replica, took_replica = start(directory, "pacs-b", Role.REPLICA, args.patients)
        archive, took = start(directory, "pacs-a", Role.ARCHIVE, args.patients, "--replica-url", replica.url)
        health = httpx.get(f"{archive.url}/health").json()
        print(
            f"start-up, {args.patients} patients:       {took:6.2f} s to ready   RSS {rss_mb(archive):6.1f} MB"
            f"   ({health['studies']} studies, {health['instances']} instances; replica {took_replica:.2f} s)"
        )

        patients = [f"p{i:06d}" for i in range(1, args.patients + 1)]
        rng = random.Random(1)
        latencies = []
        with httpx.Client(base_url=archive.url, headers={"accept": "application/dicom+json"}) as client:
            for _ in range(50):  # warm-up
                client.get("/studies", params={"PatientID": rng.choice(patients)})
            for _ in range(args.queries):
                t = time.perf_counter()
                response = client.get("/studies", params={"PatientID": rng.choice(patients)})
                latencies.append((time.perf_counter() - t) * 1000)
                assert response.status_code in (200, 204)
            print(
                f"QIDO /studies?PatientID (n={args.queries}):    p50 {statistics.median(latencies):.2f} ms"
                f"   p95 {percentile(latencies, 0.95):.2f} ms   p99 {percentile(latencies, 0.99):.2f} ms"
            )
            first = STUDY_PROBE = client.get("/studies", params={"limit": "1"}).json()[0]["0020000D"]["Value"][0]
            t = time.perf_counter()
            for _ in range(200):
                client.get(f"/studies/{STUDY_PROBE}", headers={"accept": "multipart/related; type=application/dicom"})
            print(f"WADO /studies/{{study}} (seed, rendered): {(time.perf_counter() - t) / 200 * 1000:.2f} ms mean")
            del first

            for per_request in (1, 10):
                files = [make_part10() for _ in range(args.stow)]
                bodies = [stow_body(files[i : i + per_request]) for i in range(0, len(files), per_request)]
                t = time.perf_counter()
                for body, headers in bodies:
                    assert client.post("/studies", content=body, headers=headers).status_code == 200
                elapsed = time.perf_counter() - t
                print(
                    f"STOW {per_request:2d} instance(s)/request (n={args.stow}): {args.stow / elapsed:7.0f} instances/s"
                    f"   ({len(bodies) / elapsed:.0f} requests/s)"
                )
            last = parse_part10(files[-1]).sop_uid
            lag = wait_until(
                lambda: httpx.get(f"{replica.url}/instances", params={"SOPInstanceUID": last}).status_code == 200,
                60,
                "last instance on the replica",
            )
            print(f"replication: last instance on the replica {lag * 1000:.0f} ms after its STOW returned")
        print(f"RSS after load: archive {rss_mb(archive):6.1f} MB, replica {rss_mb(replica):6.1f} MB")
        restart_dir = archive.storage
        archive.kill()
        replica.kill()
        again = ImagingProcess(
            "pacs-a", Role.ARCHIVE, free_port(), restart_dir, directory / "pacs-a2.log",
            ["--seed", str(SEED), "--patients", str(args.patients)],
        )  # fmt: skip
        t = time.monotonic()
        again.start()
        again.wait_ready(timeout=600)
        print(f"restart, {args.patients} patients (already indexed): {time.monotonic() - t:6.2f} s to ready")
        again.kill()


if __name__ == "__main__":
    main()
