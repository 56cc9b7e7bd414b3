"""Fixtures of the load tests: one reference hospital for the whole session (real services
behind Toxiproxy and HAProxy, 30 synthetic patients), and running Locust the way the harness
does -- the exact argv of ``locust_command()`` with ``locust_env(plan_path)`` -- on a plan."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harness.backends import DataOptions, Endpoints, ServiceOptions
from harness.backends.local import LocalBackend, LocalOptions
from harness.load.catalogue import PERSONAS
from harness.load.command import locust_command, locust_env
from harness.load.plan import LOG_FILE, PLAN_FILE, RECORDS_FILE, STOP_FILE, SUMMARY_FILE, LoadPlan, PersonaPlan, Stage
from harness.run.journal import Journal
from harness.topology import reference_topology

PATIENTS = 30


@pytest.fixture(scope="package")
def hospital(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoints]:
    """Every service of the reference topology, up once for all load tests."""
    run_dir = tmp_path_factory.mktemp("hospital")
    journal = Journal(run_dir, "load-tests")
    options = LocalOptions(services=ServiceOptions(data=DataOptions(seed=7, patients=PATIENTS)))
    backend = LocalBackend(reference_topology(), run_dir, options=options, journal=journal)
    endpoints = backend.up()
    try:
        yield endpoints
    finally:
        backend.down()
        journal.close()


@dataclass
class LoadRun:
    """What one Locust run left behind."""

    run_dir: Path
    returncode: int
    elapsed: float
    output: str
    summary: dict[str, Any]
    records: list[dict[str, Any]] = field(default_factory=list)
    record_lines: int = 0

    def describe(self) -> str:
        log = self.run_dir / LOG_FILE
        tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
        return (f"exit {self.returncode}, summary {self.summary}\n--- output ---\n{self.output[-3000:]}\n"
                f"--- log ---\n{tail}")


def make_plan(run_dir: Path, endpoints: Endpoints, personas: dict[str, dict[str, float] | None], *,
              stages: list[Stage], patients: int = PATIENTS, think_time: tuple[float, float] = (0.05, 0.2),
              timeout: float = 3.0, extra: dict[str, Any] | None = None) -> LoadPlan:
    """A plan for ``personas`` (name -> task weights, None for the catalogue's defaults)."""
    plans = {}
    for name, tasks in personas.items():
        spec = PERSONAS[name]
        plans[name] = PersonaPlan(spec.weight, tasks or {t.name: t.weight for t in spec.tasks})
    mllp = [endpoints.mllp["msg-a"], endpoints.mllp["msg-b"]]
    return LoadPlan(
        run_id=f"test-{run_dir.name}",
        http_targets=dict(endpoints.front_door_urls),
        mllp_targets=mllp,
        personas=plans,
        stages=stages,
        think_time=think_time,
        timeout=timeout,
        patients=patients,
        seed=11,
        records_path=str(run_dir / RECORDS_FILE),
        summary_path=str(run_dir / SUMMARY_FILE),
        stop_path=str(run_dir / STOP_FILE),
        extra={"mllp_names": ["msg-a", "msg-b"], "mllp_datacenters": ["dc-a", "dc-b"], **(extra or {})},
    )


def _wait_for_first_record(records: Path, process: subprocess.Popen[bytes], *, deadline: float) -> None:
    while records.stat().st_size == 0:
        if process.poll() is not None or time.monotonic() > deadline:
            return  # the run's own assertions say what went wrong
        time.sleep(0.05)


def run_locust(run_dir: Path, plan: LoadPlan, *, processes: int = 1, timeout: float = 40.0,
               stop_after: float | None = None) -> LoadRun:
    """Run Locust on ``plan`` as the harness does; create the stop file ``stop_after`` s after the first
    request reaches the records file (not after the start: workers can take a second or more to connect on
    a busy machine, and a stop before any request proves nothing)."""
    plan_path = run_dir / PLAN_FILE
    plan_path.write_text(plan.to_json(), encoding="utf-8")
    Path(plan.records_path).touch()
    argv = locust_command(processes=processes, log_path=run_dir / LOG_FILE)
    started = time.monotonic()
    process = subprocess.Popen(argv, env=locust_env(plan_path), cwd=run_dir, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        if stop_after is not None:
            _wait_for_first_record(Path(plan.records_path), process, deadline=time.monotonic() + timeout)
            time.sleep(stop_after)
            Path(plan.stop_path).touch()
            started = time.monotonic()  # elapsed then measures the stop itself
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        message = f"Locust did not end within {timeout} s:\n{output.decode(errors='replace')[-3000:]}"
        raise AssertionError(message) from None
    elapsed = time.monotonic() - started
    summary_path = Path(plan.summary_path)
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    lines = Path(plan.records_path).read_text().splitlines()
    return LoadRun(run_dir, process.returncode, elapsed, output.decode(errors="replace"), summary,
                   [json.loads(line) for line in lines if line.strip()], len(lines))
