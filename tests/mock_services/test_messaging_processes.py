"""The engine as a real process: command line, start-up time, SIGTERM, and durability across
SIGKILL (every acknowledged message is stored, and forwarded after the restart)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mock_services.messaging import samples
from mock_services.messaging.sender import MllpSender
from mock_services.messaging.testing import REPO, EngineProcess, fake_fhir, free_port, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def spawned(tmp_path: Path) -> Iterator[list[EngineProcess]]:
    processes: list[EngineProcess] = []
    yield processes
    for process in processes:
        process.kill()
        if process.log.exists():
            sys.stderr.write(f"--- {process.name} log ---\n{process.log.read_text()}\n")


@pytest.mark.parametrize(
    "extra",
    [
        ["--dedup-key", "maybe"],
        ["--forward-retry-interval", "0"],
        ["--forward-max-attempts", "-1"],
        ["--destination-fhir", "ftp://x"],
        ["--mllp-port", "70000"],
    ],
)
def test_bad_flags_exit_2_with_a_message(tmp_path: Path, extra: list[str]) -> None:
    argv = [
        sys.executable,
        "-m",
        "mock_services.messaging",
        "--name",
        "m",
        "--datacenter",
        "dc-a",
        "--mllp-port",
        "1",
        "--http-port",
        "2",
        "--db",
        str(tmp_path / "x.sqlite"),
        *extra,
    ]
    result = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "error:" in result.stderr


def test_starts_fast_and_exits_0_on_sigterm(tmp_path: Path, spawned: list[EngineProcess]) -> None:
    engine = EngineProcess("msg-a", tmp_path / "a.sqlite", tmp_path / "a.log")
    spawned.append(engine)
    seconds = engine.start()
    assert seconds < 3.0, f"ready after {seconds:.2f} s"  # ~0.5 s on an idle machine
    health = httpx.get(f"{engine.url}/health", timeout=5)
    assert health.json()["name"] == "msg-a" and health.headers["x-datacenter"] == "dc-a"
    assert engine.terminate() == 0
    log = engine.log.read_text()
    assert "event=start" in log and "event=shutdown signal=SIGTERM" in log and "event=stop" in log


def test_sigkill_after_the_last_ack_loses_nothing(tmp_path: Path, spawned: list[EngineProcess]) -> None:
    db = tmp_path / "msg-a.sqlite"
    unreachable = f"http://127.0.0.1:{free_port()}"  # forwarding fails: everything stays queued
    first = EngineProcess("msg-a", db, tmp_path / "first.log", ["--destination-fhir", unreachable])
    spawned.append(first)
    first.start()
    ids = [f"KILL-{i:04d}" for i in range(300)]
    with MllpSender(first.mllp, timeout=5) as sender:
        for number, control_id in enumerate(ids):
            message = samples.oru(control_id) if number % 2 else samples.adt("A01", control_id, mrn=f"MRN{number:08d}")
            assert sender.send(message).code == "AA"
        assert first.popen is not None
        first.popen.send_signal(signal.SIGKILL)  # right after the last ACK: a power cut
    first.popen.wait(timeout=5)

    with fake_fhir() as (receiver, url):
        second = EngineProcess(
            "msg-a",
            db,
            tmp_path / "second.log",
            ["--destination-fhir", url, "--forward-retry-interval", "0.05"],
            mllp_port=first.mllp_port,
            http_port=first.http_port,
        )
        spawned.append(second)
        second.start()
        listed = httpx.get(f"{second.url}/messages", params={"limit": 1000}, timeout=5).json()["messages"]
        assert sorted(m["control_id"] for m in listed) == ids
        wait_until(lambda: httpx.get(f"{second.url}/health", timeout=5).json()["queue_depth"] == 0, 30, "queue drained")
        reports = receiver.of_type("DiagnosticReport")
        assert sorted(r["identifier"][-1]["value"] for r in reports) == ids[1::2]  # (the readable MSH-10 one)
        assert len(receiver.of_type("Patient")) == 150
        assert second.terminate() == 0
    time.sleep(0)  # (the receiver is stopped before the process list is cleaned up)
