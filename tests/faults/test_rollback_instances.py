"""Rollback of a dead run whose journal has a paused instance (a real SIGSTOPped process)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from harness.backends.local.processes import ProcessSpec, ProcessSupervisor, TcpReady
from harness.faults import rollback_run
from harness.faults.plan import InstanceAction
from harness.run.journal import Journal, ProcessRef, instance_actions, is_same_process, replay_journal
from tests.conftest import journal_ended

pytestmark = pytest.mark.integration

SLEEPER = (sys.executable, "-c", "import time; time.sleep(60)")


def state_letter(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def wait_state(pid: int, letter: str) -> None:
    deadline = time.monotonic() + 2
    while state_letter(pid) != letter:
        assert time.monotonic() < deadline, f"pid {pid} never reached state {letter}"
        time.sleep(0.01)


def test_instance_actions_name_the_instance_and_the_restart_flag() -> None:
    assert instance_actions([InstanceAction("kill", "ehr-a", restart=False), InstanceAction("pause", "ehr-b"),
                             InstanceAction("restart", "msg-a")]) == [
        {"kind": "instance-killed", "instance": "ehr-a", "restart": "no"},
        {"kind": "instance-paused", "instance": "ehr-b"},
        {"kind": "instance-restarted", "instance": "msg-a"},
    ]


def test_rollback_resumes_then_kills_a_paused_instance_and_says_so(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    journal = Journal(run_dir, "dead-run")
    sup = ProcessSupervisor(tmp_path / "logs", journal)
    try:
        paused = sup.start(ProcessSpec("ehr-a", SLEEPER, "dc-a", TcpReady("127.0.0.1", 1)))
        killed = sup.start(ProcessSpec("ehr-b", SLEEPER, "dc-b", TcpReady("127.0.0.1", 1)))
        journal.fault_injecting("freeze", instance_actions([InstanceAction("pause", "ehr-a")]))
        sup.pause("ehr-a")
        journal.fault_injecting("crash", instance_actions([InstanceAction("kill", "ehr-b")]))
        sup.kill("ehr-b")
        journal.close()  # the runner "dies" here: neither fault is healed
        wait_state(paused.pid, "T")
        state = replay_journal(run_dir / "journal.jsonl")
        assert set(state.unhealed_faults) == {"freeze", "crash"}
        ref = state.live_process_named("ehr-a")
        assert ref is not None and ref.pid == paused.pid
        assert state.live_process_named("ehr-b") is None  # its kill was journaled as a stop

        result = rollback_run(run_dir, force=True)
        assert result.errors == []
        assert result.processes_resumed == [f"ehr-a (pid {paused.pid})"]
        assert f"ehr-a (pid {paused.pid})" in result.processes_killed
        assert "crash: ehr-b was killed by the fault; not started again (the run is over)" in result.notes
        assert not killed.alive
        assert not is_same_process(ProcessRef("ehr-a", paused.pid, ref.start_ticks, "dc-a"))  # a SIGSTOPped one dies
        paused.popen.wait(timeout=5)
        assert paused.popen.returncode == -9
        assert journal_ended(run_dir)
        assert any(line.startswith("resumed paused processes: ehr-a") for line in result.describe())
        assert rollback_run(run_dir, force=True).nothing_to_do
    finally:
        sup.stop_all()
