"""The scheduling service as a real process: load, modify, SIGKILL, restart, nothing lost."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mock_services.common.testing import free_port

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
OR_ID = "or-bloc-operatoire-salle-1-2024-08-05"


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


class Service:
    """One ``python -m mock_services.scheduling`` process at a time on a fixed port and db."""

    def __init__(self, tmp_path: Path, *flags: str) -> None:
        self.port = free_port()
        self.db = tmp_path / "sched.sqlite"
        self.log = tmp_path / "sched.log"
        self.flags = flags
        self.popen: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> float:
        """Start and wait for /health; returns the seconds it took."""
        started = time.monotonic()
        with self.log.open("ab") as sink:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "mock_services.scheduling", "--name", "sched-a", "--datacenter", "dc-a",
                 "--port", str(self.port), "--db", str(self.db), *self.flags],
                cwd=REPO, stdout=sink, stderr=subprocess.STDOUT,
            )  # fmt: skip
        while time.monotonic() - started < timeout:
            assert self.popen.poll() is None, self.log.read_text()
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.02)
        raise AssertionError(f"not healthy within {timeout} s")

    def kill(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(timeout=5)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    svc = Service(tmp_path, "--seed", "2024", "--patients", "50")
    try:
        yield svc
    finally:
        svc.kill()
        if svc.log.exists():
            print(svc.log.read_text())


def test_changes_survive_sigkill_and_restart_does_not_reload(service: Service) -> None:
    ready = service.start()
    print(f"ready in {ready:.2f} s")
    with httpx.Client(base_url=service.url, timeout=5) as http:
        assert http.get("/health").json()["schedules"] == 28
        put = http.put(f"/schedules/{OR_ID}", json={"slots": []}, headers={"If-Match": 'W/"1"'})
        assert put.status_code == 200
        new = {"start": "2024-08-05T08:00:00+02:00", "end": "2024-08-05T09:00:00+02:00", "patient": "Patient/p000001"}
        appended = http.post(f"/schedules/{OR_ID}/slots", json=new)
        assert appended.status_code == 201 and appended.json()["version"] == 3
        watermark = appended.json()["last_modified"]

        # SIGKILL while a writer appends as fast as it can: every acknowledged append must survive
        acknowledged = [3]
        staff_id = "staff-cardiologie-2024-08-04"

        def writer() -> None:
            shift = 0
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                shift += 1
                body = {"shift": f"renfort-{shift}", "start": "2024-08-04T10:00:00+02:00",
                        "end": "2024-08-04T12:00:00+02:00"}  # fmt: skip
                try:
                    response = httpx.post(f"{service.url}/schedules/{staff_id}/slots", json=body, timeout=2)
                except httpx.HTTPError:
                    return
                if response.status_code == 201:
                    acknowledged.append(response.json()["version"])

        thread = threading.Thread(target=writer)
        thread.start()
        time.sleep(0.5)
        service.kill()
        thread.join(15)
        assert not thread.is_alive()
    assert len(acknowledged) > 3, "the writer never got an answer before the kill"
    with sqlite3.connect(service.db) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)

    service.start()
    with httpx.Client(base_url=service.url, timeout=5) as http:
        assert http.get("/health").json()["schedules"] == 28
        schedule = http.get(f"/schedules/{OR_ID}")
        assert schedule.json()["version"] == 3 and schedule.json()["slots"] == [new]
        assert schedule.headers["etag"] == 'W/"3"'
        staff = http.get(f"/schedules/{staff_id}").json()
        assert staff["version"] >= max(acknowledged[1:])  # nothing acknowledged was lost
        assert len(staff["slots"]) == 3 + staff["version"] - 1
        changed = http.get("/schedules/changes", params={"since": "2024-08-03T00:00:00Z"}).json()
        assert {s["id"] for s in changed["schedules"]} == {OR_ID, staff_id}
        assert changed["until"] >= watermark
        # the version check still works on the restarted instance
        stale = http.put(f"/schedules/{OR_ID}", json={"slots": []}, headers={"If-Match": 'W/"2"'})
        assert stale.status_code == 412
    assert "event=store-kept" in service.log.read_text()
    assert service.popen is not None
    service.popen.send_signal(signal.SIGTERM)
    assert service.popen.wait(timeout=10) == 0


def test_10000_patients_load_fast_and_fit_in_memory(tmp_path: Path) -> None:
    svc = Service(tmp_path, "--patients", "10000")
    try:
        ready = svc.start()
        with httpx.Client(base_url=svc.url, timeout=5) as http:
            assert http.get("/health").json()["schedules"] == 399  # 50 wards x 7 + 5 rooms x 7 + 2 scanners x 7
            assert len(http.get("/schedules").json()) == 399
            assert len(http.get("/schedules/changes", params={"since": "2000-01-01"}).json()["schedules"]) == 399
        assert svc.popen is not None
        rss = rss_mib(svc.popen.pid)
        print(f"10 000 patients: ready in {ready:.2f} s, RSS {rss:.1f} MiB")
        assert rss < 200 and ready < 10
        assert "event=load-done schedules=399" in svc.log.read_text()
    finally:
        svc.kill()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--port", "1", "--db", "x", "--patients", "100001"], "--patients"),
        (["--port", "1", "--db", "x", "--seed", "abc"], "--seed"),
        (["--port", "1"], "--db"),
        (["--port", "70000", "--db", "x"], "--port"),
    ],
)
def test_bad_flags_exit_2(flags: list[str], message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mock_services.scheduling", "--name", "s", "--datacenter", "d", *flags],
        cwd=REPO, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 2 and message in result.stderr
