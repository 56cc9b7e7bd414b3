"""Time and memory of validating hostile experiment files of at most 64 KiB (issue 10).

    .venv/bin/python bench/bench_validate_adversarial.py [--repeat 5] [--only NAME ...]

For each file of ``tests/experiment/adversarial.py`` (alias bombs, deep nesting, long
numbers and strings, many keys, many issues...), in a fresh process of its own:

* ``median``: median wall time of ``--repeat`` validations as ``hchaos validate`` does them
  (``load_experiment`` then ``plan_faults``), in the process, after a warm-up run;
* ``alloc``: peak of Python allocations during one validation (tracemalloc);
* ``rss``: the process's peak resident memory (ru_maxrss), imports included;
* ``cli``: wall time of ``python -m harness.cli validate FILE`` as a subprocess (imports,
  printing every issue), and its exit code, which must be 0 or 2.

Target: every file <= 1 s and <= 200 MB. Prints figures; asserts nothing (a timed
assertion on a shared 2-core machine would be a flake).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

_CHILD = """
import json, resource, statistics, sys, time, tracemalloc
from harness.experiment import ExperimentError, load_experiment
from harness.runner import plan_faults
path, repeat = sys.argv[1], int(sys.argv[2])

def validate():
    try:
        plan_faults(load_experiment(path))
        return 0
    except ExperimentError as exc:
        return len(exc.issues)

validate()  # warm-up: lazy imports, pydantic's first-use costs
times = []
for _ in range(repeat):
    started = time.perf_counter()
    issues = validate()
    times.append(time.perf_counter() - started)
tracemalloc.start()
validate()
alloc = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"median": statistics.median(times), "max": max(times), "alloc": alloc, "rss_kb": rss_kb,
                  "issues": issues}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", nargs="*", default=None, help="names of adversaries to run")
    args = parser.parse_args()

    from tests.experiment.adversarial import ADVERSARIES

    chosen = [a for a in ADVERSARIES if args.only is None or a.name in args.only]
    print(f"{'file':26} {'bytes':>6} {'issues':>6} {'median':>8} {'max':>8} {'alloc':>8} {'rss':>8} "
          f"{'cli':>8} exit")
    worst_time = worst_rss = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for adversary in chosen:
            path = Path(tmp) / f"{adversary.name}.yaml"
            path.write_text(adversary.text, encoding="utf-8")
            child = subprocess.run([sys.executable, "-c", _CHILD, str(path), str(args.repeat)], cwd=ROOT,
                                   capture_output=True, text=True, timeout=600, check=False)
            if child.returncode != 0:
                print(f"{adversary.name:26} FAILED: {child.stderr.strip().splitlines()[-1:]}")
                continue
            figures = json.loads(child.stdout)
            started = time.perf_counter()
            cli = subprocess.run([sys.executable, "-m", "harness.cli", "validate", str(path)], cwd=ROOT,
                                 capture_output=True, text=True, timeout=600, check=False)
            cli_time = time.perf_counter() - started
            traceback = " TRACEBACK" if "Traceback" in cli.stderr else ""
            rss_mb = figures["rss_kb"] / 1024
            worst_time, worst_rss = max(worst_time, figures["max"]), max(worst_rss, rss_mb)
            print(f"{adversary.name:26} {path.stat().st_size:6} {figures['issues']:6} "
                  f"{figures['median'] * 1000:6.0f}ms {figures['max'] * 1000:6.0f}ms "
                  f"{figures['alloc'] / 1e6:6.1f}MB {rss_mb:6.1f}MB {cli_time * 1000:6.0f}ms "
                  f"{cli.returncode}{traceback}",
                  flush=True)
    print(f"worst: {worst_time * 1000:.0f} ms (target <= 1000 ms), peak RSS {worst_rss:.0f} MB (target <= 200 MB)")


if __name__ == "__main__":
    main()
