"""The docker backend side by side with the local backend, in one run, on the reference hospital.

Figures (targets from issue 12):

* bring-up, all services ready: median per backend, and for docker what dominates (networks and
  Toxiproxy; creating and starting the containers; the services getting ready; the front door
  routing) -- target <= 15 s on docker;
* power loss of dc-a applied (containers killed + links cut, the nemesis's inject): median --
  target <= 200 ms;
* one Toxiproxy hop between site networks: p50 of a FHIR read of ehr-a through its
  ``frontdoor-ehr-a`` link over the same read straight to the instance -- target <= 1.2;
* memory of every container of the hospital with 10 000 patients (the engine's figure, page
  cache excluded) -- target <= 2 GB.

Prints figures; asserts nothing. Needs `make images`.

    .venv/bin/python bench/bench_docker.py [--rounds N] [--reads N] [--patients N] [--skip-memory]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from harness.backends import Endpoints, ServiceOptions
from harness.backends.docker.backend import DockerBackend
from harness.backends.local import LocalBackend, LocalOptions
from harness.experiment.faults import PowerLossFault
from harness.faults import Nemesis, plan_fault
from harness.run.journal import Journal
from harness.services.data import DataOptions
from harness.timeline import ProcessRecord, TimelineWriter, read_timeline
from harness.topology import reference_topology

Backend = LocalBackend | DockerBackend


@contextlib.contextmanager
def hospital(kind: str, patients: int | None = None) -> Iterator[tuple[Backend, Endpoints, Path, float]]:
    """The reference hospital up on ``kind``; yields the backend, endpoints, run folder and the
    seconds ``up()`` took."""
    options = LocalOptions() if patients is None else LocalOptions(
        services=ServiceOptions(data=DataOptions(patients=patients)), ready_timeout=120)
    with tempfile.TemporaryDirectory(prefix=f"hchaos-bench-{kind}-") as folder:
        run_dir = Path(folder)
        journal = Journal(run_dir, "bench")
        timeline = TimelineWriter(run_dir / "timeline.jsonl")
        topology = reference_topology()
        backend: Backend = (DockerBackend(topology, run_dir, options=options, journal=journal, timeline=timeline)
                            if kind == "docker" else
                            LocalBackend(topology, run_dir, options=options, journal=journal, timeline=timeline))
        started = time.perf_counter()
        try:
            endpoints = backend.up()
            timeline.flush()
            yield backend, endpoints, run_dir, time.perf_counter() - started
        finally:
            backend.down()
            timeline.close()
            journal.close()


def up_breakdown(run_dir: Path, began: float) -> dict[str, float]:
    """From the timeline: when Toxiproxy was ready, the last container started, the last one ready."""
    records = [r for r in read_timeline(run_dir / "timeline.jsonl") if isinstance(r, ProcessRecord)]
    toxiproxy = next(r.t for r in records if r.name == "toxiproxy" and r.action == "ready")
    starts = [r.t for r in records if r.action == "start" and r.name != "toxiproxy"]
    readies = [r.t for r in records if r.action == "ready" and r.name != "toxiproxy"]
    return {"networks + toxiproxy ready": toxiproxy - began, "containers started": max(starts) - toxiproxy,
            "services ready": max(readies) - max(starts)}


def power_loss_ms(backend: Backend, endpoints: Endpoints, run_dir: Path) -> float:
    journal = Journal(run_dir, "bench")
    nemesis = Nemesis(endpoints, backend, journal)
    fault = PowerLossFault(type="power_loss", target="dc-a", duration=5, name="power")
    plan = plan_fault(fault, fault.label, backend.topology)
    try:
        started = time.perf_counter()
        nemesis.inject(plan)
        took = (time.perf_counter() - started) * 1000
        nemesis.heal(plan)
    finally:
        nemesis.close()
        journal.close()
    return took


def read_p50_ms(url: str, reads: int) -> float:
    times = []
    with httpx.Client(timeout=5) as client:
        for _ in range(20):
            client.get(url)
        for _ in range(reads):
            started = time.perf_counter()
            client.get(url).raise_for_status()
            times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def hop_ratio(endpoints: Endpoints, reads: int) -> tuple[float, float]:
    link = endpoints.links["frontdoor-ehr-a"]
    direct = f"{endpoints.instance_urls['ehr-a']}/metadata"
    proxied = f"http://{link.listen_host}:{link.listen_port}/metadata"
    return read_p50_ms(proxied, reads), read_p50_ms(direct, reads)


def container_memory_mb(backend: DockerBackend) -> float:
    total = 0
    for name in backend.supervisor.names():
        stats = backend.supervisor.container(name).container.stats(stream=False)
        memory = stats.get("memory_stats", {})
        cache = memory.get("stats", {}).get("cache", 0) or memory.get("stats", {}).get("inactive_file", 0)
        total += int(memory.get("usage", 0)) - int(cache)
    return total / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reads", type=int, default=300)
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    figures: dict[str, dict[str, list[float]]] = {k: {"up": [], "power": [], "hop": [], "direct": []}
                                                  for k in ("local", "docker")}
    breakdowns: list[dict[str, float]] = []
    for round_number in range(args.rounds):
        for kind in ("local", "docker"):
            began = time.time()
            with hospital(kind) as (backend, endpoints, run_dir, up_s):
                figures[kind]["up"].append(up_s)
                if kind == "docker":
                    breakdowns.append(up_breakdown(run_dir, began))
                proxied, direct = hop_ratio(endpoints, args.reads)
                figures[kind]["hop"].append(proxied)
                figures[kind]["direct"].append(direct)
                figures[kind]["power"].append(power_loss_ms(backend, endpoints, run_dir))
            print(f"round {round_number + 1} {kind}: up {up_s:.2f} s, power loss {figures[kind]['power'][-1]:.0f} ms, "
                  f"read p50 {proxied:.2f} ms via the link / {direct:.2f} ms direct", flush=True)

    def med(kind: str, key: str) -> float:
        return statistics.median(figures[kind][key])

    print()
    print(f"{'figure':<44} {'local':>10} {'docker':>10}  target")
    print(f"{'up, all services ready (s, median)':<44} {med('local', 'up'):>10.2f} {med('docker', 'up'):>10.2f}"
          "  docker <= 15")
    print(f"{'power loss of dc-a applied (ms, median)':<44} {med('local', 'power'):>10.0f} "
          f"{med('docker', 'power'):>10.0f}  <= 200")
    for kind in ("local", "docker"):
        figures[kind]["ratio"] = [h / d for h, d in zip(figures[kind]["hop"], figures[kind]["direct"], strict=True)]
    print(f"{'FHIR read p50 via a link / direct (ratio)':<44} {med('local', 'ratio'):>10.2f} "
          f"{med('docker', 'ratio'):>10.2f}  docker <= 1.2")
    print(f"{'  p50 via the link (ms)':<44} {med('local', 'hop'):>10.2f} {med('docker', 'hop'):>10.2f}")
    print(f"{'  p50 direct (ms)':<44} {med('local', 'direct'):>10.2f} {med('docker', 'direct'):>10.2f}")
    up_ratio = med("docker", "up") / med("local", "up")
    print(f"{'docker / local bring-up (ratio of medians)':<44} {'':>10} {up_ratio:>10.2f}")
    print("docker bring-up, what it is made of (median s):")
    for key in breakdowns[0]:
        print(f"  {key:<42} {statistics.median(b[key] for b in breakdowns):>8.2f}")
    if not args.skip_memory:
        with hospital("docker", patients=args.patients) as (backend, _, _, up_s):
            assert isinstance(backend, DockerBackend)
            time.sleep(2)
            memory = container_memory_mb(backend)
        print(f"memory of every container, {args.patients} patients: {memory:.0f} MB (target <= 2048); "
              f"up took {up_s:.1f} s")


if __name__ == "__main__":
    main()
