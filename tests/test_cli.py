"""The hchaos CLI end to end: exit codes, messages, and that nothing is left running."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from textwrap import dedent

import pytest

from harness.run.journal import replay_journal
from tests.conftest import journal_ended, processes_alive

HCHAOS = [sys.executable, "-m", "harness.cli"]
REPO = Path(__file__).resolve().parents[1]

FAST_TOPOLOGY = "topology: {services: [ehr], ehr: {promote_after: 1s, heartbeat_interval: 100ms}}\n"


def hchaos(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run([*HCHAOS, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def only_run_dir(runs: Path) -> Path:
    (run_dir,) = runs.iterdir()
    return run_dir


def test_validate_accepts_the_shipped_experiments() -> None:
    files = [str(p) for p in sorted((REPO / "experiments").rglob("*.yaml"))]
    result = hchaos("validate", *files)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("ok ") == len(files)


def test_validate_names_file_line_path_and_valid_choices(experiment_file: Callable[..., Path]) -> None:
    path = experiment_file("""
        faults:
          - {type: power_loss, target: dc-c, duration: 5s}
          - {type: blackhole, target: frontdor-ehr-a, duration: 5s}
        checks:
          - {type: availability, service: lab}
        """)
    result = hchaos("validate", str(path))
    assert result.returncode == 2
    err = " ".join(result.stderr.split())  # rich may wrap long lines
    assert f"{path}:6:" in err and "faults[0].target" in err and "unknown data center 'dc-c'" in err
    assert "faults[1].target" in err and "did you mean 'frontdoor-ehr-a'" in err
    assert "checks[0].service" in err and "unknown service 'lab'" in err


def test_unknown_fault_type_lists_the_valid_ones(experiment_file: Callable[..., Path]) -> None:
    path = experiment_file("faults:\n  - {type: powerloss, target: dc-a, duration: 5s}\n")
    result = hchaos("run", str(path))
    assert result.returncode == 2
    err = " ".join(result.stderr.split())
    assert "powerloss" in err and "power_loss" in err and "link_down" in err


def test_schema_is_json_with_every_fault_type() -> None:
    result = hchaos("schema")
    assert result.returncode == 0
    text = json.dumps(json.loads(result.stdout))
    for fault in ("power_loss", "latency", "bandwidth", "blackhole", "reset_peer", "link_down"):
        assert f'"{fault}"' in text


@pytest.mark.integration
def test_doctor_reports_each_tool_and_where_it_came_from() -> None:
    result = hchaos("doctor", env={"COLUMNS": "200"})
    assert result.returncode == 0, result.stdout
    assert "toxiproxy-server" in result.stdout and "2.12.0" in result.stdout
    assert "haproxy" in result.stdout


@pytest.mark.integration
def test_missing_tool_exits_3_and_leaves_nothing_running(
        tmp_path: Path, experiment_file: Callable[..., Path]) -> None:
    path = experiment_file("faults: []\n")
    runs = tmp_path / "runs"
    result = hchaos("run", str(path), "--runs-dir", str(runs),
                    env={"HCHAOS_TOXIPROXY_SERVER": str(tmp_path / "nope")})
    assert result.returncode == 3
    assert "toxiproxy" in result.stderr.lower() and str(tmp_path / "nope") in result.stderr
    run_dir = only_run_dir(runs)
    assert processes_alive(run_dir) == [] and journal_ended(run_dir)


@pytest.mark.integration
def test_a_power_loss_run_passes_with_exit_0_and_writes_its_folder(
        tmp_path: Path, experiment_file: Callable[..., Path]) -> None:
    path = experiment_file(FAST_TOPOLOGY + dedent("""
        probe: {rate: 25}
        phases: {steady_state: 2s, recovery: 4s}
        faults:
          - {type: power_loss, target: dc-a, duration: 5s, name: cut}
        checks:
          - {type: availability, service: ehr, phases: [steady_state, recovery], max_error_rate: 0.02}
          - {type: failover_time, service: ehr, max: 5s, sustained: 1s}
        """))
    runs = tmp_path / "runs"
    result = hchaos("run", str(path), "--runs-dir", str(runs))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "verdict: PASS" in result.stdout
    run_dir = only_run_dir(runs)
    report = json.loads((run_dir / "report.json").read_text())
    assert report["outcome"] == "pass"
    rto = report["verdicts"][1]["evidence"]["failover_time"]
    assert 0.5 < rto < 5.0  # the cut really interrupted service, and it came back
    assert processes_alive(run_dir) == [] and journal_ended(run_dir)
    state = replay_journal(run_dir / "journal.jsonl")
    assert state.unhealed_faults == {}
    # Re-judging offline gives the same verdict.
    again = hchaos("report", str(run_dir))
    assert again.returncode == 0 and "PASS" in again.stdout


@pytest.mark.integration
def test_a_check_that_fails_gives_exit_1_naming_the_reason(
        tmp_path: Path, experiment_file: Callable[..., Path]) -> None:
    # Black-holing the front door's path to the primary, with replication untouched, leaves
    # the standby unpromoted: the EHR is down for the whole fault, far over a 1 s objective.
    path = experiment_file(FAST_TOPOLOGY + dedent("""
        probe: {rate: 20}
        phases: {steady_state: 1s, recovery: 2s}
        faults:
          - {type: blackhole, target: frontdoor-ehr-a, duration: 3s}
        checks:
          - {type: failover_time, service: ehr, max: 1s, sustained: 500ms}
        """))
    runs = tmp_path / "runs"
    result = hchaos("run", str(path), "--runs-dir", str(runs))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "verdict: FAIL" in result.stdout
    verdict = json.loads((only_run_dir(runs) / "report.json").read_text())["verdicts"][0]
    assert verdict["outcome"] == "fail" and verdict["evidence"]["failover_time"] > 2.5


@pytest.mark.integration
def test_sigint_mid_fault_heals_stops_everything_and_exits_130(
        tmp_path: Path, experiment_file: Callable[..., Path]) -> None:
    path = experiment_file(FAST_TOPOLOGY + dedent("""
        phases: {steady_state: 1s, recovery: 1s}
        faults:
          - {type: power_loss, target: dc-a, duration: 60s}
        """))
    runs = tmp_path / "runs"
    proc = subprocess.Popen([*HCHAOS, "run", str(path), "--runs-dir", str(runs)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            journals = list(runs.glob("*/journal.jsonl"))
            if journals and replay_journal(journals[0]).unhealed_faults:
                break
            assert time.monotonic() < deadline, "fault never injected"
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert "faults healed" in stderr
    run_dir = only_run_dir(runs)
    assert replay_journal(run_dir / "journal.jsonl").unhealed_faults == {}
    assert processes_alive(run_dir) == [] and journal_ended(run_dir)


@pytest.mark.integration
def test_a_port_already_taken_exits_3_naming_it_and_leaves_nothing_running(
        tmp_path: Path, experiment_file: Callable[..., Path]) -> None:
    import socket

    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        path = experiment_file(f"topology: {{services: [ehr], front_door: {{port: {port}}}}}\nfaults: []\n")
        runs = tmp_path / "runs"
        result = hchaos("run", str(path), "--runs-dir", str(runs))
    finally:
        holder.close()
    assert result.returncode == 3, result.stdout + result.stderr
    assert f"127.0.0.1:{port}" in result.stderr and "already in use" in result.stderr
    run_dir = only_run_dir(runs)
    assert processes_alive(run_dir) == [] and journal_ended(run_dir)


def test_a_service_without_its_dependency_is_rejected_with_its_location(
        experiment_file: Callable[..., Path]) -> None:
    path = experiment_file("topology: {services: [labs, scheduling]}\n")
    result = hchaos("validate", str(path))
    assert result.returncode == 2
    err = " ".join(result.stderr.split())
    assert "topology.services[0]" in err and "'labs' needs ehr" in err


VALIDATE_IMPORTS = """
import runpy, sys
sys.argv = ["hchaos", "validate", sys.argv[1]]
try:
    runpy.run_module("harness.cli", run_name="__main__")
except SystemExit as exit:
    assert exit.code == 0, exit.code
print(sorted({m.split(".")[0] for m in sys.modules} & {"polars", "locust", "gevent", "numpy"}))
"""


def test_validate_imports_nothing_heavy() -> None:
    """Editors and hooks run `validate` on every save: it must not pay for the checkers'
    Polars, or Locust and gevent (bench/bench_cli_startup.py measures the time)."""
    done = subprocess.run([sys.executable, "-c", VALIDATE_IMPORTS, str(REPO / "experiments" / "dc-a-power-loss.yaml")],
                          capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout
