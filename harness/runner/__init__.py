"""The runner: brings a topology up, drives the experiment's phases and faults, always
heals, and judges the run from its timeline.

Names are imported on first use (PEP 562): ``from harness.runner.planning import plan_faults``
must not pull in the checkers and Polars, which ``hchaos validate`` never needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.lazy import lazy_exports

if TYPE_CHECKING:
    from harness.interrupt import Interrupted
    from harness.runner.observer import RunObserver, SilentObserver
    from harness.runner.planning import plan_faults
    from harness.runner.rundir import default_runs_dir
    from harness.runner.runner import RunResult, judge_run, run_experiment

_WHERE = {
    "Interrupted": "harness.interrupt",
    "RunObserver": "harness.runner.observer",
    "SilentObserver": "harness.runner.observer",
    "plan_faults": "harness.runner.planning",
    "default_runs_dir": "harness.runner.rundir",
    "RunResult": "harness.runner.runner",
    "judge_run": "harness.runner.runner",
    "run_experiment": "harness.runner.runner",
}

__all__ = [
    "Interrupted",
    "RunObserver",
    "RunResult",
    "SilentObserver",
    "default_runs_dir",
    "judge_run",
    "plan_faults",
    "run_experiment",
]


__getattr__ = lazy_exports(__name__, _WHERE)
