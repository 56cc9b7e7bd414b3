"""Soak: the flagship's whole hospital under its clinical load for 10 minutes, no faults. Every
process's resident memory and open file descriptors must stay flat.

Prints figures; asserts nothing (a leak shows as a growing row).

    .venv/bin/python bench/bench_soak.py [--minutes M] [--sample S] [--users N]

The experiment is the flagship's (experiments/aphp-2024-08-03-dc-power-loss.yaml) topology,
probe and load, with no faults and a steady state of ``--minutes``. It runs as a real
``hchaos run``; every ``--sample`` seconds each of the run's processes (found by its run tag:
services, Toxiproxy, HAProxy, Locust and its workers) and the runner itself are read from
/proc: VmRSS and the number of open descriptors. The first sample is taken after a minute of
warm-up (caches, connection pools, the first snapshots); the table shows it beside the last
one, and the growth. A process whose RSS grows by more than 10 % or whose descriptors keep
climbing is marked ``<-``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.faults.run_tag import of_run, processes_tagged

REPO = Path(__file__).resolve().parents[1]
FLAGSHIP = REPO / "experiments" / "aphp-2024-08-03-dc-power-loss.yaml"
WARM_UP = 60.0


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--sample", type=float, default=20.0, help="seconds between samples")
    parser.add_argument("--users", type=int, default=None, help="load users (default: the flagship's)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        experiment = Path(tmp) / "soak.yaml"
        experiment.write_text(yaml.safe_dump(soak_experiment(args.minutes, args.users), sort_keys=False))
        runs = Path(tmp) / "runs"
        runner = subprocess.Popen([sys.executable, "-m", "harness.cli", "run", str(experiment), "--runs-dir",
                                   str(runs)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + 120
            while not list(runs.glob("*/endpoints.json")):
                if runner.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"the soak run did not come up:\n{runner.communicate()[0][-3000:]}")
                time.sleep(0.5)
            (run_dir,) = runs.iterdir()
            up_at = time.monotonic()
            time.sleep(WARM_UP)
            series: dict[str, list[tuple[float, int, int]]] = {}
            ends_at = up_at + args.minutes * 60
            while time.monotonic() < ends_at - 2 and runner.poll() is None:
                names = names_by_pid(run_dir)
                pids = {p.pid: names.get(p.pid, p.command.split()[0].rsplit("/", 1)[-1] + f"-{p.pid}")
                        for p in processes_tagged(of_run(run_dir))} | {runner.pid: "runner (hchaos run)"}
                now = time.monotonic() - up_at
                for pid, name in pids.items():
                    if (figures := sample(pid)) is not None:
                        series.setdefault(name, []).append((now, *figures))
                print(f"  {now:6.0f}s: {len(pids)} processes sampled", flush=True)
                time.sleep(args.sample)
            output, _ = runner.communicate(timeout=300)
        finally:
            if runner.poll() is None:
                runner.terminate()
                runner.wait(timeout=60)
    verdict_line = next((line for line in output.splitlines() if "verdict:" in line), "(no verdict line)")
    print(f"\nsoak: {args.minutes:g} min of the flagship's load, no faults; run {verdict_line.strip()}")
    print(f"{'process':<26} {'from':>6} {'to':>6}  {'RSS MiB':>8} {'-> MiB':>7} {'growth':>7}   "
          f"{'fds':>4} {'->':>4} {'max':>4}")
    for name, points in sorted(series.items()):
        if len(points) < 2:
            continue
        (t0, rss0, fd0), (t1, rss1, fd1) = points[0], points[-1]
        growth = (rss1 - rss0) / rss0 if rss0 else 0.0
        peak_fds = max(p[2] for p in points)
        flag = "  <-" if growth > 0.10 or fd1 > fd0 + 5 else ""
        print(f"{name:<26} {t0:5.0f}s {t1:5.0f}s  {rss0 / 1024:8.1f} {rss1 / 1024:7.1f} {growth:+7.1%}   "
              f"{fd0:4d} {fd1:4d} {peak_fds:4d}{flag}")


if __name__ == "__main__":
    main()
