"""Soak: the flagship's whole hospital under its clinical load for 10 minutes, no faults. Every
process's resident memory and open file descriptors must stay flat.

Prints figures; asserts nothing (a leak shows as a growing row).

    .venv/bin/python bench/bench_soak.py [--minutes M] [--sample S] [--users N] [--tracemalloc DIR]

The experiment is the flagship's (experiments/aphp-2024-08-03-dc-power-loss.yaml) topology,
probe and load, with no faults and a steady state of ``--minutes``. It runs as a real
``hchaos run``; every ``--sample`` seconds each of the run's processes (found by its run tag:
services, Toxiproxy, HAProxy, Locust and its workers) and the runner itself are read from
/proc: VmRSS and the number of open descriptors; each service's ``/metrics`` gives the
requests it served (health checks and scrapes left out) and the writes among them; the
runner's count is the records on its timeline. The first sample is taken after a minute of
warm-up (caches, connection pools, the first snapshots); the table shows it, the middle sample
and the last one, with the growth over each half, and for the second half the requests served
and the RSS growth per 1 000 of them. Descriptors are shown as the median of each half besides
the points: a proxy's count follows the connections open at the instant, so a plateau has
equal medians and a leak a climbing one. Data a service keeps (a store that grows with every
write) grows in both halves at the rate of the load; a process still growing by more than 5 %
in the second half, or whose descriptors' median climbs by more than 10, is marked ``<-``.

The runner's output goes to a file, never to a pipe nobody reads: a full pipe blocks its
clock loop (measured: from minute 4 on), and the records then pile up unflushed in memory.

``--tracemalloc DIR`` starts :mod:`mock_services.common.memtrace` in the runner and in every
service: allocation reports by traceback, every ``HCHAOS_TRACEMALLOC_INTERVAL`` seconds, in
``DIR/<pid>.txt``. It slows everything down: use it to find what grows, not to measure.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.run.run_tag import of_run, processes_tagged
from mock_services.common import memtrace

REPO = Path(__file__).resolve().parents[1]
FLAGSHIP = REPO / "experiments" / "aphp-2024-08-03-dc-power-loss.yaml"
WARM_UP = 90.0
"""Seconds from the topology being up to the first sample: caches, connection pools, the first
snapshots, and the runner's first request segment (a minute into the load: Polars' threads and
allocator take ~30 MB once, which a soak must not read as growth)."""
RUNNER = "runner (hchaos run)"
NOT_TRAFFIC = {"/health", "/metrics", "/primary"}  # health checks and scrapes, not the load's requests
# ``hchaos run`` with allocation tracing in the runner itself (the services start theirs in serve()).
RUNNER_TRACED = ("from mock_services.common import memtrace; memtrace.start_from_environment(); "
                 "from harness.cli import main; main(prog_name='hchaos')")


def soak_experiment(minutes: float, users: int | None) -> dict[str, object]:
    spec = yaml.safe_load(FLAGSHIP.read_text())
    spec["name"] = "soak"
    spec["faults"] = []
    spec.pop("halt", None)
    spec["phases"] = {"steady_state": f"{minutes * 60:.0f}s", "recovery": "5s"}
    spec["checks"] = [{"type": "availability", "service": "ehr", "phases": ["steady_state"], "max_error_rate": 0.01}]
    if users is not None:
        spec["load"]["users"] = users
        spec["load"]["spawn_rate"] = users
    return spec


def names_by_pid(run_dir: Path) -> dict[int, str]:
    names = {}
    for line in (run_dir / "journal.jsonl").read_text().splitlines():
        entry = json.loads(line)
        if entry.get("type") == "process-start":
            names[int(entry["pid"])] = str(entry["name"])
    return names


def sample(pid: int) -> tuple[int, int] | None:
    """(RSS in KiB, open descriptors) of ``pid``, or None if it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None
    rss = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
    return rss, fds


def served(client: httpx.Client, url: str) -> tuple[int, int] | None:
    """(requests, writes) a service counted in its ``/metrics``, health checks left out; None if unreadable."""
    try:
        text = client.get(url.rstrip("/") + "/metrics").text
        families = list(text_string_to_metric_families(text))
    except (httpx.HTTPError, ValueError):
        return None
    requests = writes = 0
    for family in families:
        if not family.name.endswith("http_requests"):
            continue
        for metric in family.samples:
            if metric.name.endswith("_total") and metric.labels.get("route") not in NOT_TRAFFIC:
                requests += int(metric.value)
                writes += int(metric.value) if metric.labels.get("method") in ("POST", "PUT") else 0
    return requests, writes


def timeline_records(run_dir: Path) -> int:
    try:
        with (run_dir / "timeline.jsonl").open("rb") as timeline:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: timeline.read(1 << 20), b""))
    except OSError:
        return 0


def snapshot_sizes(run_dir: Path) -> dict[str, tuple[int, int]]:
    """Workstation -> (first, last) size of its downtime snapshot in bytes, from its log."""
    sizes = {}
    for log in sorted((run_dir / "logs").glob("care-*.log")):
        text = log.read_text(errors="replace")
        found = [int(m) for m in re.findall(r"event=snapshot-refreshed .*?bytes=(\d+)", text)]
        if found:
            sizes[log.stem] = (found[0], found[-1])
    return sizes


def close_wait(pids: set[int]) -> dict[int, int]:
    """Pid -> its TCP sockets in CLOSE-WAIT: the peer closed, this process never did. Such
    sockets pile up when connections are lost track of (a plateau of open ones does not)."""
    try:
        listing = subprocess.run(["ss", "-tanpH", "state", "close-wait"], capture_output=True, text=True,
                                 timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    counts = dict.fromkeys(pids, 0)
    for pid in re.findall(r"pid=(\d+),", listing):
        if int(pid) in counts:
            counts[int(pid)] += 1
    return counts


Point = tuple[float, int, int, int | None, int | None, int]  # (t, RSS KiB, fds, requests, writes, CLOSE-WAIT)


def row(name: str, points: list[Point]) -> str:
    (_, rss0, fd0, _, _, _), (_, rss_mid, fd_mid, req_mid, _, _), (_, rss1, fd1, req1, _, _) = (
        points[0], points[len(points) // 2], points[-1])
    first, second = (rss_mid - rss0) / rss0, (rss1 - rss_mid) / rss_mid
    half = len(points) // 2
    med1 = statistics.median(p[2] for p in points[: half + 1])
    med2 = statistics.median(p[2] for p in points[half:])
    peak_fds = max(p[2] for p in points)
    waits = f"{points[-1][5]}/{max(p[5] for p in points)}"
    requests = req1 - req_mid if req1 is not None and req_mid is not None else None
    per_k = f"{(rss1 - rss_mid) / (requests / 1000):+8.1f}" if requests else f"{'-':>8}"
    # A leak keeps growing: flag what still grows in the second half, not a warm-up.
    flag = "  <-" if second > 0.05 or med2 > med1 + 10 or points[-1][5] > 5 else ""
    return (f"{name:<20} {rss0 / 1024:7.1f} {rss_mid / 1024:6.1f} {rss1 / 1024:6.1f} {first:+8.1%} {second:+8.1%}"
            f" {requests if requests is not None else '-':>7} {per_k}   "
            f"{fd0:4d} {fd_mid:4d} {fd1:4d} {peak_fds:4d} {med1:6.0f} {med2:6.0f} {waits:>7}{flag}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--sample", type=float, default=20.0, help="seconds between samples")
    parser.add_argument("--users", type=int, default=None, help="load users (default: the flagship's)")
    parser.add_argument("--tracemalloc", type=Path, default=None, metavar="DIR",
                        help="trace allocations in the runner and every service: reports in DIR/<pid>.txt "
                             "(mock_services/common/memtrace.py); slows the run, for finding a leak")
    parser.add_argument("--keep-run", type=Path, default=None, metavar="DIR",
                        help="copy the run folder (logs, data, timeline) into DIR at the end")
    args = parser.parse_args()
    series: dict[str, list[Point]] = {}
    with tempfile.TemporaryDirectory() as tmp, httpx.Client(timeout=2.0) as client:
        experiment = Path(tmp) / "soak.yaml"
        experiment.write_text(yaml.safe_dump(soak_experiment(args.minutes, args.users), sort_keys=False))
        runs = Path(tmp) / "runs"
        env = dict(os.environ)
        command = [sys.executable, "-m", "harness.cli"]
        if args.tracemalloc is not None:
            env[memtrace.ENV] = str(args.tracemalloc.resolve())
            command = [sys.executable, "-c", RUNNER_TRACED]
        output_path = Path(tmp) / "runner.out"
        with output_path.open("wb") as output:
            runner = subprocess.Popen([*command, "run", str(experiment), "--runs-dir", str(runs)], cwd=REPO, env=env,
                                      stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 120
            while not list(runs.glob("*/endpoints.json")):
                if runner.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"the soak run did not come up:\n{output_path.read_text()[-3000:]}")
                time.sleep(0.5)
            (run_dir,) = runs.iterdir()
            instances: dict[str, str] = json.loads((run_dir / "endpoints.json").read_text())["instances"]
            up_at = time.monotonic()
            time.sleep(WARM_UP)
            ends_at = up_at + args.minutes * 60
            while time.monotonic() < ends_at - 2 and runner.poll() is None:
                names = names_by_pid(run_dir)
                pids = {p.pid: names.get(p.pid, p.command.split()[0].rsplit("/", 1)[-1] + f"-{p.pid}")
                        for p in processes_tagged(of_run(run_dir))} | {runner.pid: RUNNER}
                now = time.monotonic() - up_at
                waiting = close_wait(set(pids))
                for pid, name in pids.items():
                    if (figures := sample(pid)) is None:
                        continue
                    counts: tuple[int | None, int | None] = (None, None)
                    if name in instances:
                        counts = served(client, instances[name]) or (None, None)
                    elif name == RUNNER:
                        counts = (timeline_records(run_dir), None)
                    series.setdefault(name, []).append((now, *figures, *counts, waiting.get(pid, 0)))
                print(f"  {now:6.0f}s: {len(pids)} processes sampled", flush=True)
                time.sleep(args.sample)
            runner.wait(timeout=300)
            snapshots = snapshot_sizes(run_dir)
            output = output_path.read_text(errors="replace")
            if args.keep_run is not None:
                shutil.copytree(run_dir, args.keep_run / run_dir.name, dirs_exist_ok=True)
        finally:
            if runner.poll() is None:
                runner.terminate()
                runner.wait(timeout=60)
    verdict_line = next((line for line in output.splitlines() if "verdict:" in line), "(no verdict line)")
    print(f"\nsoak: {args.minutes:g} min of the flagship's load, no faults; run {verdict_line.strip()}")
    print(f"{'process':<20} {'RSS MiB':>7} {'':>6} {'':>6} {'growth':>8} {'':>8} {'2nd half':>7} {'KiB per':>8}   "
          f"{'fds':>4} {'':>4} {'':>4} {'':>4} {'median':>6} {'':>6} {'CLOSE-':>7}")
    print(f"{'':<20} {'warm-up':>7} {'mid':>6} {'end':>6} {'1st half':>8} {'2nd half':>8} {'requests':>7} "
          f"{'1k req':>8}   {'w-up':>4} {'mid':>4} {'end':>4} {'max':>4} {'1st':>6} {'2nd':>6} {'WAIT':>7}")
    for name, points in sorted(series.items()):
        if len(points) >= 3:
            print(row(name, points))
    print("(CLOSE-WAIT: sockets at the end / the most at one sample)")
    for name, points in sorted(series.items()):
        writes = [p[4] for p in points if p[4] is not None]
        if len(writes) >= 2 and writes[-1] > writes[0]:
            rss = (points[-1][1] - points[0][1]) * 1024
            count = writes[-1] - writes[0]
            print(f"{name}: {count} writes (POST/PUT) after warm-up, RSS {rss / count:+.0f} bytes per write")
    for name, (first, last) in snapshots.items():
        print(f"{name}: downtime snapshot {first / 1024:.0f} KiB at the first refresh, {last / 1024:.0f} KiB "
              "at the last")


if __name__ == "__main__":
    main()
