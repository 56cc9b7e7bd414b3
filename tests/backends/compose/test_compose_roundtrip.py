"""The Compose round trip on the real engine and the real Compose v2: `hchaos compose` writes
the file, `docker compose up --wait` brings it up, an experiment with `backend: compose` and a
fault passes against it without starting anything, the hospital is left as found, `down`.

Also: the committed compose/hospital.yaml is what `hchaos compose` writes today."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import docker
import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
HCHAOS = [sys.executable, "-m", "harness.cli"]
PROJECT = f"hchaos-test-{os.getpid()}"

EXPERIMENT = f"""\
version: 1
name: compose-kill
backend: compose
compose: {{project: {PROJECT}}}
topology: {{services: [ehr], ehr: {{promote_after: 2s, heartbeat_interval: 200ms}}}}
phases: {{steady_state: 3s, recovery: 5s}}
faults:
  - {{name: primary-crash, type: kill, target: ehr-a, at: 0s, duration: 6s}}
checks:
  - {{type: failover_time, fault: primary-crash, max: 8s, sustained: 1s}}
  - {{type: ledger, service: ehr}}
"""


def project_containers() -> dict[str, str]:
    with contextlib.closing(docker.from_env()) as client:
        return {c.labels["org.hchaos.instance"]: c.status for c in client.containers.list(
            all=True, filters={"label": f"com.docker.compose.project={PROJECT}"})}


def test_compose_file_up_an_experiment_with_a_fault_passes_against_it_then_down(tmp_path: Path) -> None:
    experiment = tmp_path / "compose-kill.yaml"
    experiment.write_text(EXPERIMENT)
    compose_file = tmp_path / "compose" / "hospital.yaml"
    written = subprocess.run([*HCHAOS, "compose", str(experiment), "-o", str(compose_file), "--toxiproxy-port", "0"],
                             capture_output=True, text=True, timeout=60)
    assert written.returncode == 0, written.stdout + written.stderr
    assert (tmp_path / "compose" / "hospital-toxiproxy.json").is_file()
    compose = ["docker", "compose", "-f", str(compose_file)]
    try:
        up = subprocess.run([*compose, "up", "--wait", "--quiet-pull"], capture_output=True, text=True, timeout=180)
        assert up.returncode == 0, up.stdout + up.stderr
        assert set(project_containers()) == {"toxiproxy", "haproxy", "ehr-a", "ehr-b"}
        run = subprocess.run([*HCHAOS, "run", str(experiment), "--runs-dir", str(tmp_path / "runs")],
                             capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        assert "primary-crash" in run.stdout
        # left as found: every container running again, nothing of the project removed
        assert project_containers() == {name: "running" for name in ("toxiproxy", "haproxy", "ehr-a", "ehr-b")}
    finally:
        down = subprocess.run([*compose, "down", "-v", "--timeout", "2"], capture_output=True, text=True, timeout=120)
    assert down.returncode == 0, down.stdout + down.stderr
    assert project_containers() == {}


def test_backend_compose_without_the_project_up_says_how_to_bring_it_up(tmp_path: Path) -> None:
    experiment = tmp_path / "compose-kill.yaml"
    experiment.write_text(EXPERIMENT.replace(PROJECT, "hchaos-nothing-here"))
    run = subprocess.run([*HCHAOS, "run", str(experiment), "--runs-dir", str(tmp_path / "runs")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 3, run.stdout + run.stderr
    assert "no container of the Compose project 'hchaos-nothing-here'" in run.stderr
    assert "docker compose -f" in run.stderr


def test_the_committed_hospital_compose_file_is_what_hchaos_compose_writes(tmp_path: Path) -> None:
    out = tmp_path / "hospital.yaml"
    written = subprocess.run([*HCHAOS, "compose", str(ROOT / "experiments" / "aphp-2024-08-03-dc-power-loss.yaml"),
                              "-o", str(out)], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert written.returncode == 0, written.stdout + written.stderr
    for name in ("hospital.yaml", "hospital-toxiproxy.json", "hospital-haproxy.cfg"):
        assert (tmp_path / name).read_text() == (ROOT / "compose" / name).read_text(), \
            f"compose/{name} is stale: regenerate it with `hchaos compose " \
            "experiments/aphp-2024-08-03-dc-power-loss.yaml -o compose/hospital.yaml`"
