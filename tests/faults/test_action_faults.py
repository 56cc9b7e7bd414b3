"""`type: action`: faults on systems the harness does not run, through the team's own commands --
the inject and heal run, journaled, bounded by their timeout, the heal whatever happens (end of
the fault, a failed or hung inject, Ctrl-C, a SIGKILLed runner through its lifeline), their
output in the run folder. The "system" here is a state file a script flips, as a team's script
would stop and start a VM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from textwrap import dedent

import pytest

from harness.experiment import ExperimentError, load_experiment
from harness.run.journal import replay_journal
from harness.runner.planning import plan_faults
from harness.runplan import build_run_plan
from harness.timeline import FaultRecord, read_timeline
from tests.conftest import journal_ended, processes_alive

HCHAOS = [sys.executable, "-m", "harness.cli"]
FAST = "topology: {services: [ehr], ehr: {promote_after: 1s, heartbeat_interval: 100ms}}\n"
SCRIPT = """#!/bin/sh
# the team's script: ./vm.sh stop|start NAME, the VM's state in state/NAME
mkdir -p state
echo "$1 by $HCHAOS_ACTION of $HCHAOS_FAULT" >> state/history
[ "$1" = stop ] && echo down > "state/$2"
[ "$1" = start ] && echo up > "state/$2"
[ "$1" = hang ] && sleep 60.4242  # a marker no other process carries
echo "vm $2: $1 done"
"""


def sleeping() -> list[str]:
    """Pids of the hang branch's marker sleep still alive."""
    found = subprocess.run(["pgrep", "-f", "sleep 60.4242"], capture_output=True, text=True)
    return found.stdout.split()


def team_folder(experiment_file: Callable[..., Path], faults: str, extra: str = "", name: str = "action") -> Path:
    path = experiment_file(FAST + "phases: {steady_state: 1s, recovery: 1s}\n" + extra + dedent(faults), name=name)
    script = path.parent / "vm.sh"
    script.write_text(SCRIPT)
    script.chmod(0o755)
    return path


ONE = """
faults:
  - type: action
    name: vm-ehr-a
    target: ehr-vm-a
    inject: [./vm.sh, stop, ehr-vm-a]
    heal: [./vm.sh, start, ehr-vm-a]
    duration: 2s
    timeout: 10s
checks:
  - {type: availability, service: ehr, phases: [steady_state, recovery], max_error_rate: 0.5}
"""


@pytest.mark.integration
def test_inject_then_heal_journaled_logged_on_the_timeline(tmp_path: Path,
                                                           experiment_file: Callable[..., Path]) -> None:
    path = team_folder(experiment_file, ONE)
    runs = tmp_path / "runs"
    result = subprocess.run([*HCHAOS, "run", str(path), "--runs-dir", str(runs)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    (run_dir,) = runs.iterdir()
    assert (path.parent / "state" / "ehr-vm-a").read_text() == "up\n"
    assert (path.parent / "state" / "history").read_text().splitlines() == [
        "stop by inject of vm-ehr-a", "start by heal of vm-ehr-a"]
    log = (run_dir / "actions" / "vm-ehr-a.log").read_text()
    assert "inject: ./vm.sh stop ehr-vm-a" in log and "vm ehr-vm-a: stop done" in log and "exit 0" in log
    assert "heal: ./vm.sh start ehr-vm-a" in log
    faults = [r for r in read_timeline(run_dir / "timeline.jsonl") if isinstance(r, FaultRecord)]
    assert [(r.action, r.fault_type) for r in faults] == [("inject", "action"), ("heal", "action")]
    assert faults[1].t - faults[0].t == pytest.approx(2, abs=0.5)
    journal = (run_dir / "journal.jsonl").read_text()
    assert '"kind": "command"' in journal and "vm.sh" in journal


@pytest.mark.integration
def test_a_hung_inject_is_killed_at_its_timeout_and_the_heal_still_runs(
        tmp_path: Path, experiment_file: Callable[..., Path]) -> None:
    path = team_folder(experiment_file, ONE.replace("[./vm.sh, stop, ehr-vm-a]", "[./vm.sh, hang, ehr-vm-a]")
                       .replace("timeout: 10s", "timeout: 1s"))
    runs = tmp_path / "runs"
    result = subprocess.run([*HCHAOS, "run", str(path), "--runs-dir", str(runs)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "inject command did not finish within 1s" in result.stdout + result.stderr
    (run_dir,) = runs.iterdir()
    assert (path.parent / "state" / "ehr-vm-a").read_text() == "up\n"  # healed all the same
    assert "killed after" in (run_dir / "actions" / "vm-ehr-a.log").read_text()
    assert replay_journal(run_dir / "journal.jsonl").unhealed_faults == {}
    assert processes_alive(run_dir) == [] and journal_ended(run_dir)
    assert not sleeping(), "the hung script's sleep outlived its timeout"  # the whole process group went


@pytest.mark.integration
@pytest.mark.parametrize("how", ["SIGINT", "SIGKILL"])
def test_ctrl_c_and_a_sigkilled_runner_still_run_the_heal(how: str, tmp_path: Path,
                                                          experiment_file: Callable[..., Path]) -> None:
    path = team_folder(experiment_file, ONE.replace("duration: 2s", "duration: 120s"))
    runs = tmp_path / "runs"
    runner = subprocess.Popen([*HCHAOS, "run", str(path), "--runs-dir", str(runs)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    state = path.parent / "state" / "ehr-vm-a"
    try:
        deadline = time.monotonic() + 60
        while not (state.exists() and state.read_text() == "down\n"):
            assert time.monotonic() < deadline and runner.poll() is None, "the inject never ran"
            time.sleep(0.1)
        runner.send_signal(getattr(signal, how))
        runner.wait(timeout=60)
    finally:
        if runner.poll() is None:
            runner.kill()
    assert runner.returncode == (130 if how == "SIGINT" else -signal.SIGKILL)
    (run_dir,) = runs.iterdir()
    deadline = time.monotonic() + 30
    while not journal_ended(run_dir):  # after a SIGKILL, the lifeline rolls back
        assert time.monotonic() < deadline, "the run was never rolled back"
        time.sleep(0.1)
    assert state.read_text() == "up\n"
    assert replay_journal(run_dir / "journal.jsonl").unhealed_faults == {}
    assert processes_alive(run_dir) == []
    if how == "SIGKILL":
        assert "ran heal commands: vm-ehr-a: ./vm.sh start ehr-vm-a" in (run_dir / "logs" / "lifeline.log").read_text()
        assert "heal (rollback)" in (run_dir / "actions" / "vm-ehr-a.log").read_text()


def test_commands_and_hosts_are_checked_before_anything_starts(experiment_file: Callable[..., Path]) -> None:
    bad = team_folder(experiment_file, ONE.replace("heal: [./vm.sh,", "heal: [./nowhere.sh,")
                      .replace("timeout: 10s", "timeout: 10s\n    hosts: [10.0.0.0/8, 'http://x']\n    workdir: .")
                      , name="bad")
    with pytest.raises(ExperimentError) as raised:
        plan_faults(load_experiment(bad))
    text = str(raised.value)
    assert "faults[0].heal[0]: program './nowhere.sh' not found" in text
    assert "faults[0].hosts[0]: '10.0.0.0/8' is a network" in text
    assert "faults[0].hosts[1]: 'http://x' is not a host" in text
    missing = team_folder(experiment_file, ONE.replace("timeout: 10s", "timeout: 10s\n    workdir: ops"),
                          name="nodir")
    with pytest.raises(ExperimentError, match=r"faults\[0\]\.workdir: workdir '.*/ops' is not a directory"):
        plan_faults(load_experiment(missing))


def test_the_plan_lists_the_commands_and_the_hosts_they_contact(experiment_file: Callable[..., Path]) -> None:
    declared = ONE.replace("timeout: 10s", "timeout: 10s\n    hosts: [vcenter.staging.example]")
    path = team_folder(experiment_file, declared, extra="allow: [vcenter.staging.example]\n")
    plan = build_run_plan(load_experiment(path))
    assert plan.allowed
    [host] = [c for c in plan.contacts if c.contact.host == "vcenter.staging.example"]
    assert host.decision.reason == "in allow: vcenter.staging.example" and host.contact.loc == ("faults", 0, "hosts", 0)
    inject = next(a for a in plan.actions if a.what == "inject")
    assert [s.describe() for s in inject.steps] == [
        f"inject command: ./vm.sh stop ehr-vm-a (from {path.parent.resolve()}, at most 10s; "
        "contacts vcenter.staging.example)"]
    refused = team_folder(experiment_file, ONE.replace("timeout: 10s", "timeout: 10s\n    hosts: [10.1.2.3]"),
                          name="refused")
    assert not build_run_plan(load_experiment(refused)).allowed
    run = subprocess.run([*HCHAOS, "run", str(refused)], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "HCHAOS_RUNS_DIR": str(refused.parent / "runs")})
    assert run.returncode == 2 and "faults[0].hosts[0]: the run would contact 10.1.2.3" in run.stderr
    assert json.loads(subprocess.run([*HCHAOS, "plan", "--json", str(path)], capture_output=True, text=True,
                                     timeout=60).stdout)["allowed"] is True


@pytest.mark.integration
def test_a_runner_killed_during_its_inject_command_is_rolled_back_command_first(
        tmp_path: Path, experiment_file: Callable[..., Path]) -> None:
    """The lifeline kills the still-running inject's process group before it runs the heal: an
    inject finishing after the heal would put the fault back."""
    path = team_folder(experiment_file, ONE.replace("[./vm.sh, stop, ehr-vm-a]", "[./vm.sh, hang, ehr-vm-a]")
                       .replace("timeout: 10s", "timeout: 120s"))
    runs = tmp_path / "runs"
    runner = subprocess.Popen([*HCHAOS, "run", str(path), "--runs-dir", str(runs)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not sleeping():
            assert time.monotonic() < deadline and runner.poll() is None, "the inject never started"
            time.sleep(0.1)
        runner.send_signal(signal.SIGKILL)
        runner.wait(timeout=30)
    finally:
        if runner.poll() is None:
            runner.kill()
    (run_dir,) = runs.iterdir()
    deadline = time.monotonic() + 30
    while not journal_ended(run_dir):
        assert time.monotonic() < deadline, "the run was never rolled back"
        time.sleep(0.1)
    assert not sleeping(), "the inject command outlived the rollback"
    assert (path.parent / "state" / "ehr-vm-a").read_text() == "up\n"
    log = (run_dir / "logs" / "lifeline.log").read_text()
    assert "action:vm-ehr-a" in log and "ran heal commands" in log
    assert processes_alive(run_dir) == []
