"""EHR benchmarks (issue 3): read throughput vs a hello-world on the same stack, load time, RSS.

Prints figures; asserts nothing (targets are compared in the output, not enforced).

    .venv/bin/python bench/bench_ehr.py [--patients 10000] [--seconds 4] [--clients 4] [--rounds 2]

1. Base snapshot: start ``python -m mock_services.ehr --patients N`` on a fresh database;
   load time (the ``base-load-done`` line and the time to ``/health``), database size, and
   the server's RSS after the load (VmRSS) and at its peak (VmHWM). Target: RSS < 200 MB.
2. Read throughput, one server process pinned to CPU 0, the load generator pinned to the
   other CPU(s): ``--clients`` processes, each with one keep-alive HTTP/1.1 connection over a
   raw socket (a minimal client, so that the client is not the bottleneck), for ``--seconds``
   per measurement. Measured in alternation, ``--rounds`` times, best round reported:
   a bare hello-world (Starlette + uvicorn, the EHR's exact uvicorn settings: the practical
   limit of the stack), ``GET /Patient/{id}`` over random patients, and one search
   (``GET /Observation?patient=..&category=laboratory``). Targets: read >= 50 % of
   hello-world and >= 1 500 reads/s.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mock_services.ehr.testing_processes import free_port  # noqa: E402

SERVER_CPU = 0


# -- the hello-world server (run as: bench_ehr.py --serve-hello PORT) ---------------------------


def serve_hello(port: int) -> None:
    """Starlette + uvicorn with the EHR's settings, one route answering a small JSON body."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def hello(request: Request) -> Response:
        return Response(b'{"hello":"world"}', media_type="application/json")

    app = Starlette(routes=[Route("/hello/{id}", hello, methods=["GET"])])
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="on", server_header=False
    )
    uvicorn.Server(config).run()


# -- the load generator -------------------------------------------------------------------------


def _client(
    port: int, paths: list[str], seconds: float, cpus: set[int], results: multiprocessing.Queue[tuple[int, int]]
) -> None:
    """One keep-alive connection, one request at a time, for ``seconds``; report (ok, errors)."""
    if cpus:
        os.sched_setaffinity(0, cpus)
    requests = [f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode() for path in paths]
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    ok = errors = 0
    buffer = b""
    deadline = time.monotonic() + seconds
    index = 0
    while time.monotonic() < deadline:
        sock.sendall(requests[index % len(requests)])
        index += 1
        while b"\r\n\r\n" not in buffer:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            buffer += chunk
        head, _, buffer = buffer.partition(b"\r\n\r\n")
        match = re.search(rb"(?i)content-length: *(\d+)", head)
        length = int(match.group(1)) if match else 0
        while len(buffer) < length:
            buffer += sock.recv(65536)
        buffer = buffer[length:]
        if head.startswith(b"HTTP/1.1 200"):
            ok += 1
        else:
            errors += 1
    sock.close()
    results.put((ok, errors))


def measure(port: int, paths: list[str], seconds: float, clients: int) -> tuple[float, int]:
    """Requests/s over all clients, and the number of non-200 answers."""
    cpus = set(range(os.cpu_count() or 1)) - {SERVER_CPU}
    results: multiprocessing.Queue[tuple[int, int]] = multiprocessing.Queue()
    workers = [
        multiprocessing.Process(target=_client, args=(port, random.sample(paths, len(paths)), seconds, cpus, results))
        for _ in range(clients)
    ]
    for worker in workers:
        worker.start()
    totals = [results.get(timeout=seconds + 30) for _ in workers]
    for worker in workers:
        worker.join(timeout=10)
    return sum(ok for ok, _ in totals) / seconds, sum(errors for _, errors in totals)


# -- processes ------------------------------------------------------------------------------------


def _rss(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process in MB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def _wait_ready(url: str, timeout: float) -> float:
    started = time.monotonic()
    with httpx.Client(trust_env=False, timeout=2.0) as client:
        while True:
            try:
                if client.get(url).status_code in (200, 404):
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
            if time.monotonic() - started > timeout:
                raise SystemExit(f"{url} not ready within {timeout} s")
            time.sleep(0.05)


def _start(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        process = subprocess.Popen(argv, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    if len(os.sched_getaffinity(0)) > 1:
        os.sched_setaffinity(process.pid, {SERVER_CPU})
    return process


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10000)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--serve-hello", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_hello is not None:
        serve_hello(args.serve_hello)
        return

    print(f"machine: {os.cpu_count()} CPUs; server pinned to CPU {SERVER_CPU}, {args.clients} client processes")
    with tempfile.TemporaryDirectory(prefix="bench-ehr-") as tmp:
        tmp_path = Path(tmp)
        ehr_port, hello_port = free_port(), free_port()
        db = tmp_path / "ehr.sqlite"
        ehr_argv = [sys.executable, "-m", "mock_services.ehr", "--name", "ehr-bench", "--datacenter", "dc-a"]
        ehr_argv += ["--role", "primary", "--port", str(ehr_port), "--db", str(db), "--patients", str(args.patients)]
        started = time.monotonic()
        ehr = _start(ehr_argv, tmp_path / "ehr.log")
        hello = _start([sys.executable, __file__, "--serve-hello", str(hello_port)], tmp_path / "hello.log")
        try:
            _wait_ready(f"http://127.0.0.1:{ehr_port}/health", timeout=600)
            ready = time.monotonic() - started
            _wait_ready(f"http://127.0.0.1:{hello_port}/hello/1", timeout=30)
            log = (tmp_path / "ehr.log").read_text()
            loaded = re.search(r"event=base-load-done .*resources=(\d+) seconds=([\d.]+)", log)
            rss, peak = _rss(ehr.pid)
            size = sum(f.stat().st_size for f in tmp_path.glob("ehr.sqlite*")) / 1e6
            print("\n## 1. base snapshot")
            if loaded:
                print(
                    f"patients={args.patients} resources={loaded.group(1)} load={loaded.group(2)} s "
                    f"(start to /health ready: {ready:.1f} s); database {size:.0f} MB"
                )
            print(f"RSS after load: {rss:.0f} MB (peak {peak:.0f} MB); target < 200 MB")

            rng = random.Random(7)
            patient_ids = [f"p{rng.randint(1, max(1, args.patients)):06d}" for _ in range(2000)]
            runs = {
                "hello-world": (hello_port, [f"/hello/{i}" for i in range(2000)]),
                "GET /Patient/{id}": (ehr_port, [f"/Patient/{pid}" for pid in patient_ids]),
                "GET /Observation?patient=&category=laboratory": (
                    ehr_port,
                    [f"/Observation?patient={pid}&category=laboratory" for pid in patient_ids[:500]],
                ),
            }
            figures: dict[str, list[float]] = {name: [] for name in runs}
            for _ in range(args.rounds):
                for name, (port, paths) in runs.items():
                    rate, errors = measure(port, paths, args.seconds, args.clients)
                    if errors:
                        print(f"  {name}: {errors} non-200 answers")
                    figures[name].append(rate)
            print(f"\n## 2. throughput ({args.rounds} rounds of {args.seconds:.0f} s each, best / median)")
            best = {name: max(rates) for name, rates in figures.items()}
            for name, rates in figures.items():
                print(f"{name:48s} {best[name]:8.0f} req/s   (median {statistics.median(rates):.0f})")
            ratio = best["GET /Patient/{id}"] / best["hello-world"]
            print(f"read / hello-world = {ratio:.0%} (target >= 50 %); reads/s target >= 1 500")
            rss, peak = _rss(ehr.pid)
            print(f"EHR RSS after the load test: {rss:.0f} MB (peak {peak:.0f} MB)")
        finally:
            _stop(ehr)
            _stop(hello)


if __name__ == "__main__":
    main()
