"""The run folder: where everything a run produces lives, named so runs sort by time.

``runs/<YYYYmmdd-HHMMSS>-<experiment>/`` holds ``experiment.yaml`` (a copy of the input),
``journal.jsonl`` (faults and processes, for rollback), ``timeline.jsonl`` (the event log
the checks judge), ``report.json`` (verdicts), ``endpoints.json``, ``haproxy.cfg``,
``logs/<process>.log`` and ``data/`` (service databases).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

DEFAULT_RUNS_DIR = "runs"
RUNS_DIR_ENV = "HCHAOS_RUNS_DIR"


def default_runs_dir() -> Path:
    """``$HCHAOS_RUNS_DIR`` or ``./runs``."""
    return Path(os.environ.get(RUNS_DIR_ENV, DEFAULT_RUNS_DIR))


def create_run_dir(runs_dir: Path, experiment_name: str, experiment_file: Path | None) -> Path:
    """Make a fresh, uniquely named run folder (a suffix is added if the second is taken); its
    absolute path, since processes started in other folders (Locust) are given paths in it."""
    runs_dir = runs_dir.resolve()
    runs_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for attempt in range(100):
        suffix = f"-{attempt}" if attempt else ""
        run_dir = runs_dir / f"{stamp}-{experiment_name}{suffix}"
        try:
            run_dir.mkdir()
        except FileExistsError:
            continue
        if experiment_file is not None:
            shutil.copyfile(experiment_file, run_dir / "experiment.yaml")
        return run_dir
    raise RuntimeError(f"could not create a run folder under {runs_dir}")
