"""Spine benchmarks (issue 2): topology start-up, data-center cut latency, Toxiproxy overhead.

Prints figures; asserts nothing (targets are compared in the output, not enforced).

    .venv/bin/python bench/bench_spine.py [--rounds N] [--reads N]

1. Topology up: both data centers, Toxiproxy, HAProxy, ready through the front door.
   Target: median <= 5 s.
2. Data-center cut: wall time for Toxiproxy to hold every toxic of a dc-a power loss
   (6 toxics on 3 proxies), sent together, vs the same requests sent one after another.
   Target: median <= 50 ms.
3. Toxiproxy path overhead: p50 of ``GET /Patient/{id}`` straight to ehr-a vs through its
   link's proxy (same instance, same keep-alive client kind), interleaved in batches so
   machine noise hits both alike. Target: ratio <= 1.2. The full client path (campus link
   -> HAProxy -> link) is shown for context.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.backends import EhrOptions
from harness.backends.local import LocalBackend, LocalOptions
from harness.experiment import PowerLossFault
from harness.faults import Journal, Nemesis, plan_fault
from harness.topology import reference_topology
from harness.toxiproxy import ToxiproxyClient

OPTIONS = LocalOptions(ehr=EhrOptions(promote_after=3.0))


def bench_up(rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as tmp:
            backend = LocalBackend(reference_topology(), Path(tmp), options=OPTIONS)
            started = time.perf_counter()
            try:
                backend.up()
                times.append(time.perf_counter() - started)
            finally:
                backend.down()
    return times


def bench_cut(nemesis: Nemesis, toxiproxy_url: str, rounds: int) -> tuple[list[float], list[float]]:
    topology = reference_topology()
    together, one_by_one = [], []
    fault = PowerLossFault(type="power_loss", target="dc-a", duration=1, name="bench-cut")
    plan = plan_fault(fault, fault.label, topology)
    links_only = type(plan)(plan.label, plan.fault_type, plan.target, plan.at, plan.duration, toxics=plan.toxics)
    with ToxiproxyClient(toxiproxy_url) as client:
        for _ in range(rounds):
            together.append(nemesis.inject(links_only))
            nemesis.heal(links_only)
            started = time.perf_counter()
            for action in plan.toxics:
                client.add_toxic(action.link, action.toxic)
            one_by_one.append(time.perf_counter() - started)
            nemesis.heal(links_only)
    return together, one_by_one


def p50_reads(url: str, patient_id: str, count: int, client: httpx.Client) -> list[float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        response = client.get(f"{url}/Patient/{patient_id}")
        samples.append(time.perf_counter() - started)
        response.raise_for_status()
    return samples


def bench_overhead(direct: str, proxied: str, front_door: str, reads: int) -> dict[str, list[float]]:
    created = httpx.post(f"{front_door}/Patient", json={"resourceType": "Patient", "name": [{"family": "Bench"}]},
                         timeout=5)
    created.raise_for_status()
    patient_id = created.json()["id"]
    samples: dict[str, list[float]] = {"direct": [], "proxied": [], "front door": []}
    targets = {"direct": direct, "proxied": proxied, "front door": front_door}
    clients = {name: httpx.Client(timeout=5) for name in targets}
    try:
        for name, url in targets.items():  # warm-up: connections, caches
            p50_reads(url, patient_id, 50, clients[name])
        batch = 50
        for _ in range(max(1, reads // batch)):
            for name, url in targets.items():
                samples[name] += p50_reads(url, patient_id, batch, clients[name])
    finally:
        for client in clients.values():
            client.close()
    return samples


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7, help="start-ups and cuts to time (default 7)")
    parser.add_argument("--reads", type=int, default=2000, help="reads per path for the overhead (default 2000)")
    args = parser.parse_args()

    print(f"== 1. topology up ({args.rounds} rounds)")
    ups = bench_up(args.rounds)
    print(f"   median {statistics.median(ups):.2f} s  (min {min(ups):.2f}, max {max(ups):.2f})  target <= 5 s")

    with tempfile.TemporaryDirectory() as tmp:
        journal = Journal(Path(tmp), "bench")
        backend = LocalBackend(reference_topology(), Path(tmp), options=OPTIONS, journal=journal)
        endpoints = backend.up()
        nemesis = Nemesis(endpoints, backend, journal)
        try:
            print(f"== 2. dc-a cut: 6 toxics on 3 proxies ({args.rounds} rounds)")
            together, one_by_one = bench_cut(nemesis, endpoints.toxiproxy_url, args.rounds)
            med_t, med_s = statistics.median(together), statistics.median(one_by_one)
            print(f"   together    median {ms(med_t)}  (max {ms(max(together))})  target <= 50 ms")
            print(f"   one by one  median {ms(med_s)}  ratio together/one-by-one {med_t / med_s:.2f}")

            print(f"== 3. Toxiproxy path overhead, GET /Patient/{{id}} x {args.reads} per path")
            samples = bench_overhead(endpoints.instance_urls["ehr-a"],
                                     f"http://{endpoints.links['frontdoor-ehr-a'].listen}",
                                     endpoints.front_door_url, args.reads)
            p50 = {name: statistics.median(values) for name, values in samples.items()}
            for name, value in p50.items():
                print(f"   {name:<11} p50 {ms(value)}   ratio to direct {value / p50['direct']:.2f}")
            print(f"   proxied/direct p50 ratio {p50['proxied'] / p50['direct']:.2f}  target <= 1.2")
        finally:
            nemesis.close()
            backend.down()
            journal.close()


if __name__ == "__main__":
    main()
