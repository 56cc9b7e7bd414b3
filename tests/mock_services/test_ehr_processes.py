"""The EHR as real processes: two instances on free ports, peers of each other (no proxy).

Timings: heartbeat 0.1 s, peer timeout 0.5 s, promote after 1.0 s. Every wait is bounded;
every process is SIGKILLed at teardown (after SIGCONT, in case a test froze it). Process logs
are printed at teardown, so a failing test shows them.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
PROMOTE_AFTER = 1.0
HEARTBEAT = 0.1
PEER_TIMEOUT = 0.5


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll ``check`` (exceptions count as "not yet") every 20 ms; return the seconds it took."""
    started = time.monotonic()
    while True:
        try:
            if check():
                return time.monotonic() - started
        except (httpx.HTTPError, OSError):
            pass
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not true within {timeout} s: {what}")
        time.sleep(0.02)


@dataclass
class EhrProcess:
    name: str
    args: list[str]
    port: int
    db: Path
    log: Path
    popen: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "mock_services.ehr", *self.args],
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def signal(self, sig: signal.Signals) -> None:
        assert self.popen is not None
        self.popen.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL (a data-center power cut) and reap."""
        if self.popen is not None and self.popen.poll() is None:
            os.kill(self.popen.pid, signal.SIGCONT)  # a stopped process still dies, but be explicit
            self.popen.kill()
            self.popen.wait(timeout=5)


@dataclass
class Cluster:
    """Starts EHR processes; kills them all at teardown."""

    tmp_path: Path
    http: httpx.Client
    processes: list[EhrProcess] = field(default_factory=list)

    def spawn(self, name: str, role: str, port: int, peer_port: int | None, *extra: str) -> EhrProcess:
        db = self.tmp_path / f"{name}.sqlite"
        args = [
            "--name",
            name,
            "--datacenter",
            f"dc-{name[-1]}",
            "--role",
            role,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--db",
            str(db),
            "--promote-after",
            str(PROMOTE_AFTER),
            "--heartbeat-interval",
            str(HEARTBEAT),
            "--peer-timeout",
            str(PEER_TIMEOUT),
            *extra,
        ]
        if peer_port is not None:
            args += ["--peer-url", f"http://127.0.0.1:{peer_port}"]
        process = EhrProcess(name, args, port, db, self.tmp_path / f"{name}.log")
        process.start()
        self.processes.append(process)
        return process

    def restart(self, process: EhrProcess) -> None:
        process.start()

    def wait_healthy(self, process: EhrProcess, timeout: float = 10.0) -> float:
        return wait_until(
            lambda: self.http.get(f"{process.url}/health").status_code == 200, timeout, f"{process.name} /health"
        )

    def pair(self, *extra: str) -> tuple[EhrProcess, EhrProcess]:
        """ehr-a (configured primary) and ehr-b (standby), healthy and in sync."""
        port_a, port_b = free_port(), free_port()
        a = self.spawn("ehr-a", "primary", port_a, port_b, *extra)
        b = self.spawn("ehr-b", "standby", port_b, port_a, *extra)
        self.wait_healthy(a)
        self.wait_healthy(b)
        wait_until(lambda: self.standby_level(a), 5.0, "ehr-a primary with ehr-b level")
        return a, b

    def standby_level(self, primary: EhrProcess) -> bool:
        status = self.http.get(f"{primary.url}/_replication/status").json()
        peer = status["peer"]
        return bool(status["role"] == "primary" and peer["reachable"] and peer["matched_lsn"] == status["lsn"])

    def create(self, process: EhrProcess, mrn: str) -> httpx.Response:
        patient = {"resourceType": "Patient", "identifier": [{"system": "urn:mrn", "value": mrn}]}
        return self.http.post(f"{process.url}/Patient", json=patient, headers={"Content-Type": "application/fhir+json"})

    def has(self, process: EhrProcess, resource_id: str) -> bool:
        return self.http.get(f"{process.url}/Patient/{resource_id}").status_code == 200


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    with httpx.Client(timeout=2.0, trust_env=False) as http:
        running = Cluster(tmp_path, http)
        try:
            yield running
        finally:
            for process in running.processes:
                process.kill()
            for process in running.processes:
                print(f"----- {process.name} log -----\n{process.log.read_text(errors='replace')}")


def test_sync_write_is_readable_on_the_standby_right_after_201(cluster: Cluster) -> None:
    a, b = cluster.pair("--replication", "sync")

    created = cluster.create(a, "sync-1")

    assert created.status_code == 201
    patient_id = created.json()["id"]
    read = cluster.http.get(f"{b.url}/Patient/{patient_id}")  # no wait: sync means applied
    assert read.status_code == 200 and read.json() == created.json()
    assert read.headers["x-served-by"] == "ehr-b"
    found = cluster.http.get(f"{b.url}/Patient", params={"identifier": "urn:mrn|sync-1"}).json()
    assert found["total"] == 1


def test_async_write_reaches_the_standby_within_a_bounded_wait(cluster: Cluster) -> None:
    a, b = cluster.pair("--replication", "async")

    created = cluster.create(a, "async-1")

    assert created.status_code == 201
    took = wait_until(lambda: cluster.has(b, created.json()["id"]), 2.0, "async write shipped to ehr-b")
    assert took < 2.0


def test_sigkilled_primary_is_replaced_and_rejoins_as_standby_with_the_new_writes(cluster: Cluster) -> None:
    a, b = cluster.pair("--replication", "sync")
    before = cluster.create(a, "before-crash").json()["id"]

    killed_at = time.monotonic()
    a.kill()
    wait_until(lambda: cluster.http.get(f"{b.url}/primary").status_code == 200, PROMOTE_AFTER + 3.0, "ehr-b promoted")
    failover = time.monotonic() - killed_at
    health = cluster.http.get(f"{b.url}/health").json()
    during = cluster.create(b, "during-outage")

    # It waited for promote-after (minus at most one heartbeat interval) before promoting.
    assert PROMOTE_AFTER - 2 * HEARTBEAT <= failover <= PROMOTE_AFTER + 3.0
    assert (health["role"], health["epoch"]) == ("primary", 2)
    assert during.status_code == 201 and cluster.has(b, before)

    cluster.restart(a)  # same command line: configured primary, same db
    cluster.wait_healthy(a)
    wait_until(lambda: cluster.has(a, during.json()["id"]), 5.0, "ehr-a resynced the write made during its absence")
    rejoined = cluster.http.get(f"{a.url}/health").json()
    assert (rejoined["role"], rejoined["epoch"]) == ("standby", 2)
    assert cluster.http.get(f"{a.url}/primary").status_code == 503
    assert cluster.http.get(f"{b.url}/primary").status_code == 200
    assert cluster.has(a, before)
    refused = cluster.create(a, "to-old-primary")
    assert refused.status_code == 503 and refused.json()["issue"][0]["code"] == "transient"


def test_async_writes_are_absent_from_a_frozen_standby_until_it_resumes(cluster: Cluster) -> None:
    a, b = cluster.pair("--replication", "async")
    assert b.popen is not None

    b.signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        created = [cluster.create(a, f"frozen-{i}") for i in range(3)]
        ack_time = time.monotonic() - started
        ids = [response.json()["id"] for response in created]
        assert all(response.status_code == 201 for response in created)
        assert ack_time < PEER_TIMEOUT  # async: acknowledged without waiting for the standby
        # The frozen process cannot answer HTTP, so look at its database file directly.
        with sqlite3.connect(f"file:{b.db}?mode=ro", uri=True) as db:
            present = db.execute("SELECT COUNT(*) FROM log WHERE resource_id IN (?, ?, ?)", ids).fetchone()[0]
        assert present == 0
        wait_until(lambda: not cluster.standby_level(a), 2.0, "ehr-a sees ehr-b behind")
        # Stay frozen past promote-after: on resuming, ehr-b must not promote (its pre-vote
        # finds ehr-a alive) but catch up.
        time.sleep(max(0.0, PROMOTE_AFTER + 0.3 - (time.monotonic() - started)))
    finally:
        b.signal(signal.SIGCONT)

    wait_until(lambda: all(cluster.has(b, i) for i in ids), 3.0, "ehr-b caught up after SIGCONT")
    health = cluster.http.get(f"{b.url}/health").json()
    assert (health["role"], health["epoch"]) == ("standby", 1)
    assert cluster.http.get(f"{a.url}/primary").status_code == 200


def test_single_instance_survives_sigkill_and_exits_0_on_sigterm(cluster: Cluster) -> None:
    solo = cluster.spawn("ehr-s", "primary", free_port(), None)
    startup = cluster.wait_healthy(solo)
    written = cluster.create(solo, "durable")
    assert written.status_code == 201

    solo.kill()
    cluster.restart(solo)
    cluster.wait_healthy(solo)
    assert cluster.has(solo, written.json()["id"])  # acknowledged => committed before the kill

    solo.signal(signal.SIGTERM)
    assert solo.popen is not None
    assert solo.popen.wait(timeout=5) == 0
    assert startup < 2.0  # loose bound for a busy CI box; typically ~0.3 s
