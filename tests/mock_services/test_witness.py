"""The witness: lease rules (fake clock), persistence, HTTP API in-process, and the process."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from mock_services.witness.app import create_app
from mock_services.witness.leases import LeaseTable

REPO = Path(__file__).resolve().parents[2]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_lease_rules() -> None:
    clock = Clock()
    table = LeaseTable(clock=clock)

    assert table.request("ehr", "ehr-a", 1, 2.0).reason == "acquired"
    assert table.request("ehr", "ehr-a", 1, 2.0).reason == "renewed"
    held = table.request("ehr", "ehr-b", 2, 2.0)
    assert (held.granted, held.reason) == (False, "held")
    assert held.state is not None and (held.state.holder, held.state.epoch) == ("ehr-a", 1)

    clock.now += 2.01  # ehr-a stopped renewing: its lease expired
    stale = table.request("ehr", "ehr-a", 0, 2.0)
    assert (stale.granted, stale.reason) == (False, "stale-epoch")
    taken = table.request("ehr", "ehr-b", 2, 2.0)
    assert (taken.granted, taken.reason) == (True, "acquired")
    # The deposed holder cannot renew, neither with its old epoch nor while ehr-b holds it.
    assert table.request("ehr", "ehr-a", 1, 2.0).reason == "stale-epoch"
    assert table.request("ehr", "ehr-a", 2, 2.0).reason == "held"
    assert table.request("other-cluster", "ehr-a", 1, 2.0).granted  # clusters are independent

    assert table.release("ehr", "ehr-a").reason == "not-holder"
    assert table.release("ehr", "ehr-b").granted
    after = table.request("ehr", "ehr-a", 2, 2.0)  # free at once, but the epoch is remembered
    assert after.granted and after.state is not None and after.state.epoch == 2
    table.close()


def test_leases_survive_a_restart(tmp_path: Path) -> None:
    clock = Clock()
    table = LeaseTable(tmp_path / "w.sqlite", clock=clock)
    table.request("ehr", "ehr-a", 3, 10.0)
    table.close()

    reopened = LeaseTable(tmp_path / "w.sqlite", clock=clock)
    assert reopened.request("ehr", "ehr-b", 4, 10.0).reason == "held"
    state = reopened.get("ehr")
    assert state is not None and (state.holder, state.epoch, state.expires_at) == ("ehr-a", 3, 1010.0)
    reopened.close()


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_http_api(anyio_backend: str) -> None:
    app = create_app("witness", "site-c", LeaseTable())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://w.test") as client:
        body = {"cluster": "ehr", "holder": "ehr-a", "epoch": 1, "ttl": 2.0}
        granted = await client.post("/lease", json=body)
        refused = await client.post("/lease", json={**body, "holder": "ehr-b"})
        malformed = await client.post("/lease", json={**body, "epoch": "one"})
        bad_ttl = await client.post("/lease", json={**body, "ttl": 0})
        not_json = await client.post("/lease", content=b"{")
        shown = await client.get("/lease/ehr")
        health = await client.get("/health")
        metrics = await client.get("/metrics")
        missing = await client.get("/nope")

    assert granted.status_code == 200 and granted.json()["granted"] is True
    assert granted.json()["reason"] == "acquired" and 1.9 < granted.json()["expires_in"] <= 2.0
    assert refused.status_code == 409
    assert {k: refused.json()[k] for k in ("granted", "reason", "holder", "epoch")} == {
        "granted": False,
        "reason": "held",
        "holder": "ehr-a",
        "epoch": 1,
    }
    assert malformed.status_code == 400 and "'epoch'" in malformed.json()["error"]
    assert bad_ttl.status_code == 400 and "'ttl'" in bad_ttl.json()["error"]
    assert not_json.status_code == 400 and "not JSON" in not_json.json()["error"]
    assert shown.json()["holder"] == "ehr-a"
    assert health.json() == {"status": "ok", "name": "witness", "datacenter": "site-c", "role": "witness", "leases": 1}
    assert health.headers["x-served-by"] == "witness" and health.headers["x-datacenter"] == "site-c"
    assert 'witness_lease_decisions_total{reason="held"} 1.0' in metrics.text
    assert 'witness_http_requests_total{method="POST",route="/lease",status="200"} 1.0' in metrics.text
    assert 'witness_lease_epoch{cluster="ehr"} 1.0' in metrics.text
    assert missing.status_code == 404 and missing.headers["x-served-by"] == "witness"


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.parametrize(
    ("body", "named"),
    [
        (b'{"cluster": "ehr", "holder": "ehr-a", "epoch": 9223372036854775808, "ttl": 2}', "'epoch'"),  # was a 500
        (b'{"cluster": "ehr", "holder": "\\ud800", "epoch": 1, "ttl": 2}', "surrogate"),  # was a 500
        (b'{"cluster": "ehr", "holder": "h", "epoch": 1, "ttl": 2, "x": ' + b"[" * 10_000 + b"]" * 10_000 + b"}",
         "nested"),  # was a 500 (RecursionError)
        (b'{"cluster": "ehr", "holder": "h", "epoch": 1, "ttl": NaN}', "NaN"),
    ],
)
async def test_lease_requests_no_store_could_keep_are_400(anyio_backend: str, body: bytes, named: str) -> None:
    app = create_app("witness", "site-c", LeaseTable())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://w.test") as client:
        response = await client.post("/lease", content=body)
        release = await client.post("/lease/release", content=body.replace(b'"epoch"', b'"other"'))
        leases = (await client.get("/leases")).json()

    assert response.status_code == 400, response.text
    assert named in response.json()["error"]
    assert release.status_code in (400, 409), release.text
    assert leases == {"leases": []}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.integration
def test_process_serves_persists_and_exits_0_on_sigterm(tmp_path: Path) -> None:
    port = _free_port()
    args = [sys.executable, "-m", "mock_services.witness", "--name", "witness", "--port", str(port)]
    args += ["--db", str(tmp_path / "w.sqlite")]
    log = tmp_path / "witness.log"
    with log.open("wb") as out:
        process = subprocess.Popen(args, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", trust_env=False, timeout=2.0) as client:
            deadline = time.monotonic() + 10
            while True:  # bounded by the deadline
                try:
                    if client.get("/health").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.02)
            assert client.post("/lease", json={"cluster": "c", "holder": "h", "epoch": 1, "ttl": 5}).status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
        assert "event=lease-acquired cluster=c holder=h epoch=1" in log.read_text()
        assert LeaseTable(tmp_path / "w.sqlite").get("c") is not None
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=5)
    bad = subprocess.run([sys.executable, "-m", "mock_services.witness", "--name", "w"], cwd=REPO, capture_output=True)
    assert bad.returncode == 2 and b"--port" in bad.stderr
