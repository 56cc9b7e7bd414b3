"""How long the reference hospital takes to come up (``LocalBackend.up()``: Toxiproxy, every
service's processes ready, HAProxy) and to go down again (``down()``), on the local backend
with its default options. Target: no slower than the checkout before the topology became
data (``--peer``): ratio peer-relative <= 1.1.

Prints figures; asserts nothing.

    .venv/bin/python bench/bench_bringup.py [--rounds N] [--services ehr,labs] [--peer DIR]

``--peer DIR``: also bring the same topology up in another checkout (``git worktree add DIR
REV``), alternating with this tree round by round, and print both medians and the ratio. The
peer's code runs with this interpreter and ``PYTHONPATH=DIR`` (the packages are the same); the
script checks that ``harness`` is imported from ``DIR``. Both trees use this tree's Toxiproxy
(``HCHAOS_TOOLS_DIR``): the binaries are not what is compared.

Each round is one fresh process per tree that times one ``up()`` and one ``down()`` (imports
happen before the clock starts; what ``up()`` imports lazily is part of bringing it up, in both).
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

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SERVICES = "ehr,messaging,imaging,labs,scheduling"  # the reference preset's by-default services
TARGET_RATIO = 1.1


def measure_once(services: tuple[str, ...]) -> dict[str, float | str]:
    """Bring the reference topology up and down once in this process (whichever checkout
    ``harness`` is imported from); returns the two times and where ``harness`` came from."""
    import harness
    from harness.backends.local import LocalBackend, LocalOptions
    from harness.topology import reference_topology

    topology = reference_topology(services)
    with tempfile.TemporaryDirectory(prefix="hchaos-bench-bringup-") as run_dir:
        backend = LocalBackend(topology, Path(run_dir), options=LocalOptions())
        started = time.perf_counter()
        try:
            backend.up()
            up_s = time.perf_counter() - started
        finally:
            stopping = time.perf_counter()
            backend.down()
            down_s = time.perf_counter() - stopping
    # Where harness came from: run_round checks it is the checkout it asked for.
    return {"up": up_s, "down": down_s, "harness": str(Path(harness.__file__).resolve().parent.parent)}


def run_round(root: Path, services: str) -> dict[str, float | str]:
    """One fresh process of this script's ``--worker`` mode importing ``harness`` from ``root``."""
    env = os.environ | {"PYTHONPATH": str(root), "HCHAOS_TOOLS_DIR": os.environ.get("HCHAOS_TOOLS_DIR",
                                                                                    str(REPO / ".tools"))}
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", "--services", services],
                          cwd=root, env=env, capture_output=True, text=True, check=False, timeout=180)
    if done.returncode != 0:
        raise SystemExit(f"bring-up in {root} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    result: dict[str, float | str] = json.loads(done.stdout.strip().splitlines()[-1])
    if Path(str(result["harness"])) != root.resolve():
        raise SystemExit(f"the round for {root} imported harness from {result['harness']}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--services", default=DEFAULT_SERVICES, help="comma-separated reference services")
    parser.add_argument("--peer", type=Path, default=None, help="another checkout to time side by side")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    services = tuple(s for s in args.services.split(",") if s)
    if args.worker:
        print(json.dumps(measure_once(services)))
        return
    trees = {"this tree": REPO} | ({f"peer {args.peer}": args.peer.resolve()} if args.peer else {})
    times: dict[tuple[str, str], list[float]] = {(t, step): [] for t in trees for step in ("up", "down")}
    imported: dict[str, str] = {}
    for n in range(args.rounds):  # alternating, and the peer first every other round: drift hits both alike
        order = list(trees.items()) if n % 2 == 0 else list(reversed(trees.items()))
        for tree, root in order:
            result = run_round(root, args.services)
            imported[tree] = str(result["harness"])
            for step in ("up", "down"):
                times[(tree, step)].append(float(result[step]))
    print(f"reference topology ({', '.join(services)}), local backend, median of {args.rounds} (min-max)"
          + (f" (target peer-relative ratio <= {TARGET_RATIO})" if args.peer else "") + ":")
    for step in ("up", "down"):
        row = [f"  {step + '()':<8}"]
        for tree in trees:
            values = times[(tree, step)]
            row.append(f"{tree}: {statistics.median(values):6.3f}s ({min(values):.2f}-{max(values):.2f})")
        if args.peer:
            here, peer = (statistics.median(times[(t, step)]) for t in trees)
            row.append(f"this/peer {here / peer:4.2f}x")
        print("  ".join(row))
    print("harness imported from: " + ", ".join(f"{tree}: {where}/harness" for tree, where in imported.items()))


if __name__ == "__main__":
    main()
