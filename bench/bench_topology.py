"""How long a large user topology takes to load and validate: 40 sites (datacenters and
campuses) and 10, 100 or 400 instances of user services (``command: [sleep, "1000"]``,
``speaks: [http]``, round-robin front door, some ``depends_on``). Target: <= 200 ms for 400
instances, in-process (``load_experiment`` + ``plan_faults``, which builds the topology and
checks every name); the times at 10 and 100 instances show how it grows.

Prints figures; asserts nothing.

    .venv/bin/python bench/bench_topology.py [--rounds N] [--profile]

Also prints the whole ``hchaos validate FILE`` process for the 400-instance file (median of
``--process-rounds``, 5 by default), and with ``--profile`` the functions where the in-process
time goes (cProfile, sorted by cumulative and by own time).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SITES = 40
CAMPUSES = 4  # the other 36 are datacenters
PER_SERVICE = 10  # instances per service: 10 instances = 1 service, 400 = 40 services
SIZES = (10, 100, 400)
TARGET_S = 0.200


def experiment_yaml(instances: int) -> str:
    """An experiment with ``SITES`` sites and ``instances`` instances, as YAML (flow style, one line each).

    Service ``svc-k`` has ``PER_SERVICE`` instances placed round the sites; every service but
    each fourth depends on the one before it (through the front door), so dependency links are
    derived too. Instances are written out one by one (not ``count``), as a generated inventory would be.
    """
    sites = [f"    - {{name: site-{s:02d}, kind: {'campus' if s < CAMPUSES else 'datacenter'}}}"
             for s in range(SITES)]
    services = []
    for k in range(max(1, instances // PER_SERVICE)):
        placed = ", ".join(f"{{name: svc-{k}-{i}, site: site-{(k * PER_SERVICE + i) % SITES:02d}}}"
                           for i in range(PER_SERVICE))
        depends = f", depends_on: [svc-{k - 1}]" if k % 4 else ""
        services.append(f"    - {{name: svc-{k}, command: [sleep, \"1000\"], speaks: [http],"
                        f" instances: [{placed}], front_door: {{mode: round-robin}}{depends}}}")
    return ("version: 1\nname: big-topology\nbackend: local\ntopology:\n  preset: none\n  sites:\n"
            + "\n".join(sites) + "\n  services:\n" + "\n".join(services) + "\nprobe: {service: svc-0}\n")


def load_and_plan(path: Path) -> None:
    """What is measured: load the file and plan its faults (which builds and checks the topology)."""
    from harness.experiment import load_experiment
    from harness.runner.planning import plan_faults

    plan_faults(load_experiment(path))


def link_count(path: Path) -> int:
    """How many links the topology derives (for the table; not timed)."""
    from harness.experiment import load_experiment
    from harness.runner.targets import topology_for

    return len(topology_for(load_experiment(path).experiment).link_names)


def time_in_process(path: Path, rounds: int) -> float:
    """Median wall time of ``load_and_plan`` (after one warm-up: imports are not what is measured)."""
    load_and_plan(path)
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        load_and_plan(path)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def phases(path: Path, rounds: int) -> dict[str, float]:
    """Median time of each step of ``load_and_plan``: the whole load, the YAML parse inside it
    (timed on its own: the rest of the load is the pydantic model, the topology file, the
    source map), and planning."""
    from harness.experiment import load_experiment
    from harness.experiment.source import parse_yaml
    from harness.runner.planning import plan_faults

    text = path.read_text()
    times: dict[str, list[float]] = {"load_experiment": [], "  of which YAML parse (parse_yaml)": [],
                                     "plan_faults (build + check topology)": []}
    for _ in range(rounds):
        started = time.perf_counter()
        loaded = load_experiment(path)
        loaded_at = time.perf_counter()
        plan_faults(loaded)
        planned = time.perf_counter()
        parse_yaml(text)
        parsed = time.perf_counter()
        steps = (loaded_at - started, parsed - planned, planned - loaded_at)
        for name, step in zip(times, steps, strict=True):
            times[name].append(step)
    return {name: statistics.median(values) for name, values in times.items()}


def time_process(path: Path, rounds: int) -> float:
    """Median wall time of the whole ``hchaos validate FILE`` process."""
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "harness.cli", "validate", str(path)], cwd=REPO,
                              capture_output=True, text=True, check=False)
        times.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise SystemExit(f"hchaos validate {path} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return statistics.median(times)


def profile(path: Path, top: int) -> None:
    """Print where one in-process load-and-plan spends its time."""
    load_and_plan(path)
    profiler = cProfile.Profile()
    profiler.enable()
    load_and_plan(path)
    profiler.disable()
    for key in ("cumulative", "tottime"):
        print(f"--- cProfile, one load+plan of {path.name}, top {top} by {key}:")
        pstats.Stats(profiler, stream=sys.stdout).strip_dirs().sort_stats(key).print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=9, help="in-process repetitions per size")
    parser.add_argument("--process-rounds", type=int, default=5, help="whole-process repetitions")
    parser.add_argument("--profile", action="store_true", help="cProfile one load+plan of the largest size")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hchaos-bench-topology-") as tmp:
        files = {}
        for size in SIZES:
            files[size] = Path(tmp) / f"topology-{size}.yaml"
            files[size].write_text(experiment_yaml(size))
        print(f"load_experiment + plan_faults, in-process, {SITES} sites, median of {args.rounds}"
              f" (target <= {TARGET_S:.3f} s at {SIZES[-1]} instances):")
        for size in SIZES:
            links = link_count(files[size])
            median = time_in_process(files[size], args.rounds)
            lines = len(files[size].read_text().splitlines())
            print(f"  {size:4d} instances ({size // PER_SERVICE or 1:2d} services, {links:4d} links,"
                  f" {lines:3d} YAML lines)  {median:6.3f}s  {median / size * 1e3:6.3f} ms/instance")
        largest = files[SIZES[-1]]
        print(f"  of which, at {SIZES[-1]} instances:")
        for name, median in phases(largest, args.rounds).items():
            print(f"    {name:<38} {median:6.3f}s")
        print(f"whole-process wall time, median of {args.process_rounds}:")
        print(f"  hchaos validate ({SIZES[-1]} instances)  {time_process(largest, args.process_rounds):6.3f}s")
        if args.profile:
            profile(largest, 25)


if __name__ == "__main__":
    main()
