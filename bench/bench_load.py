"""Clinical load benchmarks (issue 4). Prints figures; asserts nothing.

    .venv/bin/python bench/bench_load.py [--seconds 10] [--rounds 6] [--users 16] [--mixed-seconds 60]

1. Raw capacity, EHR-only topology through the front door (Toxiproxy + HAProxy), one Locust
   process each, rounds interleaved so machine noise hits all alike:
   - plain: a bare FastHttpUser sending the nurse chart review's four GETs (bench/locustfiles/plain_reads.py);
   - persona: the nurse persona doing only chart_review (body checks, names, context), recording on;
   - persona, recording off: the same with the recorder disabled.
   Targets: persona >= 60 % of plain; recording overhead (1 - on/off) < 5 %.
2. Mixed clinical load for ``--mixed-seconds`` with Locust's ``--processes 2`` (a master and
   two workers) through the harness's own LoadSession, on two topologies: the EHR with the
   clinicians' tasks (chart review, vitals, medication administration, documentation,
   orders), and the whole hospital with every persona (adds lab portal, MLLP results,
   DICOMweb reads and STOW-RS stores, scheduling): requests/s sustained, CPU per process,
   and Locust's count against the timeline's. Target >= 1 000 req/s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.backends import DataOptions, Endpoints, ServiceOptions
from harness.backends.local import LocalBackend, LocalOptions
from harness.experiment import LoadConfig
from harness.load.plan import RECORDS_FILE, STOP_FILE, SUMMARY_FILE, LoadPlan, PersonaPlan, Stage
from harness.load.planner import persona_plans
from harness.load.session import LoadSession
from harness.timeline import TimelineWriter
from harness.topology import ALL_SERVICES, reference_topology

HERE = Path(__file__).resolve().parent
PATIENTS = 200


def _plan(run_dir: Path, endpoints: Endpoints, personas: dict[str, PersonaPlan], users: int, seconds: float,
          think: tuple[float, float], record: bool = True) -> LoadPlan:
    return LoadPlan(
        run_id=run_dir.name,
        http_targets={s: u for s, u in endpoints.front_door_urls.items() if s != "messaging"},
        mllp_targets=[endpoints.mllp[name] for name in sorted(endpoints.mllp)],
        personas=personas, stages=[Stage(seconds, users, float(users))], think_time=think, timeout=5.0,
        patients=PATIENTS, records_path=str(run_dir / RECORDS_FILE), summary_path=str(run_dir / SUMMARY_FILE),
        stop_path=str(run_dir / STOP_FILE), extra={"record": record})


def _cpu_seconds() -> dict[str, float]:
    """CPU seconds used so far by this process and every descendant, by short name."""
    me = psutil.Process()
    usage: dict[str, float] = {}
    for proc in [me, *me.children(recursive=True)]:
        try:
            times = proc.cpu_times()
            cmd = proc.cmdline()
        except psutil.Error:
            continue
        name = _short_name(cmd)
        usage[name] = usage.get(name, 0.0) + times.user + times.system
    return usage


def _short_name(cmd: list[str]) -> str:
    if "--name" in cmd:
        return cmd[cmd.index("--name") + 1]
    if any("locust" in part for part in cmd):
        return "locust"
    if any("bench_load" in part for part in cmd):
        return "harness (ingest)"
    return Path(cmd[0]).name if cmd else "?"


def run_session(plan: LoadPlan, run_dir: Path, processes: int = 1,
                cpu: dict[str, float] | None = None) -> tuple[float, int, int | None, int]:
    """(elapsed s, requests Locust counted, failures, records on the timeline); ``cpu`` gets
    the CPU seconds each process used during the run."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with TimelineWriter(run_dir / "timeline.jsonl") as timeline:
        session = LoadSession(plan, run_dir, timeline, processes=processes)
        started = time.monotonic()
        session.start()
        before = _cpu_seconds()
        after: dict[str, float] | None = None
        while session.alive() and time.monotonic() - started < plan.duration + 30:
            time.sleep(0.2)
            timeline.flush()
            if after is None and time.monotonic() - started >= plan.duration - 1:
                after = _cpu_seconds()  # sampled once: psutil scans cost CPU too
        summary = session.stop()
    if cpu is not None and after is not None:
        cpu.update({name: after[name] - before.get(name, 0.0) for name in after})
    return plan.duration, summary.locust_requests or 0, summary.locust_failures, summary.ingested


def run_plain(url: str, users: int, seconds: float, run_dir: Path) -> tuple[int, int]:
    run_dir.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "locust", "-f", str(HERE / "locustfiles" / "plain_reads.py"), "--headless",
            "-u", str(users), "-r", str(users), "--run-time", f"{seconds:g}s", "--json", "--only-summary",
            "--loglevel", "WARNING", "--stop-timeout", "2"]
    env = {**os.environ, "BENCH_EHR_URL": url, "BENCH_PATIENTS": str(PATIENTS)}
    out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=seconds + 60, cwd=run_dir)
    stats = json.loads(out.stdout)
    return sum(s["num_requests"] for s in stats), sum(s["num_failures"] for s in stats)


def bench_capacity(seconds: float, rounds: int, users: int) -> None:
    print(f"== 1. raw capacity: {users} users, {seconds:g}s per run, {rounds} rounds, EHR through the front door")
    with tempfile.TemporaryDirectory() as tmp:
        options = LocalOptions(services=ServiceOptions(data=DataOptions(patients=PATIENTS)))
        backend = LocalBackend(reference_topology(("ehr",)), Path(tmp) / "topology", options=options)
        try:
            endpoints = backend.up()
            nurse = {"nurse": PersonaPlan(1, {"chart_review": 1})}
            rates: dict[str, list[float]] = {"plain": [], "persona": [], "persona, recording off": []}
            failures: dict[str, int] = dict.fromkeys(rates, 0)
            order = ["plain", "persona", "persona, recording off"]
            for r in range(rounds):
                # Rotated each round so that drift in the machine's speed hits all three alike.
                for label in order[r % 3:] + order[:r % 3]:
                    run_dir = Path(tmp) / f"{label.replace(', ', '-').replace(' ', '-')}-{r}"
                    if label == "plain":
                        count, failed = run_plain(endpoints.front_door_urls["ehr"], users, seconds, run_dir)
                        rates[label].append(count / seconds)
                        failures[label] += failed
                        continue
                    record = label == "persona"
                    plan = _plan(run_dir, endpoints, nurse, users, seconds, (0.0, 0.0), record)
                    elapsed, count, session_failed, ingested = run_session(plan, run_dir)
                    rates[label].append(count / elapsed)
                    failures[label] += session_failed or 0
                    if record and ingested != count:
                        print(f"   !! {label}: Locust counted {count}, the timeline has {ingested}")
                print(f"   round {r + 1}: " + ", ".join(f"{k} {v[-1]:.0f}/s" for k, v in rates.items()), flush=True)
        finally:
            backend.down()
    med = {k: statistics.median(v) for k, v in rates.items()}
    print(f"   failed requests (all rounds): {failures}")
    print(f"   median req/s: plain {med['plain']:.0f}, persona {med['persona']:.0f}, "
          f"persona without recording {med['persona, recording off']:.0f}")
    # Ratios per round (the three runs of a round are back to back) are steadier than ratios
    # of medians taken over the whole bench.
    persona_ratio = statistics.median(p / q for p, q in zip(rates["persona"], rates["plain"], strict=True))
    recording = statistics.median(1 - p / q for p, q in
                                  zip(rates["persona"], rates["persona, recording off"], strict=True))
    print(f"   persona / plain = {med['persona'] / med['plain']:.2f} (medians), {persona_ratio:.2f} "
          "(median of per-round ratios) (target >= 0.60)")
    print(f"   recording overhead = {1 - med['persona'] / med['persona, recording off']:.1%} (medians), "
          f"{recording:.1%} (median of per-round ratios) (target < 5 %)")


def bench_mixed(seconds: float, users: int, think: tuple[float, float], services: tuple[str, ...]) -> None:
    label = "whole hospital" if set(services) == set(ALL_SERVICES) else "+".join(services)
    print(f"== 2. mixed clinical load, {label}, {users} users, think 0-{think[1]:g}s, {seconds:g}s, "
          "Locust --processes 2")
    with tempfile.TemporaryDirectory() as tmp:
        options = LocalOptions(services=ServiceOptions(data=DataOptions(patients=PATIENTS)))
        backend = LocalBackend(reference_topology(services), Path(tmp) / "topology", options=options)
        try:
            endpoints = backend.up()
            personas = persona_plans(LoadConfig(), services)
            print("   personas (share: tasks): " + "; ".join(
                f"{name} {p.weight:g}: {', '.join(p.tasks)}" for name, p in personas.items()))
            run_dir = Path(tmp) / "mixed"
            plan = _plan(run_dir, endpoints, personas, users, seconds, think)
            cpu: dict[str, float] = {}
            elapsed, count, failed, ingested = run_session(plan, run_dir, processes=2, cpu=cpu)
        finally:
            backend.down()
    print(f"   {count} requests in {elapsed:.0f}s = {count / elapsed:.0f} req/s (target >= 1000), "
          f"{failed} failed")
    total = sum(cpu.values())
    print(f"   CPU during the run: {total / elapsed:.2f} cores busy of 2; per process (% of one core): "
          + ", ".join(f"{name} {seconds / elapsed:.0%}" for name, seconds in
                      sorted(cpu.items(), key=lambda item: -item[1]) if seconds / elapsed >= 0.01))
    print(f"   Locust counted {count}, the timeline has {ingested}: {'match' if count == ingested else 'MISMATCH'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--mixed-seconds", type=float, default=60)
    parser.add_argument("--mixed-users", type=int, default=60)
    parser.add_argument("--mixed-think", type=float, default=0.05, help="longest think time (s) of the mixed load")
    parser.add_argument("--skip-capacity", action="store_true")
    parser.add_argument("--mixed-services", nargs="+", default=["ehr", ",".join(ALL_SERVICES)],
                        help="topologies of the mixed runs, each a comma-separated service list")
    args = parser.parse_args()
    if not args.skip_capacity:
        bench_capacity(args.seconds, args.rounds, args.users)
    if args.mixed_seconds > 0:
        for services in args.mixed_services:
            bench_mixed(args.mixed_seconds, args.mixed_users, (0.0, args.mixed_think), tuple(services.split(",")))


if __name__ == "__main__":
    main()
