"""The local backend against the real Toxiproxy, HAProxy and EHR processes."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.backends import EhrOptions, Endpoints, ServiceOptions
from harness.backends.local import LocalBackend, LocalOptions
from harness.errors import ToolMissing
from harness.experiment import (
    BandwidthFault,
    BlackholeFault,
    LatencyFault,
    LinkDownFault,
    PowerLossFault,
    ResetPeerFault,
)
from harness.faults import FaultPlan, Nemesis, plan_fault
from harness.run.journal import Journal
from harness.topology import reference_topology

pytestmark = pytest.mark.integration

FAST = LocalOptions(services=ServiceOptions(ehr=EhrOptions(promote_after=1.0, heartbeat_interval=0.1)))


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[LocalBackend, Endpoints, Nemesis]]:
    journal = Journal(tmp_path, "t")
    backend = LocalBackend(reference_topology(("ehr",)), tmp_path, options=FAST, journal=journal)
    endpoints = backend.up()
    nemesis = Nemesis(endpoints, backend, journal)
    try:
        yield backend, endpoints, nemesis
    finally:
        nemesis.heal_all()
        nemesis.close()
        backend.down()
        journal.close()


def plan(fault: object) -> FaultPlan:
    return plan_fault(fault, fault.label, reference_topology(("ehr",)))  # type: ignore[arg-type,attr-defined]


def get(url: str, timeout: float = 1.0) -> httpx.Response:
    return httpx.get(url, timeout=timeout)


def test_up_serves_fhir_through_the_front_door(running: tuple[LocalBackend, Endpoints, Nemesis]) -> None:
    _, endpoints, _ = running
    created = httpx.post(f"{endpoints.front_door_url}/Patient", timeout=2,
                         json={"resourceType": "Patient", "identifier": [{"system": "s", "value": "v1"}]})
    assert created.status_code == 201, created.text
    assert created.headers["x-served-by"] == "ehr-a"
    read = get(f"{endpoints.front_door_url}/Patient/{created.json()['id']}")
    assert read.status_code == 200 and read.json()["identifier"][0]["value"] == "v1"
    assert set(endpoints.links) == set(reference_topology(("ehr",)).link_names)


def test_a_blackholed_link_stops_traffic_and_a_healed_one_carries_it_again(
        running: tuple[LocalBackend, Endpoints, Nemesis]) -> None:
    _, endpoints, nemesis = running
    link_url = f"http://{endpoints.links['frontdoor-ehr-b'].listen}/health"
    assert get(link_url).status_code == 200
    cut = plan(BlackholeFault(type="blackhole", target="frontdoor-ehr-b", duration=5, name="bh"))
    nemesis.inject(cut)
    started = time.monotonic()
    with pytest.raises(httpx.TimeoutException):
        get(link_url, timeout=0.5)
    assert time.monotonic() - started >= 0.45
    nemesis.heal(cut)
    assert get(link_url).status_code == 200
    nemesis.heal(cut)  # idempotent


def test_link_down_refuses_and_heal_enables(running: tuple[LocalBackend, Endpoints, Nemesis]) -> None:
    _, endpoints, nemesis = running
    link_url = f"http://{endpoints.links['frontdoor-ehr-b'].listen}/health"
    down = plan(LinkDownFault(type="link_down", target="frontdoor-ehr-b", duration=5, name="down"))
    nemesis.inject(down)
    with pytest.raises(httpx.TransportError):
        get(link_url)
    nemesis.heal(down)
    assert get(link_url).status_code == 200


def test_power_loss_kills_the_site_and_power_back_restarts_it(
        running: tuple[LocalBackend, Endpoints, Nemesis]) -> None:
    backend, endpoints, nemesis = running
    old_pid = backend.supervisor.process("ehr-a").pid
    other_pid = backend.supervisor.process("ehr-b").pid
    cut = plan(PowerLossFault(type="power_loss", target="dc-a", duration=5, name="power"))
    nemesis.inject(cut)
    with pytest.raises(ProcessLookupError):
        os.kill(old_pid, 0)
    assert backend.supervisor.process("ehr-b").alive and backend.supervisor.process("ehr-b").pid == other_pid
    # The front door fails over to dc-b once the standby promotes itself.
    deadline = time.monotonic() + 10
    while True:
        try:
            response = get(f"{endpoints.front_door_url}/primary", timeout=0.5)
            if response.status_code == 200 and response.headers.get("x-served-by") == "ehr-b":
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "front door never routed to ehr-b"
        time.sleep(0.1)
    nemesis.heal(cut)
    new_pid = backend.supervisor.process("ehr-a").pid
    assert new_pid != old_pid and backend.supervisor.process("ehr-a").alive
    # dc-a came back as a standby of the newer epoch: it must not answer the primary check.
    deadline = time.monotonic() + 5
    while get(f"{endpoints.instance_urls['ehr-a']}/health").json()["role"] != "standby":
        assert time.monotonic() < deadline, "old primary did not step down"
        time.sleep(0.1)
    assert get(f"{endpoints.instance_urls['ehr-a']}/primary").status_code == 503


def test_down_leaves_no_process_behind(tmp_path: Path) -> None:
    backend = LocalBackend(reference_topology(("ehr",)), tmp_path, options=FAST)
    backend.up()
    pids = [backend.supervisor.process(n).pid for n in ("toxiproxy", "haproxy", "ehr-a", "ehr-b")]
    backend.down()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_missing_tool_fails_before_anything_starts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HCHAOS_TOXIPROXY_SERVER", str(tmp_path / "no-such-toxiproxy"))
    backend = LocalBackend(reference_topology(("ehr",)), tmp_path, options=FAST)
    with pytest.raises(ToolMissing, match="toxiproxy"):
        backend.up()
    assert not (tmp_path / "logs").exists() or not any((tmp_path / "logs").iterdir())


def test_power_cut_reaches_every_proxy_of_the_site_concurrently(
        running: tuple[LocalBackend, Endpoints, Nemesis]) -> None:
    _, endpoints, nemesis = running
    cut = plan(PowerLossFault(type="power_loss", target="dc-b", duration=5, name="power-b"))
    nemesis.inject(cut)
    from harness.toxiproxy import ToxiproxyClient

    with ToxiproxyClient(endpoints.toxiproxy_url) as client:
        proxies = client.proxies()
        poisoned = {name for name, proxy in proxies.items() if proxy.toxics}
        assert poisoned == {"frontdoor-ehr-b", "repl-ehr-a-b", "repl-ehr-b-a"}
        nemesis.heal(cut)
        assert not any(p.toxics for p in client.proxies().values())


def test_latency_fault_delays_the_link_and_heal_removes_it(running: tuple[LocalBackend, Endpoints, Nemesis]) -> None:
    _, endpoints, nemesis = running
    url = f"http://{endpoints.links['frontdoor-ehr-b'].listen}/health"

    def timed() -> float:
        started = time.perf_counter()
        assert get(url, timeout=3).status_code == 200
        return time.perf_counter() - started

    baseline = min(timed() for _ in range(3))
    slow = plan(LatencyFault(type="latency", target="frontdoor-ehr-b", duration=5, latency=0.3, name="slow"))
    nemesis.inject(slow)
    assert timed() >= 0.3
    nemesis.heal(slow)
    assert min(timed() for _ in range(3)) < baseline + 0.1


def test_bandwidth_fault_throttles_the_link(running: tuple[LocalBackend, Endpoints, Nemesis]) -> None:
    _, endpoints, nemesis = running
    created = httpx.post(f"{endpoints.front_door_url}/Patient", timeout=2,
                         json={"resourceType": "Patient", "name": [{"text": "x" * 3000}]})
    assert created.status_code == 201
    # Sync replication: the standby in dc-b has it; read it there through its link.
    url = f"http://{endpoints.links['frontdoor-ehr-b'].listen}/Patient/{created.json()['id']}"
    size = len(get(url).content)
    assert size > 3000
    narrow = plan(BandwidthFault(type="bandwidth", target="frontdoor-ehr-b", duration=5, rate_kbps=1, name="narrow"))
    nemesis.inject(narrow)
    started = time.perf_counter()
    assert get(url, timeout=10).status_code == 200
    assert time.perf_counter() - started >= 0.5 * size / 1024
    nemesis.heal(narrow)


def test_reset_peer_fault_resets_connections(running: tuple[LocalBackend, Endpoints, Nemesis]) -> None:
    _, endpoints, nemesis = running
    url = f"http://{endpoints.links['frontdoor-ehr-b'].listen}/health"
    reset = plan(ResetPeerFault(type="reset_peer", target="frontdoor-ehr-b", duration=5, name="rst"))
    nemesis.inject(reset)
    with pytest.raises(httpx.TransportError):
        get(url)
    nemesis.heal(reset)
    assert get(url).status_code == 200
