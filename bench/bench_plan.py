"""How fast ``hchaos plan`` answers on the flagship (issue 13: <= 1 s): the whole process, text
and JSON, as a change board's script or CI would call it, and building the plan in process
(load + validate + contacts + schedule), median of N rounds.

Prints figures; asserts nothing.

    .venv/bin/python bench/bench_plan.py [--rounds N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FLAGSHIP = REPO / "experiments" / "aphp-2024-08-03-dc-power-loss.yaml"


def whole_process(*args: str) -> tuple[float, int]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "harness.cli", "plan", *args, str(FLAGSHIP)], cwd=REPO,
                          capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"hchaos plan failed ({done.returncode}):\n{done.stderr}")
    return elapsed, len(done.stdout)


def in_process() -> tuple[float, int]:
    from harness.experiment import load_experiment
    from harness.runplan import build_run_plan

    started = time.perf_counter()
    plan = build_run_plan(load_experiment(FLAGSHIP))
    return time.perf_counter() - started, sum(len(a.steps) for a in plan.actions)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    figures: dict[str, list[float]] = {"hchaos plan (text)": [], "hchaos plan --json": [], "build_run_plan": []}
    steps = size = 0
    for _ in range(args.rounds):
        seconds, size = whole_process()
        figures["hchaos plan (text)"].append(seconds)
        figures["hchaos plan --json"].append(whole_process("--json")[0])
        seconds, steps = in_process()
        figures["build_run_plan"].append(seconds)
    if not steps or not size:
        raise SystemExit("the plan is empty: nothing was measured")
    print(f"flagship plan: {steps} steps, {size} characters of text; median of {args.rounds} rounds")
    print(f"{'figure':<28}{'median':>10}{'min':>10}  target")
    for name, values in figures.items():
        target = "<= 1 s" if name.startswith("hchaos") else ""
        print(f"{name:<28}{statistics.median(values):>9.3f}s{min(values):>9.3f}s  {target}")


if __name__ == "__main__":
    main()
