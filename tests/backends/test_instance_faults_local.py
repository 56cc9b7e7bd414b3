"""Instance faults and partitions on the local backend: real EHR processes, real Toxiproxy, the Nemesis."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.backends import EhrOptions, Endpoints, ServiceOptions
from harness.backends.local import LocalBackend, LocalOptions
from harness.backends.local.processes import ProcessSpec, ProcessSupervisor, TcpReady
from harness.experiment.faults import FAULT_TYPES, KillFault, PartitionFault, PauseFault, RestartFault
from harness.faults import FaultPlan, plan_fault
from harness.run.journal import replay_journal
from harness.topology import reference_topology
from harness.toxiproxy import ToxiproxyClient
from tests.backends.running import Running, running_topology

pytestmark = pytest.mark.integration

FAST = LocalOptions(services=ServiceOptions(ehr=EhrOptions(promote_after=1.0, heartbeat_interval=0.1)))
TOPOLOGY = reference_topology(("ehr",))

@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    with running_topology(TOPOLOGY, tmp_path, FAST) as running:
        yield running


def plan(fault: KillFault | PauseFault | RestartFault | PartitionFault) -> FaultPlan:
    return plan_fault(fault, fault.label, TOPOLOGY)


def health(endpoints: Endpoints, instance: str, timeout: float = 1.0) -> int:
    return httpx.get(f"{endpoints.instance_urls[instance]}/health", timeout=timeout).status_code


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def proc_state(pid: int) -> str:
    """The state letter of /proc/<pid>/stat ('T': stopped by a signal)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def wait_state(pid: int, stopped: bool) -> None:
    """Wait (up to 2 s) until the process is, or is no longer, stopped: the kernel delivers
    SIGSTOP / SIGCONT when it next schedules the target, a moment later on a busy machine."""
    deadline = time.monotonic() + 2
    while (proc_state(pid) == "T") != stopped:
        assert time.monotonic() < deadline, f"pid {pid} is {'not ' if stopped else ''}stopped after 2 s"
        time.sleep(0.005)


def test_the_local_backend_supports_every_fault_type() -> None:
    assert frozenset(FAULT_TYPES) == LocalBackend.supported_faults


def test_kill_really_kills_and_the_heal_starts_it_again_ready(running: Running, tmp_path: Path) -> None:
    backend, endpoints, nemesis, _ = running
    old_pid = backend.supervisor.process("ehr-b").pid
    other_pid = backend.supervisor.process("ehr-a").pid
    kill = plan(KillFault(type="kill", target="ehr-b", duration=5, name="kill"))
    nemesis.inject(kill)
    assert gone(old_pid)
    with pytest.raises(httpx.TransportError):
        health(endpoints, "ehr-b")
    assert backend.supervisor.process("ehr-a").pid == other_pid  # only the target
    nemesis.heal(kill)
    new_pid = backend.supervisor.process("ehr-b").pid
    assert new_pid != old_pid and backend.supervisor.process("ehr-b").alive
    assert health(endpoints, "ehr-b") == 200  # ready when the heal returns
    state = replay_journal(tmp_path / "journal.jsonl")
    assert "kill" not in state.unhealed_faults
    assert {ref.name for ref in state.live_processes.values() if ref.pid == new_pid} == {"ehr-b"}


def test_kill_without_restart_leaves_it_dead(running: Running) -> None:
    backend, _, nemesis, _ = running
    old_pid = backend.supervisor.process("ehr-b").pid
    kill = plan(KillFault(type="kill", target="ehr-b", duration=5, name="dead", restart=False))
    nemesis.inject(kill)
    nemesis.heal(kill)
    assert gone(old_pid) and not backend.supervisor.process("ehr-b").alive
    assert nemesis.active == []


def test_pause_freezes_requests_hang_then_complete_after_the_heal(running: Running) -> None:
    backend, endpoints, nemesis, _ = running
    pid = backend.supervisor.process("ehr-b").pid
    pause = plan(PauseFault(type="pause", target="ehr-b", duration=5, name="freeze"))
    started = time.perf_counter()
    nemesis.inject(pause)
    applied_ms = (time.perf_counter() - started) * 1000
    print(f"pause applied (journal fsync + SIGSTOP) in {applied_ms:.2f} ms")
    wait_state(pid, stopped=True)
    with pytest.raises(httpx.TimeoutException):  # the kernel accepts, nobody answers
        health(endpoints, "ehr-b", timeout=0.5)
    answers: list[int] = []
    waiting = threading.Thread(target=lambda: answers.append(health(endpoints, "ehr-b", timeout=10)))
    waiting.start()
    time.sleep(0.3)
    assert answers == []  # still hanging
    nemesis.heal(pause)
    waiting.join(timeout=10)
    assert answers == [200]
    wait_state(pid, stopped=False)
    assert backend.supervisor.process("ehr-b").pid == pid  # the same process, thawed


def test_restart_stops_gracefully_and_is_ready_when_the_inject_returns(running: Running, tmp_path: Path) -> None:
    backend, endpoints, nemesis, _ = running
    old = backend.supervisor.process("ehr-b")
    restart = plan(RestartFault(type="restart", target="ehr-b", duration=2, name="bounce"))
    nemesis.inject(restart)
    # A clean shutdown: the EHR (uvicorn) obeyed the SIGTERM and exited 0, no SIGKILL was needed.
    assert old.popen.returncode == 0
    new = backend.supervisor.process("ehr-b")
    assert new.pid != old.pid and health(endpoints, "ehr-b") == 200
    nemesis.heal(restart)  # only marks it ended
    assert backend.supervisor.process("ehr-b").pid == new.pid
    assert (tmp_path / "logs" / "ehr-b.log").read_text().count("starting:") == 2


def test_a_partition_cuts_exactly_its_links_through_the_nemesis(running: Running) -> None:
    _, endpoints, nemesis, _ = running
    split = plan(PartitionFault(type="partition", groups=(("dc-a",), ("dc-b", "campus")), duration=5, name="split"))
    expected = {"frontdoor-ehr-a", "repl-ehr-a-b", "repl-ehr-b-a"}
    with ToxiproxyClient(endpoints.toxiproxy_url) as client:
        nemesis.inject(split)
        proxies = client.proxies()
        poisoned = {name for name, proxy in proxies.items() if proxy.toxics}
        assert poisoned == expected
        for name in expected:
            toxics = client.toxics(name)
            assert sorted(t.stream for t in toxics) == ["downstream", "upstream"]
            assert all(t.type == "timeout" and t.attributes["timeout"] == 0 for t in toxics)
        with pytest.raises(httpx.TimeoutException):
            httpx.get(f"http://{endpoints.links['frontdoor-ehr-a'].listen}/health", timeout=0.5)
        assert httpx.get(f"http://{endpoints.links['frontdoor-ehr-b'].listen}/health", timeout=1).status_code == 200
        nemesis.heal(split)
        assert all(not proxy.toxics for proxy in client.proxies().values())


def test_a_run_that_ends_resumes_paused_instances_and_leaves_killed_ones_dead(running: Running) -> None:
    backend, _, nemesis, _ = running
    paused_pid = backend.supervisor.process("ehr-a").pid
    nemesis.inject(plan(PauseFault(type="pause", target="ehr-a", duration=5, name="freeze")))
    nemesis.inject(plan(KillFault(type="kill", target="ehr-b", duration=5, name="kill")))
    wait_state(paused_pid, stopped=True)
    assert nemesis.heal_all(restart_sites=False) == []
    wait_state(paused_pid, stopped=False)
    assert not backend.supervisor.process("ehr-b").alive
    assert nemesis.active == []


def test_stop_all_stops_a_paused_process_with_its_sigterm(tmp_path: Path) -> None:
    sup = ProcessSupervisor(tmp_path / "logs")
    code = "import socket, time; s = socket.socket(); s.bind(('127.0.0.1', 0)); time.sleep(60)"
    proc = sup.start(ProcessSpec("sleeper", (sys.executable, "-c", code), "dc-a", TcpReady("127.0.0.1", 1)))
    time.sleep(0.2)
    sup.pause("sleeper")
    wait_state(proc.pid, stopped=True)
    assert sup.is_paused("sleeper")
    sup.stop_all(grace=30)  # a frozen process would hold the SIGTERM pending for the whole grace
    assert proc.popen.returncode == -signal.SIGTERM
    assert not sup.is_paused("sleeper")
    # SIGKILL needs no SIGCONT: a stopped process dies of it (what rollback relies on too).
    frozen = sup.start(ProcessSpec("frozen", (sys.executable, "-c", code), "dc-a", TcpReady("127.0.0.1", 1)))
    sup.pause("frozen")
    sup.kill("frozen")
    assert frozen.popen.returncode == -signal.SIGKILL
