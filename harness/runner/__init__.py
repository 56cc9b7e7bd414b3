"""The runner: brings a topology up, drives the experiment's phases and faults, always
heals, and judges the run from its timeline."""

from harness.runner.observer import RunObserver, SilentObserver
from harness.runner.rundir import default_runs_dir
from harness.runner.runner import RunResult, judge_run, plan_faults, run_experiment
from harness.runner.signals import Terminated

__all__ = [
    "RunObserver",
    "RunResult",
    "SilentObserver",
    "Terminated",
    "default_runs_dir",
    "judge_run",
    "plan_faults",
    "run_experiment",
]
