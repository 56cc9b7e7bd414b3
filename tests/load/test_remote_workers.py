"""Locust's own distributed mode, as docs/load.md tells users to run it: the harness's master
waits for a worker started separately (here on this machine, as another machine would) with
the documented command, and every request the worker sent reaches the master's timeline."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.backends import Endpoints
from harness.load.command import LOCUSTFILE
from harness.load.plan import PLAN_ENV, PLAN_FILE, Stage
from harness.load.session import LoadSession
from harness.timeline import TimelineWriter
from tests.load.conftest import make_plan

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_worker_started_by_hand_joins_the_master_and_its_records_reach_the_timeline(
        hospital: Endpoints, tmp_path: Path) -> None:
    port = _free_port()
    plan = make_plan(tmp_path, hospital, {"nurse": {"chart_review": 1}}, stages=[Stage(4, 4, 20)])
    with TimelineWriter(tmp_path / "timeline.jsonl") as timeline:
        session = LoadSession(plan, tmp_path, timeline, remote_workers=1, master_bind=("127.0.0.1", port))
        session.start()
        # The documented worker command, with the plan file copied next to it.
        worker_plan = tmp_path / "elsewhere" / PLAN_FILE
        worker_plan.parent.mkdir()
        worker_plan.write_text((tmp_path / PLAN_FILE).read_text())
        worker = subprocess.Popen(
            [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--worker", "--master-host", "127.0.0.1",
             "--master-port", str(port)],
            env={**_env(), PLAN_ENV: str(worker_plan)}, cwd=worker_plan.parent,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            assert session.wait_started(timeout=30), session.log_tail()
            deadline = time.monotonic() + 30
            while session.alive() and time.monotonic() < deadline:
                time.sleep(0.2)
            summary = session.stop()
        finally:
            if worker.poll() is None:
                worker.kill()
            worker.wait(timeout=10)
    assert summary.counts_match and summary.ingested > 20, summary
    assert not (tmp_path / "elsewhere" / "load-requests.jsonl").exists(), "a worker must not write records itself"


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)
