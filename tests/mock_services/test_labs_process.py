"""The lab results portal as a real process against the fake EHR served on a real port."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mock_services.common.testing import free_port, running
from mock_services.labs.testing import FakeEhr
from mock_services.synthetic import SyntheticConfig, generate

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def wait_healthy(url: str, popen: subprocess.Popen[bytes], timeout: float = 10.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        assert popen.poll() is None, "the portal exited during start-up"
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.02)
    raise AssertionError(f"portal not healthy within {timeout} s")


@pytest.fixture
def portal_process(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes], FakeEhr, Path]]:
    ehr = FakeEhr(generate(SyntheticConfig(seed=2024, patients=10)), page_size=3)
    ehr_port = free_port()
    port = free_port()
    log = tmp_path / "labs.log"
    with running(ehr.app, port=ehr_port) as ehr_url, log.open("wb") as sink:
        popen = subprocess.Popen(
            [sys.executable, "-m", "mock_services.labs", "--name", "labs-b", "--datacenter", "dc-b",
             "--host", "127.0.0.1", "--port", str(port), "--ehr-url", ehr_url, "--ehr-timeout", "1.0"],
            cwd=REPO, stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            yield f"http://127.0.0.1:{port}", popen, ehr, log
        finally:
            if popen.poll() is None:
                popen.kill()
                popen.wait(timeout=5)
            print(log.read_text())


def test_serves_results_then_503_when_the_ehr_goes_away(
    portal_process: tuple[str, subprocess.Popen[bytes], FakeEhr, Path],
) -> None:
    url, popen, ehr, log = portal_process
    ready = wait_healthy(url, popen)
    assert ready < 5
    response = httpx.get(f"{url}/patients/p000002/results", timeout=5)
    assert response.status_code == 200 and response.headers["x-served-by"] == "labs-b"
    assert isinstance(response.json(), list)
    assert httpx.get(f"{url}/patients/p000002", timeout=5).text.count("<table>") == len(response.json())
    for i in range(1, 11):  # warm every patient once, then measure
        assert httpx.get(f"{url}/patients/p{i:06d}/results", timeout=5).status_code == 200
    print(f"labs ready in {ready:.2f} s, RSS {rss_mib(popen.pid):.1f} MiB")
    assert rss_mib(popen.pid) < 200
    ehr.mode = "error"
    down = httpx.get(f"{url}/patients/p000002/results", timeout=5)
    assert down.status_code == 503 and down.json()["error"] == "ehr-unavailable"
    popen.send_signal(signal.SIGTERM)
    assert popen.wait(timeout=10) == 0
    assert "event=ehr-unreachable" in log.read_text() and "event=stop" in log.read_text()


def test_connection_refused_is_503(tmp_path: Path) -> None:
    port, dead = free_port(), free_port()
    popen = subprocess.Popen(
        [sys.executable, "-m", "mock_services.labs", "--name", "labs-a", "--datacenter", "dc-a",
         "--port", str(port), "--ehr-url", f"http://127.0.0.1:{dead}"],
        cwd=REPO, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_healthy(f"http://127.0.0.1:{port}", popen)
        response = httpx.get(f"http://127.0.0.1:{port}/patients/p000001/results", timeout=5)
        assert response.status_code == 503 and "EHR is unavailable" in response.json()["detail"]
    finally:
        popen.send_signal(signal.SIGINT)
        assert popen.wait(timeout=10) == 0


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--port", "1", "--ehr-url", "ftp://x"], "--ehr-url"),
        (["--port", "1", "--ehr-url", "http://x", "--ehr-timeout", "0"], "--ehr-timeout"),
        (["--port", "1", "--ehr-url", "http://x", "--cache-ttl", "soon"], "--cache-ttl"),
        (["--ehr-url", "http://x"], "--port"),
    ],
)
def test_bad_flags_exit_2(flags: list[str], message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mock_services.labs", "--name", "l", "--datacenter", "d", *flags],
        cwd=REPO, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 2 and message in result.stderr
