"""Rollback from a journal: against a real Toxiproxy, and after a real SIGKILLed runner."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.backends.local.ports import allocate_free_ports
from harness.backends.local.processes import HttpReady, ProcessSpec, ProcessSupervisor
from harness.errors import InvalidInput
from harness.faults import rollback_run, unfinished_runs
from harness.run.journal import Journal, replay_journal
from harness.tools import find_toxiproxy_server
from harness.toxiproxy import ProxySpec, ToxicSpec, ToxiproxyClient
from tests.conftest import journal_ended, processes_alive

pytestmark = pytest.mark.integration

HCHAOS = [sys.executable, "-m", "harness.cli"]


@pytest.fixture
def toxiproxy(tmp_path: Path) -> Iterator[ToxiproxyClient]:
    """A Toxiproxy that is *not* one of the run's processes (like a staging one)."""
    sup = ProcessSupervisor(tmp_path / "toxiproxy-logs")
    (port,) = allocate_free_ports(1)
    sup.start(ProcessSpec("toxiproxy", (str(find_toxiproxy_server().path), "-host", "127.0.0.1", "-port",
                                        str(port)), "campus", HttpReady("127.0.0.1", port, "/version")))
    sup.wait_ready(["toxiproxy"], 10)
    client = ToxiproxyClient(f"http://127.0.0.1:{port}")
    try:
        yield client
    finally:
        client.close()
        sup.stop_all()


def test_rollback_removes_toxics_enables_links_and_marks_the_run_ended(
        tmp_path: Path, toxiproxy: ToxiproxyClient) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    a, b = allocate_free_ports(2)
    toxiproxy.populate([ProxySpec("link-a", f"127.0.0.1:{a}", "127.0.0.1:1"),
                        ProxySpec("link-b", f"127.0.0.1:{b}", "127.0.0.1:1")])
    journal = Journal(run_dir, "dead-run")
    server = toxiproxy.base_url
    journal.fault_injecting("cut", [
        {"kind": "toxic", "server": server, "proxy": "link-a", "toxic": "hchaos-cut-upstream"},
        {"kind": "toxic", "server": server, "proxy": "link-a", "toxic": "never-applied"},
        {"kind": "proxy-disabled", "server": server, "proxy": "link-b"},
    ])
    toxiproxy.add_toxic("link-a", ToxicSpec(type="timeout", name="hchaos-cut-upstream", stream="upstream",
                                            attributes={"timeout": 0}))
    toxiproxy.disable("link-b")
    journal.close()
    assert unfinished_runs(tmp_path) == [run_dir]

    result = rollback_run(run_dir, force=True)  # this test process is the "runner": force
    assert result.errors == []
    # What was undone and what was already gone are told apart.
    assert result.toxics_removed == ["link-a/hchaos-cut-upstream"]
    assert result.toxics_absent == ["link-a/never-applied"]
    assert result.links_enabled == ["link-b"] and result.links_already_enabled == []
    proxies = toxiproxy.proxies()
    assert all(not p.toxics for p in proxies.values())
    assert all(p.enabled for p in proxies.values())
    assert journal_ended(run_dir)
    assert unfinished_runs(tmp_path) == []
    assert rollback_run(run_dir, force=True).nothing_to_do  # a second rollback is a no-op


def test_rollback_refuses_a_run_whose_runner_is_alive(tmp_path: Path) -> None:
    runner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        import json

        from harness.run.journal import process_start_ticks

        (tmp_path / "journal.jsonl").write_text(json.dumps({
            "type": "run-start", "run": "live", "pid": runner.pid,
            "start_ticks": process_start_ticks(runner.pid), "started": time.time()}) + "\n")
        with pytest.raises(InvalidInput, match="still running"):
            rollback_run(tmp_path)
        assert rollback_run(tmp_path, force=True).errors == []
    finally:
        runner.kill()
        runner.wait()


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


TWO_LONG_FAULTS = """
    topology: {services: [ehr], ehr: {promote_after: 1s, heartbeat_interval: 100ms}}
    probe: {rate: 10}
    phases: {steady_state: 1s, recovery: 1s}
    faults:
      - {type: power_loss, target: dc-a, duration: 60s}
      - {type: link_down, target: frontdoor-ehr-b, duration: 60s}
    """


def start_runner_until_both_faults(path: Path, runs: Path) -> tuple[subprocess.Popen[bytes], Path]:
    """An ``hchaos run`` of TWO_LONG_FAULTS, returned once both faults are applied."""
    runner = subprocess.Popen([*HCHAOS, "run", str(path), "--runs-dir", str(runs)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def faults_applied() -> bool:
            journals = list(runs.glob("*/journal.jsonl"))
            return bool(journals) and len(replay_journal(journals[0]).unhealed_faults) == 2
        wait_for(faults_applied, 30, "both faults to be injected")
        time.sleep(0.5)  # let the kill of dc-a complete
    except BaseException:
        runner.kill()
        raise
    (run_dir,) = runs.iterdir()
    return runner, run_dir


def lifeline_pids(run_dir: Path) -> list[int]:
    """The pids of the run's lifeline watcher (found by its command line)."""
    wanted = f"harness.faults.lifeline\0{run_dir.resolve()}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if wanted in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def test_a_sigkilled_runner_leaves_nothing_behind_its_lifeline_rolls_back(
        tmp_path: Path, experiment_file: Callable[..., Path]) -> None:
    path = experiment_file(TWO_LONG_FAULTS)
    runs = tmp_path / "runs"
    runner, run_dir = start_runner_until_both_faults(path, runs)
    assert processes_alive(run_dir), "the run should be running"
    toxiproxy_url = json.loads((run_dir / "endpoints.json").read_text())["toxiproxy_url"]
    runner.send_signal(signal.SIGKILL)
    runner.wait()
    killed_at = time.monotonic()
    wait_for(lambda: not processes_alive(run_dir) and journal_ended(run_dir), 15,
             "the lifeline to stop every process of the SIGKILLed runner")
    print(f"every process gone {time.monotonic() - killed_at:.2f}s after the runner's SIGKILL")
    assert replay_journal(run_dir / "journal.jsonl").unhealed_faults == {}
    log = (run_dir / "logs" / "lifeline.log").read_text()
    assert "the runner died before the run ended: rolling back" in log
    assert "killed processes:" in log and "ehr-b" in log and "toxiproxy" in log
    with pytest.raises(Exception):  # noqa: B017 - the run's own Toxiproxy went with it
        ToxiproxyClient(toxiproxy_url, timeout=1).version()
    again = subprocess.run([*HCHAOS, "rollback", "--runs-dir", str(runs)], capture_output=True, text=True,
                           timeout=60)
    assert again.returncode == 0 and "nothing to roll back" in again.stdout


def test_when_even_the_lifeline_is_killed_rollback_undoes_the_run(
        tmp_path: Path, experiment_file: Callable[..., Path]) -> None:
    path = experiment_file(TWO_LONG_FAULTS)
    runs = tmp_path / "runs"
    runner, run_dir = start_runner_until_both_faults(path, runs)
    (watcher,) = lifeline_pids(run_dir)
    os.kill(watcher, signal.SIGKILL)  # first: once the runner is dead it would act at once
    runner.send_signal(signal.SIGKILL)
    runner.wait()
    assert processes_alive(run_dir), "with no lifeline, the SIGKILLed runner leaves processes behind"
    toxiproxy_url = json.loads((run_dir / "endpoints.json").read_text())["toxiproxy_url"]
    with ToxiproxyClient(toxiproxy_url) as client:
        before = client.proxies()
        assert any(p.toxics for p in before.values()) and not before["frontdoor-ehr-b"].enabled

    done = subprocess.run([*HCHAOS, "rollback", "--runs-dir", str(runs)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "removed toxics" in done.stdout and "enabled links" in done.stdout
    assert "killed processes" in done.stdout
    assert processes_alive(run_dir) == []
    assert journal_ended(run_dir)
    again = subprocess.run([*HCHAOS, "rollback", "--runs-dir", str(runs)], capture_output=True, text=True,
                           timeout=60)
    assert again.returncode == 0 and "nothing to roll back" in again.stdout


def test_rollback_makes_a_latency_toxic_inert_before_removing_it_and_tells_removed_from_absent(
        tmp_path: Path, toxiproxy: ToxiproxyClient) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (port,) = allocate_free_ports(1)
    toxiproxy.populate([ProxySpec("link-a", f"127.0.0.1:{port}", "127.0.0.1:1")])
    toxiproxy.add_toxic("link-a", ToxicSpec(type="latency", name="hchaos-slow-downstream", stream="downstream",
                                            attributes={"latency": 500}))
    journal = Journal(run_dir, "dead-run")
    server = toxiproxy.base_url
    journal.fault_injecting("slow", [
        {"kind": "toxic", "server": server, "proxy": "link-a", "toxic": "hchaos-slow-downstream", "type": "latency"},
        {"kind": "toxic", "server": server, "proxy": "link-a", "toxic": "never-applied", "type": "latency"},
    ])
    journal.close()
    result = rollback_run(run_dir, force=True)
    assert result.errors == []
    assert result.toxics_removed == ["link-a/hchaos-slow-downstream"]
    assert result.toxics_absent == ["link-a/never-applied"]
    assert toxiproxy.toxics("link-a") == []
