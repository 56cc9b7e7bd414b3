"""The suite's own safety net (tests/conftest.py): after every test with a ``tmp_path``, any
process of a run under that folder is killed -- and fails the test if the test had passed."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from harness.run.run_tag import of_run, processes_tagged, tag_environment

REPO = Path(__file__).resolve().parents[1]

INNER = '''
import subprocess, sys, os
from harness.run.run_tag import tag_environment

def test_leaks_a_run_process(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                     env={**os.environ, **tag_environment(run_dir)}, start_new_session=True)
    (tmp_path.parent / "leaked-run").write_text(str(run_dir))
'''


def test_a_passing_test_that_leaves_a_run_process_fails_and_the_process_is_killed(tmp_path: Path) -> None:
    (tmp_path / "test_inner.py").write_text(INNER)
    (tmp_path / "conftest.py").write_text((REPO / "tests" / "conftest.py").read_text())
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--basetemp",
                           str(tmp_path / "base"), str(tmp_path / "test_inner.py")],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stdout
    assert "processes of a run were still alive after the test" in done.stdout
    run_dir = Path((tmp_path / "base" / "leaked-run").read_text())
    assert processes_tagged(of_run(run_dir)) == []


def test_the_sweep_finds_a_tagged_process_by_its_run(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                            env={**tag_environment(run_dir)}, start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while not processes_tagged(of_run(run_dir)) and time.monotonic() < deadline:
            time.sleep(0.01)
        (found,) = processes_tagged(of_run(run_dir))
        assert found.pid == proc.pid and "time.sleep" in found.command
        assert processes_tagged(of_run(tmp_path / "other")) == []
    finally:
        proc.kill()
        proc.wait()
    assert processes_tagged(of_run(run_dir)) == []


def test_a_process_caught_in_the_middle_of_exec_is_not_missed(tmp_path: Path) -> None:
    """Right after ``Popen`` returns, a child's /proc environ can still be empty (its exec has
    not installed the new one): once, under load, the suite's sweep missed a leaked process so.
    Here a process keeps an empty environment for 0.2 s before it execs into a tagged one."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    tag = next(iter(tag_environment(run_dir).items()))
    # The shell's own exec carries the tag (an `env VAR=... cmd` in between would be a process
    # with a non-empty, untagged environment: not a process in the middle of exec).
    proc = subprocess.Popen(["/usr/bin/env", "-i", "/bin/sh", "-c",
                             f"sleep 0.2; export {tag[0]}={tag[1]}; exec /bin/sleep 30"])
    try:
        time.sleep(0.05)  # the shell runs, with no environment at all
        (found,) = processes_tagged(of_run(run_dir))
        assert found.pid == proc.pid
    finally:
        proc.kill()
        proc.wait()
