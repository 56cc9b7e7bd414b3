"""MLLP engine benchmark (issue 3): messages/s acknowledged AND durably stored, one connection-set.

Prints figures; asserts nothing (targets are compared in the output, not enforced).

    .venv/bin/python bench/bench_mllp.py [--connections 4] [--duration 5] [--synchronous full|normal|both]

Set-up: one engine process (``python -m mock_services.messaging``, no destination, SQLite WAL
with ``synchronous=FULL`` by default: the ACK of a message is sent after the fsync that
covers it), and ``--connections`` client *processes* (not threads: the clients must not
share the benchmark's GIL), each on one MLLP connection, sending ORU^R01 messages (2 OBX,
~640 bytes) one after another and waiting for each ACK (``MllpSender``, as the load's lab
persona does). The figure is ACKed messages / wall time over the common window; the store is
then checked through ``GET /health`` (every ACKed message must be stored). Latency is ACK
latency seen by the client (send -> ACK parsed), p50 and p99 over every message.

Target: >= 1 000 msg/s on the 2-core reference machine. The engine batches the commits of
concurrently arriving messages (group commit), so the fsync cost is shared by the messages
of all connections instead of paid by each.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mock_services.messaging import samples
from mock_services.messaging.sender import MllpSender
from mock_services.messaging.testing import EngineProcess

TARGET = 1000.0


def client(index: int, address: tuple[str, int], start_at: float, duration: float, results: Any) -> None:
    """One connection: send until ``start_at + duration``; report (count, latencies, first, last, errors)."""
    template = samples.oru("CTRLID")
    latencies: list[float] = []
    errors = 0
    with MllpSender(address, timeout=10) as sender:
        sender.send(template.replace("CTRLID", f"W{index}"))  # connect + warm up, not counted
        while time.time() < start_at:
            time.sleep(0.001)
        first = time.perf_counter()
        deadline = first + duration
        number = 0
        while time.perf_counter() < deadline:
            number += 1
            started = time.perf_counter()
            ack = sender.send(template.replace("CTRLID", f"C{index}-{number}"))
            latencies.append(time.perf_counter() - started)
            errors += ack.code != "AA"
        last = time.perf_counter()
    results.put((len(latencies), latencies, first, last, errors))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def metric(text: str, name: str) -> float:
    line = next(line for line in text.splitlines() if line.startswith(name + " "))
    return float(line.split()[1])


def fsync_ms(directory: Path, count: int = 50) -> float:
    """Median time of an fsync of a 4 KiB append in ``directory`` (the disk the store is on)."""
    path = directory / "fsync-probe"
    times = []
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        for _ in range(count):
            os.write(descriptor, b"x" * 4096)
            started = time.perf_counter()
            os.fsync(descriptor)
            times.append(time.perf_counter() - started)
    finally:
        os.close(descriptor)
        path.unlink()
    return statistics.median(times) * 1000


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run(connections: int, duration: float, synchronous: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        engine = EngineProcess(
            "msg-bench", Path(tmp) / "bench.sqlite", Path(tmp) / "bench.log", ["--synchronous", synchronous]
        )
        engine.start()
        try:
            context = multiprocessing.get_context("fork")
            results = context.Queue()
            start_at = time.time() + 1.0
            workers = [
                context.Process(target=client, args=(i, engine.mllp, start_at, duration, results))
                for i in range(connections)
            ]
            assert engine.popen is not None
            for worker in workers:
                worker.start()
            cpu_before = cpu_seconds(engine.popen.pid)
            reports = [results.get(timeout=duration + 60) for _ in workers]
            cpu_used = cpu_seconds(engine.popen.pid) - cpu_before
            for worker in workers:
                worker.join(30)
            health = httpx.get(f"{engine.url}/health", timeout=10).json()
            metrics = httpx.get(f"{engine.url}/metrics", timeout=10).text
        finally:
            engine.kill()
        fsync = fsync_ms(Path(tmp))
    acked = sum(r[0] for r in reports)
    latencies = [latency for r in reports for latency in r[1]]
    window = max(r[3] for r in reports) - min(r[2] for r in reports)
    stored = sum(health["messages"].values())
    return {
        "acked": acked,
        "errors": sum(r[4] for r in reports),
        "stored": stored,
        "expected_stored": acked + connections,  # + the warm-up messages
        "rate": acked / window,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "per_commit": metric(metrics, "store_committed_jobs_total") / max(1.0, metric(metrics, "store_commits_total")),
        "engine_cpu": cpu_used / window,  # cores used by the engine during the window (~)
        "cpu_us_per_msg": cpu_used / max(1, acked) * 1e6,
        "fsync_ms": fsync,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--duration", type=float, default=4.0, help="seconds of sending per run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per mode (the median is the figure)")
    parser.add_argument("--synchronous", choices=["full", "normal", "both"], default="both")
    args = parser.parse_args()
    modes = ["full", "normal"] if args.synchronous == "both" else [args.synchronous]
    print(
        f"MLLP engine: {args.connections} connections, sequential send-and-wait, ORU^R01 ~640 B,"
        f" {args.repeat} x {args.duration:g} s per mode"
    )
    for mode in modes:
        durable = "fsync before ACK: power-cut safe" if mode == "full" else "no fsync: SIGKILL safe only"
        print(f"  synchronous={mode} ({durable})")
        runs = []
        for _ in range(args.repeat):
            figures = run(args.connections, args.duration, mode)
            runs.append(figures)
            ok = figures["stored"] == figures["expected_stored"] and figures["errors"] == 0
            print(
                f"    {figures['rate']:6.0f} msg/s  p50 {figures['p50_ms']:5.2f} ms  p99 {figures['p99_ms']:6.2f} ms"
                f"  | {figures['acked']:.0f} ACKed, stored: {'all' if ok else 'MISMATCH'}"
                f" | {figures['per_commit']:.1f} msg/commit, engine {figures['engine_cpu']:.2f} cores"
                f" ({figures['cpu_us_per_msg']:.0f} us/msg), disk fsync p50 {figures['fsync_ms']:.2f} ms"
            )
        median = statistics.median(r["rate"] for r in runs)
        verdict = "meets" if median >= TARGET else "BELOW"
        print(
            f"    median {median:.0f} msg/s (range {min(r['rate'] for r in runs):.0f}-"
            f"{max(r['rate'] for r in runs):.0f}), p50 {statistics.median(r['p50_ms'] for r in runs):.2f} ms,"
            f" p99 {statistics.median(r['p99_ms'] for r in runs):.2f} ms: {verdict} the target {TARGET:.0f} msg/s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
