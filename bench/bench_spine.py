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

from harness.backends import EhrOptions, ServiceOptions
from harness.backends.local import LocalBackend, LocalOptions
from harness.experiment import PowerLossFault
from harness.faults import Nemesis, plan_fault
from harness.run.journal import Journal
from harness.topology import reference_topology
from harness.toxiproxy import ToxiproxyClient

OPTIONS = LocalOptions(services=ServiceOptions(ehr=EhrOptions(promote_after=3.0)))


def bench_up(rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as tmp:
            backend = LocalBackend(reference_topology(("ehr",)), Path(tmp), options=OPTIONS)
            started = time.perf_counter()
            try:
                backend.up()
                times.append(time.perf_counter() - started)
            finally:
                backend.down()
    return times


def bench_cut(nemesis: Nemesis, toxiproxy_url: str, rounds: int) -> tuple[list[float], list[float]]:
    topology = reference_topology(("ehr",))
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


def bench_remote_cut(toxiproxy_url: str, rounds: int, rtt_ms: int = 2) -> tuple[list[float], list[float]]:
    """The same cut against a Toxiproxy API ``rtt_ms`` away (as in staging, where the
    Toxiproxy runs next to the systems under test): the API is reached through a proxy of
    its own with a latency toxic. Concurrency is what keeps the cut short there."""
    from harness.backends.local.ports import allocate_free_ports
    from harness.toxiproxy import ProxySpec, ToxicSpec, ToxiproxyFleet

    api_port = toxiproxy_url.rsplit(":", 1)[1]
    (listen_port,) = allocate_free_ports(1)
    plan = plan_fault(PowerLossFault(type="power_loss", target="dc-a", duration=1, name="remote-cut"),
                      "remote-cut", reference_topology(("ehr",)))
    with ToxiproxyClient(toxiproxy_url) as local:
        local.create_proxy(ProxySpec("bench-api", f"127.0.0.1:{listen_port}", f"127.0.0.1:{api_port}"))
        local.add_toxic("bench-api", ToxicSpec(type="latency", name="rtt", stream="downstream",
                                               attributes={"latency": rtt_ms}))
        remote = ToxiproxyClient(f"http://127.0.0.1:{listen_port}")
        fleet = ToxiproxyFleet([remote])
        together, one_by_one = [], []
        try:
            for _ in range(rounds):
                started = time.perf_counter()
                fleet.run_concurrently([lambda a=a: remote.add_toxic(a.link, a.toxic) for a in plan.toxics])
                together.append(time.perf_counter() - started)
                for a in plan.toxics:
                    local.remove_toxic(a.link, a.toxic_name)
                started = time.perf_counter()
                for a in plan.toxics:
                    remote.add_toxic(a.link, a.toxic)
                one_by_one.append(time.perf_counter() - started)
                for a in plan.toxics:
                    local.remove_toxic(a.link, a.toxic_name)
        finally:
            fleet.close()
            local.delete_proxy("bench-api")
    return together, one_by_one


def p50_reads(url: str, patient_id: str, count: int, client: httpx.Client) -> list[float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        response = client.get(f"{url}/Patient/{patient_id}")
        samples.append(time.perf_counter() - started)
        response.raise_for_status()
    return samples


def wait_for_primary(front_door: str, timeout: float = 15.0) -> None:
    """The cuts above close held connections and fail health checks: let the front door
    settle on a primary again before measuring latency."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{front_door}/primary", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the front door {front_door} routes to no primary after {timeout:.0f}s")


def bench_overhead(direct: str, proxied: str, front_door: str, reads: int) -> dict[str, list[float]]:
    wait_for_primary(front_door)
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
        backend = LocalBackend(reference_topology(("ehr",)), Path(tmp), options=OPTIONS, journal=journal)
        endpoints = backend.up()
        nemesis = Nemesis(endpoints, backend, journal)
        try:
            print(f"== 2. dc-a cut: 6 toxics on 3 proxies ({args.rounds} rounds)")
            together, one_by_one = bench_cut(nemesis, endpoints.toxiproxy_url, args.rounds)
            med_t, med_s = statistics.median(together), statistics.median(one_by_one)
            print(f"   together    median {ms(med_t)}  (max {ms(max(together))})  target <= 50 ms")
            print(f"   one by one  median {ms(med_s)}  ratio together/one-by-one {med_t / med_s:.2f}")
            print("   (loopback: each call is ~1 ms of client CPU under the GIL, so sending together gains little)")
            together, one_by_one = bench_remote_cut(endpoints.toxiproxy_url, args.rounds)
            med_t, med_s = statistics.median(together), statistics.median(one_by_one)
            print(f"   Toxiproxy API 2 ms away: together median {ms(med_t)}, one by one {ms(med_s)}, "
                  f"ratio {med_t / med_s:.2f}")

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
