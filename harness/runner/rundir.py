"""The run folder: where everything a run produces lives, named so runs sort by time.

``runs/<YYYYmmdd-HHMMSS>-<experiment>/`` holds ``experiment.yaml`` (a copy of the input),
``journal.jsonl`` (faults and processes, for rollback), ``timeline.jsonl`` (the event log
the checks judge), ``report.json`` (verdicts), ``endpoints.json``, ``haproxy.cfg``,
``logs/<process>.log`` and ``data/`` (service databases). An experiment whose topology is in its
own file (``topology.file``) gets that file copied too, where the copy of the experiment finds it,
so the run folder alone is enough to re-judge the run (``hchaos report``).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from harness.experiment.source import parse_yaml

DEFAULT_RUNS_DIR = "runs"
RUNS_DIR_ENV = "HCHAOS_RUNS_DIR"


def default_runs_dir() -> Path:
    """``$HCHAOS_RUNS_DIR`` or ``./runs``."""
    return Path(os.environ.get(RUNS_DIR_ENV, DEFAULT_RUNS_DIR))


def create_run_dir(runs_dir: Path, experiment_name: str, experiment_file: Path | None,
                   topology_file: Path | None = None) -> Path:
    """Make a fresh, uniquely named run folder (a suffix is added if the second is taken); its
    absolute path, since processes started in other folders (Locust) are given paths in it.
    ``topology_file`` is the experiment's ``topology.file``, resolved (see the module docstring)."""
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
            if topology_file is not None:
                _keep_topology_file(run_dir, experiment_file, topology_file)
        return run_dir
    raise RuntimeError(f"could not create a run folder under {runs_dir}")


def _keep_topology_file(run_dir: Path, experiment_file: Path, topology_file: Path) -> None:
    """Copy the topology file into the run folder at the same place relative to the experiment's
    copy; a file outside the experiment's folder goes to ``topology/<name>`` and the copy of the
    experiment is pointed at it (the one value rewritten, at its line and column)."""
    relative = Path(os.path.relpath(topology_file.resolve(), experiment_file.resolve().parent))
    if not relative.is_absolute() and ".." not in relative.parts:
        destination = run_dir / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(topology_file, destination)
        return
    destination = run_dir / "topology" / topology_file.name
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(topology_file, destination)
    copy = run_dir / "experiment.yaml"
    parsed = parse_yaml(copy.read_text(encoding="utf-8"))
    assert isinstance(parsed.data, dict) and isinstance(parsed.data.get("topology"), dict)
    written = str(parsed.data["topology"]["file"])
    where = parsed.source.locate(("topology", "file"))
    lines = copy.read_text(encoding="utf-8").splitlines(keepends=True)
    line = lines[where.line - 1]
    start = line.index(written, where.column - 1)
    lines[where.line - 1] = line[:start] + f"topology/{topology_file.name}" + line[start + len(written):]
    copy.write_text("".join(lines), encoding="utf-8")
