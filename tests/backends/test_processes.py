import os
import signal
import sys
import time
from pathlib import Path

import pytest

from harness.backends.local.ports import allocate_free_ports
from harness.backends.local.processes import (
    HttpReady,
    ProcessFailedToStart,
    ProcessSpec,
    ProcessSupervisor,
    TcpReady,
)
from harness.run.journal import Journal, replay_journal


def http_server_spec(name: str, port: int, site: str = "dc-a") -> ProcessSpec:
    argv = (sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1")
    return ProcessSpec(name, argv, site, HttpReady("127.0.0.1", port, "/"))


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_start_ready_kill_restart_and_stop_all(tmp_path: Path) -> None:
    journal = Journal(tmp_path, "t")
    sup = ProcessSupervisor(tmp_path / "logs", journal)
    port_a, port_b = allocate_free_ports(2)
    try:
        sup.start(http_server_spec("a", port_a, "dc-a"))
        sup.start(http_server_spec("b", port_b, "dc-b"))
        sup.wait_ready(["a", "b"], timeout=10)
        assert sup.names_in_site("dc-a") == ["a"]
        first_pid = sup.process("a").pid
        sup.kill("a")
        assert not alive(first_pid)
        assert not TcpReady("127.0.0.1", port_a).check()
        sup.restart("a")
        sup.wait_ready(["a"], timeout=10)
        assert sup.process("a").pid != first_pid
        assert (tmp_path / "logs" / "a.log").read_text().count("=== ") == 2
    finally:
        pids = [sup.process(n).pid for n in ("a", "b")]
        sup.stop_all()
    assert not any(alive(p) for p in pids)
    assert replay_journal(tmp_path / "journal.jsonl").live_processes == {}


def test_a_process_that_exits_is_reported_with_its_log_tail(tmp_path: Path) -> None:
    sup = ProcessSupervisor(tmp_path / "logs")
    argv = (sys.executable, "-c", "import sys; print('config file missing: /etc/nowhere'); sys.exit(4)")
    sup.start(ProcessSpec("broken", argv, "dc-a", TcpReady("127.0.0.1", 1)))
    with pytest.raises(ProcessFailedToStart) as info:
        sup.wait_ready(["broken"], timeout=10)
    message = str(info.value)
    assert "'broken' exited with code 4" in message
    assert "config file missing: /etc/nowhere" in message
    sup.stop_all()


def test_a_process_that_never_gets_ready_times_out_naming_it(tmp_path: Path) -> None:
    sup = ProcessSupervisor(tmp_path / "logs")
    (port,) = allocate_free_ports(1)
    sup.start(ProcessSpec("sleepy", (sys.executable, "-c", "import time; time.sleep(60)"), "dc-a",
                          TcpReady("127.0.0.1", port)))
    started = time.monotonic()
    with pytest.raises(ProcessFailedToStart, match=r"not ready after 0.5s: sleepy"):
        sup.wait_ready(["sleepy"], timeout=0.5)
    assert time.monotonic() - started < 5
    pid = sup.process("sleepy").pid
    sup.stop_all()
    assert not alive(pid)


def test_children_of_a_process_die_with_its_group(tmp_path: Path) -> None:
    sup = ProcessSupervisor(tmp_path / "logs")
    pid_file = tmp_path / "child.pid"
    script = (f"import subprocess, sys, time; p = subprocess.Popen([sys.executable, '-c', 'import time; "
              f"time.sleep(60)']); open({str(pid_file)!r}, 'w').write(str(p.pid)); time.sleep(60)")
    (port,) = allocate_free_ports(1)
    sup.start(ProcessSpec("parent", (sys.executable, "-c", script), "dc-a", TcpReady("127.0.0.1", port)))
    deadline = time.monotonic() + 10
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    child = int(pid_file.read_text())
    sup.kill("parent", signal.SIGKILL)
    deadline = time.monotonic() + 5
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.02)
    # the child was reparented; it must have been killed with the group (it may linger as a zombie briefly)
    assert not alive(child) or Path(f"/proc/{child}/stat").read_text().split(")")[1].split()[0] == "Z"
    sup.stop_all()
