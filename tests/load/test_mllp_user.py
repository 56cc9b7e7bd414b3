"""The lab system persona: ORU^R01 over MLLP from Locust, reported like HTTP requests --
acknowledged by the real engines and stored there, failing over to the backup engine, and
counting reject ACKs and unreachable engines as failures with their kind."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from harness.backends import Endpoints
from harness.load.plan import LoadPlan, Stage
from mock_services.messaging import mllp
from mock_services.messaging.hl7v2 import parse
from mock_services.messaging.testing import free_port
from tests.load.conftest import LoadRun, make_plan, run_locust

pytestmark = pytest.mark.integration

SHORT = [Stage(2.5, 3, 10)]
SHORTER = [Stage(1.5, 2, 10)]


def lab_plan(tmp_path: Path, hospital: Endpoints, stages: list[Stage], targets: list[tuple[str, int]] | None = None,
             names: list[str] | None = None) -> LoadPlan:
    plan = make_plan(tmp_path, hospital, {"lab_system": None}, stages=stages, timeout=1.0)
    extra = {**plan.extra, "mllp_names": names or ["msg-a", "msg-b"]}
    return replace(plan, mllp_targets=targets or plan.mllp_targets, extra=extra)


def assert_counts(run: LoadRun) -> None:
    assert run.summary["locust_requests"] == run.summary["recorded"] == run.record_lines > 0, run.describe()
    for line in run.records:
        assert line["persona"] == "lab_system" and line["service"] == "messaging"
        assert line["operation"] == "messaging: ORU^R01" and "status" not in line
    ids = [line["message_id"] for line in run.records]
    assert len(set(ids)) == len(ids)  # MSH-10 unique per message


def test_results_are_acknowledged_and_stored_at_the_engine(hospital: Endpoints, tmp_path: Path) -> None:
    run = run_locust(tmp_path, lab_plan(tmp_path, hospital, SHORT))

    assert run.returncode == 0, run.describe()
    assert_counts(run)
    assert run.summary["locust_failures"] == 0
    assert {line["ack_code"] for line in run.records} <= {"AA", "CA"}
    assert {(line["served_by"], line["datacenter"]) for line in run.records} == {("msg-a", "dc-a")}
    with httpx.Client(base_url=hospital.instance_urls["msg-a"], timeout=5) as engine:
        for line in run.records:
            stored = engine.get(f"/messages/{line['message_id']}")
            assert stored.status_code == 200, stored.text
            assert parse(stored.json()["raw"]).control_id == line["message_id"]


def test_a_dead_primary_fails_over_to_the_backup_engine(hospital: Endpoints, tmp_path: Path) -> None:
    dead = ("127.0.0.1", free_port())
    run = run_locust(tmp_path, lab_plan(tmp_path, hospital, SHORTER, [dead, hospital.mllp["msg-b"]],
                                        ["dead-engine", "msg-b"]))

    assert run.returncode == 0, run.describe()
    assert_counts(run)
    assert {(line["ok"], line["served_by"], line["ack_code"]) for line in run.records} == {(True, "msg-b", "AA")}


@pytest.fixture
def rejecting_engine() -> Iterator[tuple[str, int]]:
    """An MLLP server answering every message with an AE acknowledgment."""
    server = socket.create_server(("127.0.0.1", 0))
    stopping = threading.Event()

    def serve(connection: socket.socket) -> None:
        decoder = mllp.FrameDecoder()
        with connection:
            while not stopping.is_set():
                try:
                    data = connection.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                for event in decoder.feed(data):
                    if isinstance(event, mllp.Frame):
                        control_id = parse(event.payload.decode()).control_id
                        ack = (f"MSH|^~\\&|HCHAOS|HOSP|LIS|HOSP|20240803101530||ACK^R01^ACK|R{control_id}|P|2.5.1\r"
                               f"MSA|AE|{control_id}|rejected on purpose")
                        connection.sendall(mllp.frame(ack.encode()))

    def accept() -> None:
        while not stopping.is_set():
            try:
                connection, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(connection,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield "127.0.0.1", server.getsockname()[1]
    finally:
        stopping.set()
        server.close()


def test_reject_acks_are_failures_with_their_code(hospital: Endpoints, tmp_path: Path,
                                                  rejecting_engine: tuple[str, int]) -> None:
    run = run_locust(tmp_path, lab_plan(tmp_path, hospital, SHORTER, [rejecting_engine], ["rejecting"]))

    assert run.returncode == 1, run.describe()  # Locust's exit code when requests failed
    assert_counts(run)
    assert run.summary["locust_failures"] == run.summary["locust_requests"]
    assert {(line["ok"], line["error"], line["ack_code"], line["served_by"]) for line in run.records} == {
        (False, "ack-AE", "AE", "rejecting")}


def test_unreachable_engines_are_connect_failures(hospital: Endpoints, tmp_path: Path) -> None:
    targets = [("127.0.0.1", free_port()), ("127.0.0.1", free_port())]
    run = run_locust(tmp_path, lab_plan(tmp_path, hospital, SHORTER, targets))

    assert run.returncode == 1, run.describe()
    assert_counts(run)
    assert {(line["ok"], line["error"]) for line in run.records} == {(False, "connect")}
    assert not any("ack_code" in line or "served_by" in line for line in run.records)
