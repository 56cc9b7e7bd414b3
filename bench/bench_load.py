"""Clinical load benchmarks (issue 4). Prints figures; asserts nothing.

    .venv/bin/python bench/bench_load.py [--seconds 10] [--rounds 3] [--users 16] [--mixed-seconds 60]

1. Raw capacity, EHR-only topology through the front door (Toxiproxy + HAProxy), one Locust
   process each, rounds interleaved so machine noise hits all alike:
   - plain: a bare FastHttpUser sending the nurse chart review's four GETs (bench/locustfiles/plain_reads.py);
   - persona: the nurse persona doing only chart_review (body checks, names, context), recording on;
   - persona, recording off: the same with the recorder disabled.
   Targets: persona >= 60 % of plain; recording overhead (1 - on/off) < 5 %.
2. Mixed clinical load on the whole hospital for ``--mixed-seconds`` with Locust's
   ``--processes 2`` (a master and two workers) through the harness's own LoadSession:
   requests/s sustained, and Locust's count against the timeline's. Target >= 1 000 req/s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


def run_session(plan: LoadPlan, run_dir: Path, processes: int = 1) -> tuple[float, int, int | None, int]:
    """(elapsed s, requests Locust counted, failures, records on the timeline)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with TimelineWriter(run_dir / "timeline.jsonl") as timeline:
        session = LoadSession(plan, run_dir, timeline, processes=processes)
        started = time.monotonic()
        session.start()
        while session.alive() and time.monotonic() - started < plan.duration + 30:
            time.sleep(0.2)
            timeline.flush()
        summary = session.stop()
    return plan.duration, summary.locust_requests or 0, summary.locust_failures, summary.ingested


def run_plain(url: str, users: int, seconds: float, run_dir: Path) -> tuple[int, int]:
    run_dir.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "locust", "-f", str(HERE / "locustfiles" / "plain_reads.py"), "--headless",
            "-u", str(users), "-r", str(users), "--run-time", f"{seconds:g}s", "--json", "--only-summary",
            "--loglevel", "WARNING", "--stop-timeout", "2"]
    env = {"BENCH_EHR_URL": url, "BENCH_PATIENTS": str(PATIENTS), **_env()}
    out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=seconds + 60, cwd=run_dir)
    stats = json.loads(out.stdout)
    return sum(s["num_requests"] for s in stats), sum(s["num_failures"] for s in stats)


def _env() -> dict[str, str]:
    import os
    return dict(os.environ)


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
            for r in range(rounds):
                requests, failed = run_plain(endpoints.front_door_urls["ehr"], users, seconds,
                                             Path(tmp) / f"plain-{r}")
                rates["plain"].append(requests / seconds)
                failures["plain"] += failed
                for label, record in (("persona", True), ("persona, recording off", False)):
                    run_dir = Path(tmp) / f"{label.replace(', ', '-').replace(' ', '-')}-{r}"
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
    print(f"   persona / plain = {med['persona'] / med['plain']:.2f} (target >= 0.60)")
    overhead = 1 - med["persona"] / med["persona, recording off"]
    print(f"   recording overhead = {overhead:.1%} (target < 5 %)")


def bench_mixed(seconds: float, users: int) -> None:
    print(f"== 2. mixed clinical load, whole hospital, {users} users, {seconds:g}s, Locust --processes 2")
    with tempfile.TemporaryDirectory() as tmp:
        options = LocalOptions(services=ServiceOptions(data=DataOptions(patients=PATIENTS)))
        backend = LocalBackend(reference_topology(ALL_SERVICES), Path(tmp) / "topology", options=options)
        try:
            endpoints = backend.up()
            personas = persona_plans(LoadConfig(), ALL_SERVICES)
            run_dir = Path(tmp) / "mixed"
            plan = _plan(run_dir, endpoints, personas, users, seconds, (0.0, 0.05))
            elapsed, count, failed, ingested = run_session(plan, run_dir, processes=2)
        finally:
            backend.down()
    print(f"   {count} requests in {elapsed:.0f}s = {count / elapsed:.0f} req/s (target >= 1000), "
          f"{failed} failed")
    print(f"   Locust counted {count}, the timeline has {ingested}: {'match' if count == ingested else 'MISMATCH'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--mixed-seconds", type=float, default=60)
    parser.add_argument("--mixed-users", type=int, default=60)
    parser.add_argument("--skip-capacity", action="store_true")
    args = parser.parse_args()
    if not args.skip_capacity:
        bench_capacity(args.seconds, args.rounds, args.users)
    if args.mixed_seconds > 0:
        bench_mixed(args.mixed_seconds, args.mixed_users)


if __name__ == "__main__":
    main()
