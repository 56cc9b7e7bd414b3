"""A SIGKILLed `hchaos up --backend docker` whose lifeline is killed too leaves containers and
networks behind; `hchaos rollback` removes every one of them, found by the run's labels."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import docker
import pytest

from harness.backends.docker.engine import LABEL_INSTANCE, LABEL_RUN
from harness.run.run_tag import run_tag

pytestmark = pytest.mark.integration

HCHAOS = [sys.executable, "-m", "harness.cli"]

EXPERIMENT = """\
version: 1
name: docker-rollback
backend: docker
topology: {services: [ehr], ehr: {promote_after: 1s, heartbeat_interval: 100ms}}
phases: {steady_state: 1s, recovery: 1s}
faults: []
checks: []
"""


def labelled(run_dir: Path) -> tuple[list[str], list[str]]:
    """The instances (by label) of the run's containers and the names of its networks still there."""
    with contextlib.closing(docker.from_env()) as client:
        label = f"{LABEL_RUN}={run_tag(run_dir)}"
        return ([c.labels[LABEL_INSTANCE] for c in client.containers.list(all=True, filters={"label": label})],
                [n.name for n in client.networks.list(filters={"label": label})])


def lifeline_pids(run_dir: Path) -> list[int]:
    wanted = f"harness.faults.lifeline\0{run_dir.resolve()}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if wanted in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
    return found


def test_rollback_removes_every_container_and_network_of_a_sigkilled_run(tmp_path: Path) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text(EXPERIMENT)
    runs = tmp_path / "runs"
    runner = subprocess.Popen([*HCHAOS, "up", str(path), "--runs-dir", str(runs)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 90
        while not list(runs.glob("*/endpoints.json")):
            assert runner.poll() is None, runner.stderr.read().decode() if runner.stderr else ""
            assert time.monotonic() < deadline, "the topology did not come up in 90 s"
            time.sleep(0.2)
        (endpoints_file,) = runs.glob("*/endpoints.json")
        run_dir = endpoints_file.parent
        for pid in lifeline_pids(run_dir):
            os.kill(pid, signal.SIGKILL)
        runner.send_signal(signal.SIGKILL)
        runner.wait()
    finally:
        if runner.poll() is None:
            runner.kill()
    containers, networks = labelled(run_dir)
    assert {"ehr-a", "ehr-b", "toxiproxy", "haproxy"} <= set(containers), containers
    assert len(networks) >= 3, networks  # campus, dc-a, dc-b (+ witness, edge)
    assert json.loads(endpoints_file.read_text())["toxiproxy_url"].startswith("http://127.0.0.1:")

    done = subprocess.run([*HCHAOS, "rollback", "--runs-dir", str(runs)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "removed containers" in done.stdout and "removed networks" in done.stdout
    assert labelled(run_dir) == ([], [])
    again = subprocess.run([*HCHAOS, "rollback", "--runs-dir", str(runs)], capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and "nothing to roll back" in again.stdout
