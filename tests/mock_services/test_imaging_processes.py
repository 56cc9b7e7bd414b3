"""The imaging service as real processes: replication under SIGSTOP and SIGKILL, signals, CLI.

The archive ships every 0.1 s (peer timeout 0.5 s). Every wait is bounded; every process is
SIGKILLed at teardown (after SIGCONT); logs are printed at teardown so a failure shows them.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from mock_services.imaging.config import Role
from mock_services.imaging.part10 import parse_part10
from mock_services.imaging.testing import REPO, ImagingProcess, free_port, make_part10, stow_body, wait_until

pytestmark = pytest.mark.integration
ARRIVAL = 5.0  # seconds for shipped instances to show up on the replica


@dataclass
class Site:
    tmp_path: Path
    processes: list[ImagingProcess] = field(default_factory=list)

    def spawn(self, name: str, role: Role, port: int, *extra: str) -> ImagingProcess:
        process = ImagingProcess(name, role, port, self.tmp_path / name, self.tmp_path / f"{name}.log", list(extra))
        process.start()
        self.processes.append(process)
        return process


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    created = Site(tmp_path)
    try:
        yield created
    finally:
        for process in created.processes:
            process.kill()
        for process in created.processes:
            if process.log.exists():
                print(f"--- {process.name} ---\n{process.log.read_text()}")


def stow(url: str, files: list[bytes]) -> None:
    body, headers = stow_body(files)
    response = httpx.post(f"{url}/studies", content=body, headers=headers, timeout=5)
    assert response.status_code == 200, response.text


def on_replica(url: str, sop: str) -> bool:
    response = httpx.get(f"{url}/instances", params={"SOPInstanceUID": sop}, timeout=1)
    return response.status_code == 200 and response.json() != []  # no match: 200 with []


def indexed(storage: Path, sops: list[str]) -> set[str]:
    """The SOP Instance UIDs of ``sops`` in an instance's index, read directly (the process
    may be stopped): read-only, so a frozen process's store is never touched."""
    with sqlite3.connect(f"file:{storage / 'index.sqlite'}?mode=ro", uri=True) as db:
        marks = ",".join("?" * len(sops))
        return {row[0] for row in db.execute(f"SELECT sop_uid FROM instances WHERE sop_uid IN ({marks})", sops)}


def outbox(storage: Path) -> list[str]:
    with sqlite3.connect(f"file:{storage / 'index.sqlite'}?mode=ro", uri=True) as db:
        return [row[0] for row in db.execute("SELECT sop_uid FROM outbox ORDER BY seq")]


def new_instances(count: int) -> tuple[list[bytes], list[str]]:
    files = [make_part10() for _ in range(count)]
    return files, [parse_part10(f).sop_uid for f in files]


def backlog(url: str) -> int:
    return int(httpx.get(f"{url}/health", timeout=1).json()["replication"]["backlog"])


def test_replication_survives_a_frozen_replica(site: Site) -> None:
    replica_port = free_port()
    replica = site.spawn("pacs-b", Role.REPLICA, replica_port)
    archive = site.spawn(
        "pacs-a", Role.ARCHIVE, free_port(), "--replica-url", replica.url,
        "--replication-interval", "0.1", "--peer-timeout", "0.5",
    )  # fmt: skip
    replica.wait_ready()
    archive.wait_ready()

    files, first = new_instances(5)
    stow(archive.url, files)
    took = wait_until(lambda: all(on_replica(replica.url, s) for s in first), ARRIVAL, "5 instances on the replica")
    print(f"5 instances replicated in {took:.2f} s")
    wait_until(lambda: backlog(archive.url) == 0, ARRIVAL, "archive got the replica's answer")

    replica.signal(signal.SIGSTOP)
    files, frozen = new_instances(3)
    stow(archive.url, files)  # the archive acknowledges without its replica (async replication)
    time.sleep(0.5)  # several shipping attempts
    assert indexed(replica.storage, frozen) == set()
    assert backlog(archive.url) == 3
    wait_until(
        lambda: httpx.get(f"{archive.url}/health", timeout=1).json()["replication"]["replica_reachable"] is False,
        ARRIVAL,
        "archive notices the frozen replica",
    )
    replica.signal(signal.SIGCONT)
    wait_until(lambda: all(on_replica(replica.url, s) for s in frozen), ARRIVAL, "3 instances after SIGCONT")
    wait_until(lambda: backlog(archive.url) == 0, ARRIVAL, "archive backlog drained")

    archive.kill()  # dc-a loses power: dc-b still serves everything it received
    assert all(on_replica(replica.url, s) for s in first + frozen)
    response = httpx.post(f"{replica.url}/studies", content=b"", headers={"content-type": "application/dicom"})
    assert response.status_code == 503  # but takes no new images


def test_outbox_survives_sigkill_of_the_archive(site: Site) -> None:
    replica_port = free_port()  # nothing listens there yet: the replica is down
    replica_url = f"http://127.0.0.1:{replica_port}"
    archive_port = free_port()
    extra = ("--replica-url", replica_url, "--replication-interval", "0.1", "--peer-timeout", "0.5")
    archive = site.spawn("pacs-a", Role.ARCHIVE, archive_port, *extra)
    archive.wait_ready()
    files, sops = new_instances(2)
    stow(archive.url, files)
    archive.kill()  # power cut right after the acknowledgement
    assert outbox(archive.storage) == sops  # durably queued, in order

    replica = site.spawn("pacs-b", Role.REPLICA, replica_port)
    replica.wait_ready()
    restarted = site.spawn("pacs-a", Role.ARCHIVE, archive_port, *extra)
    restarted.wait_ready()
    wait_until(lambda: all(on_replica(replica.url, s) for s in sops), ARRIVAL, "queued instances shipped after restart")
    wait_until(lambda: backlog(restarted.url) == 0, ARRIVAL, "backlog drained after restart")
    assert on_replica(restarted.url, sops[0])  # and the archive still has it


def test_sigterm_exits_0_and_startup_is_fast(site: Site) -> None:
    process = site.spawn("pacs-a", Role.ARCHIVE, free_port())
    took = process.wait_ready()
    print(f"ready in {took:.2f} s")
    assert took < 5.0  # < 1 s on an idle machine; margin for a loaded CI box
    process.signal(signal.SIGTERM)
    assert process.popen is not None
    assert process.popen.wait(timeout=10) == 0
    assert "event=stop" in process.log.read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--name", "x", "--datacenter", "dc-a", "--role", "archive", "--storage", "/tmp/x"], "--port"),
        (["--name", "x", "--datacenter", "dc-a", "--role", "primary", "--port", "1", "--storage", "/tmp/x"], "--role"),
        (
            ["--name", "x", "--datacenter", "dc-b", "--role", "replica", "--port", "1", "--storage", "/tmp/x",
             "--replica-url", "http://127.0.0.1:1"],
            "only an archive",
        ),
        (
            ["--name", "x", "--datacenter", "dc-a", "--role", "archive", "--port", "1", "--storage", "/tmp/x",
             "--patients", "-5"],
            "--patients",
        ),
    ],
    ids=["no-port", "bad-role", "replica-with-replica-url", "negative-patients"],
)
def test_bad_flags_exit_2_with_a_message(args: list[str], message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mock_services.imaging", *args], cwd=REPO, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert message in result.stderr
