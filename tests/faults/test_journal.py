import os
import subprocess
import sys
import time
from pathlib import Path

from harness.run.journal import Journal, ProcessRef, is_same_process, process_start_ticks, replay_journal


def test_replay_tracks_what_is_outstanding(tmp_path: Path) -> None:
    journal = Journal(tmp_path, "run-1")
    journal.process_started("toxiproxy", 111, "campus")
    journal.process_started("ehr-a", 222, "dc-a")
    journal.fault_injecting("cut", [{"kind": "toxic", "server": "http://x", "proxy": "p", "toxic": "t"}])
    journal.fault_injecting("slow", [{"kind": "proxy-disabled", "server": "http://x", "proxy": "q"}])
    journal.process_stopped("ehr-a", 222)
    journal.fault_healed("slow")
    journal.close()
    state = replay_journal(tmp_path / "journal.jsonl")
    assert state.run_id == "run-1"
    assert state.runner is not None and state.runner.pid == os.getpid()
    assert set(state.live_processes) == {111}
    assert list(state.unhealed_faults) == ["cut"]
    assert not state.ended


def test_run_end_and_torn_last_line(tmp_path: Path) -> None:
    journal = Journal(tmp_path, "r")
    journal.run_ended("completed")
    journal.close()
    with (tmp_path / "journal.jsonl").open("a") as fh:
        fh.write('{"type": "process-st')
    assert replay_journal(tmp_path / "journal.jsonl").ended


def test_reopening_a_journal_does_not_write_a_second_run_start(tmp_path: Path) -> None:
    Journal(tmp_path, "r").close()
    Journal(tmp_path, "r").close()
    lines = (tmp_path / "journal.jsonl").read_text().splitlines()
    assert len(lines) == 1


def test_process_identity_survives_pid_reuse_check() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        ticks = process_start_ticks(proc.pid)
        assert ticks is not None
        assert is_same_process(ProcessRef("p", proc.pid, ticks, "x"))
        # Same pid, other start time: a recycled pid is not ours.
        assert not is_same_process(ProcessRef("p", proc.pid, ticks + 1, "x"))
    finally:
        proc.kill()
        proc.wait()
    time.sleep(0.05)
    assert not is_same_process(ProcessRef("p", proc.pid, ticks, "x"))
