"""Shared fixtures: small experiment files and process-leak checks for integration tests.

Every test that has a ``tmp_path`` is followed by a sweep: a process still carrying the tag of
a run under that folder (:mod:`harness.run.run_tag`) is killed, so a failing test never
leaves a hospital running; and if the test had passed, the leftover fails it (a leak is a bug).
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import pytest

from harness.run.journal import JOURNAL_FILE, is_same_process, replay_journal
from harness.run.run_tag import kill_tagged, under
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
            from harness.run.journal import ProcessRef

            ref = ProcessRef(entry["name"], entry["pid"], entry.get("start_ticks"), entry.get("site", ""))
            if is_same_process(ref):
                alive.append(f"{ref.name} (pid {ref.pid})")
    return alive


def journal_ended(run_dir: Path) -> bool:
    return replay_journal(run_dir / JOURNAL_FILE).ended


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, object, None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when == "call":
        item.stash[_CALL_FAILED] = report.failed


_CALL_FAILED = pytest.StashKey[bool]()


@pytest.fixture(autouse=True)
def _no_run_process_left_behind(request: pytest.FixtureRequest) -> Iterator[None]:
    if "tmp_path" not in request.fixturenames:
        yield
        return
    folder: Path = request.getfixturevalue("tmp_path")  # set up before this fixture, torn down after
    yield
    leftovers = kill_tagged(under(folder))
    if leftovers and not request.node.stash.get(_CALL_FAILED, True):
        pytest.fail("processes of a run were still alive after the test (killed now): "
                    + "; ".join(f"pid {p.pid} {p.command[:80]}" for p in leftovers), pytrace=False)
