"""Shared fixtures: small experiment files and process-leak checks for integration tests."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.faults.journal import JOURNAL_FILE, is_same_process, replay_journal
from tests.campaigns import register_hypothesis_profiles

# testcontainers (later backends) cannot pull its Ryuk image here.
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")

register_hypothesis_profiles()


def write_experiment(directory: Path, body: str, name: str = "test-exp") -> Path:
    """Write an experiment file: ``body`` is YAML appended after version/name/backend."""
    path = directory / f"{name}.yaml"
    path.write_text(f"version: 1\nname: {name}\nbackend: local\n" + textwrap.dedent(body))
    return path


@pytest.fixture
def experiment_file(tmp_path: Path) -> Callable[..., Path]:
    return lambda body, name="test-exp": write_experiment(tmp_path, body, name)


def processes_alive(run_dir: Path) -> list[str]:
    """Every process the run's journal ever started that is still alive (by pid + start time)."""
    import json

    alive = []
    for line in (run_dir / JOURNAL_FILE).read_text().splitlines():
        entry = json.loads(line)
        if entry.get("type") == "process-start":
            from harness.faults.journal import ProcessRef

            ref = ProcessRef(entry["name"], entry["pid"], entry.get("start_ticks"), entry.get("site", ""))
            if is_same_process(ref):
                alive.append(f"{ref.name} (pid {ref.pid})")
    return alive


def journal_ended(run_dir: Path) -> bool:
    return replay_journal(run_dir / JOURNAL_FILE).ended
