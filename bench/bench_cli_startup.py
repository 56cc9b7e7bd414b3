"""How fast the ``hchaos`` command answers where editors and hooks call it: ``validate`` of the
88-line ``experiments/dc-a-power-loss.yaml`` and ``--help``, each a whole process, as a
pre-commit hook or an editor plug-in runs it. Target: <= 0.3 s each (median).

Prints figures; asserts nothing.

    .venv/bin/python bench/bench_cli_startup.py [--rounds N] [--peer DIR]

``--peer DIR``: also time the same commands in another checkout (``git worktree add DIR REV``),
interleaved in the same rounds, and print the ratios side by side.

Also prints the bare interpreter start (``python -c pass``) as the floor, and what the
``validate`` process imported from the heavy libraries that validation never needs (none
expected: Polars, Locust and gevent come in only with ``run``).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXPERIMENT = REPO / "experiments" / "dc-a-power-loss.yaml"
HEAVY = ("polars", "locust", "gevent", "pyarrow", "numpy")

COMMANDS = {
    "python -c pass (floor)": [sys.executable, "-c", "pass"],
    "hchaos --help": [sys.executable, "-m", "harness.cli", "--help"],
    "hchaos validate (88 lines)": [sys.executable, "-m", "harness.cli", "validate", str(EXPERIMENT)],
}


def time_once(argv: list[str], cwd: Path = REPO) -> float:
    """Wall time of one whole process; ``python -m`` from ``cwd`` imports that checkout's code."""
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr}")
    return elapsed


HEAVY_PROBE = """
import runpy, sys
experiment, heavy = sys.argv[1], set(sys.argv[2:])
sys.argv = ["hchaos", "validate", experiment]
try:
    runpy.run_module("harness.cli", run_name="__main__")
except SystemExit:
    pass
print("heavy:", " ".join(sorted({m.split(".")[0] for m in sys.modules} & heavy)))
"""


def heavy_imports() -> list[str]:
    done = subprocess.run([sys.executable, "-c", HEAVY_PROBE, str(EXPERIMENT), *HEAVY], cwd=REPO,
                          capture_output=True, text=True, check=True)
    return done.stdout.strip().splitlines()[-1].removeprefix("heavy:").split()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--peer", type=Path, default=None, help="another checkout to time side by side")
    args = parser.parse_args()
    trees = {"this tree": REPO} | ({f"peer {args.peer}": args.peer.resolve()} if args.peer else {})
    times: dict[tuple[str, str], list[float]] = {(t, n): [] for t in trees for n in COMMANDS}
    for _ in range(args.rounds):  # interleaved: noise hits every command and tree alike
        for tree, root in trees.items():
            for name, argv in COMMANDS.items():
                times[(tree, name)].append(time_once(argv, root))
    print(f"whole-process wall time, median of {args.rounds} (target <= 0.300 s for hchaos):")
    for name in COMMANDS:
        row = [f"  {name:<28}"]
        for tree in trees:
            row.append(f"{tree}: {statistics.median(times[(tree, name)]):6.3f}s")
        if args.peer:
            here, peer = (statistics.median(times[(t, name)]) for t in trees)
            row.append(f"peer/this {peer / here:4.1f}x")
        print("  ".join(row))
    print(f"heavy libraries imported by validate: {', '.join(heavy_imports()) or 'none'}")


if __name__ == "__main__":
    main()
