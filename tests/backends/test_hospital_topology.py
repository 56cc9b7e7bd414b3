"""The whole reference hospital on the local backend: every service reachable the way its
clients reach it, and a data-center power loss that each service survives (or not) as
designed. Drives the real Toxiproxy, HAProxy and service processes."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.backends import DataOptions, EhrOptions, Endpoints, ServiceOptions
from harness.backends.local import LocalBackend, LocalOptions
from harness.experiment import PowerLossFault
from harness.faults import Nemesis, plan_fault
from harness.run.journal import Journal
from harness.topology import reference_topology
from mock_services.messaging.samples import oru
from mock_services.messaging.sender import MllpSender

pytestmark = pytest.mark.integration

OPTIONS = LocalOptions(services=ServiceOptions(
    data=DataOptions(seed=7, patients=30), ehr=EhrOptions(promote_after=1.0, heartbeat_interval=0.1)))
MRN_SYSTEM = "urn:oid:1.2.250.1.213.1.4.8"


@pytest.fixture
def hospital(tmp_path: Path) -> Iterator[tuple[LocalBackend, Endpoints, Nemesis]]:
    journal = Journal(tmp_path, "hospital")
    backend = LocalBackend(reference_topology(), tmp_path, options=OPTIONS, journal=journal)
    endpoints = backend.up()
    nemesis = Nemesis(endpoints, backend, journal)
    try:
        yield backend, endpoints, nemesis
    finally:
        nemesis.heal_all()
        nemesis.close()
        backend.down()
        journal.close()


def eventually(probe: Callable[[], Any], what: str, timeout: float = 10.0) -> Any:
    """Poll ``probe`` until it returns a truthy value (exceptions count as not yet)."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            result = probe()
            if result:
                return result
            last = result
        except (httpx.HTTPError, OSError, KeyError, ValueError) as exc:
            last = exc
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def served_by(url: str, expected: str) -> bool:
    response = httpx.get(url, timeout=2)
    return response.status_code == 200 and response.headers.get("x-served-by") == expected


def lab_observations(fd_ehr: str) -> int:
    bundle = httpx.get(f"{fd_ehr}/Observation", params={"patient": "p000001", "category": "laboratory",
                                                          "_count": "500"}, timeout=2).json()
    return int(bundle["total"])


def test_every_service_answers_through_its_front_door_and_hl7_reaches_the_ehr(
        hospital: tuple[LocalBackend, Endpoints, Nemesis]) -> None:
    _, endpoints, _ = hospital
    fd = endpoints.front_door_urls
    patients = httpx.get(f"{fd['ehr']}/Patient", params={"identifier": f"{MRN_SYSTEM}|MRN00000001"}, timeout=2)
    assert patients.status_code == 200 and patients.json()["total"] == 1
    studies = httpx.get(f"{fd['imaging']}/studies", timeout=2)
    assert studies.status_code == 200 and len(studies.json()) > 0
    assert studies.headers["x-served-by"] == "pacs-a"
    results = httpx.get(f"{fd['labs']}/patients/p000001/results", timeout=5)
    assert results.status_code == 200, results.text
    schedules = httpx.get(f"{fd['scheduling']}/schedules", timeout=2)
    assert schedules.status_code == 200 and schedules.json()

    before = lab_observations(fd["ehr"])
    with MllpSender(endpoints.mllp["msg-a"], endpoints.mllp["msg-b"], timeout=5) as sender:
        ack = sender.send(oru("HOSP-1", mrn="MRN00000001"))
    assert ack.accepted and ack.endpoint == "primary"
    eventually(lambda: lab_observations(fd["ehr"]) > before, "the ORU's results in the EHR")


def test_dc_a_power_loss_each_service_fails_over_or_goes_down_as_designed(
        hospital: tuple[LocalBackend, Endpoints, Nemesis]) -> None:
    _, endpoints, nemesis = hospital
    fd = endpoints.front_door_urls
    topology = reference_topology()
    cut = plan_fault(PowerLossFault(type="power_loss", target="dc-a", duration=30, name="cut"), "cut", topology)
    nemesis.inject(cut)

    eventually(lambda: served_by(f"{fd['ehr']}/primary", "ehr-b"), "the EHR to fail over to dc-b")
    eventually(lambda: served_by(f"{fd['imaging']}/studies", "pacs-b"), "imaging reads from the replica")
    eventually(lambda: served_by(f"{fd['labs']}/patients/p000001/results", "labs-b"), "labs from dc-b")
    # Scheduling lives in dc-a only: down, on purpose (it came back last at AP-HP).
    eventually(lambda: httpx.get(f"{fd['scheduling']}/schedules", timeout=2).status_code == 503,
               "scheduling to be unavailable")
    with MllpSender(endpoints.mllp["msg-a"], endpoints.mllp["msg-b"], timeout=1) as sender:
        ack = sender.send(oru("HOSP-2", mrn="MRN00000001"))
    assert ack.accepted and ack.endpoint == "backup"

    nemesis.heal(cut)
    eventually(lambda: httpx.get(f"{fd['scheduling']}/schedules", timeout=2).status_code == 200,
               "scheduling back after power returns")
    eventually(lambda: served_by(f"{fd['imaging']}/studies", "pacs-a"), "imaging back on the archive")
    # The old EHR primary rejoined as a standby: dc-b stays primary.
    assert served_by(f"{fd['ehr']}/primary", "ehr-b")


def test_with_fencing_the_backend_runs_a_witness_and_failover_waits_for_the_lease(tmp_path: Path) -> None:
    options = LocalOptions(services=ServiceOptions(
        ehr=EhrOptions(promote_after=1.0, heartbeat_interval=0.1, fencing=True, lease_ttl=1.5)))
    topology = reference_topology(("ehr",), witness=True)
    journal = Journal(tmp_path, "fenced")
    backend = LocalBackend(topology, tmp_path, options=options, journal=journal)
    endpoints = backend.up()
    nemesis = Nemesis(endpoints, backend, journal)
    try:
        witness = endpoints.instance_urls["witness"]
        lease = eventually(lambda: httpx.get(f"{witness}/lease/ehr", timeout=2).json(), "a lease on the witness")
        assert "ehr-a" in str(lease)
        cut = plan_fault(PowerLossFault(type="power_loss", target="dc-a", duration=30, name="cut"), "cut", topology)
        nemesis.inject(cut)
        eventually(lambda: served_by(f"{endpoints.front_door_url}/primary", "ehr-b"), "failover under fencing")
        assert "ehr-b" in str(httpx.get(f"{witness}/lease/ehr", timeout=2).json())
        nemesis.heal(cut)
        # The old primary comes back fenced: it must not answer the primary check.
        eventually(lambda: httpx.get(f"{endpoints.instance_urls['ehr-a']}/health", timeout=2).json()["role"]
                   == "standby", "ehr-a to rejoin as standby")
        assert httpx.get(f"{endpoints.instance_urls['ehr-a']}/primary", timeout=2).status_code == 503
    finally:
        nemesis.heal_all()
        nemesis.close()
        backend.down()
        journal.close()
