"""The HTTP probers (fhir-r4, http, dicomweb) against our real services, served on loopback.

Each service runs in-thread under uvicorn on a real port (the messaging engine's
:class:`~mock_services.messaging.testing.ServerThread`), so the probers' requests cross a real
socket. The protocol comes from the target, never from its name: the same server probed as two
different protocols gives two different verdicts.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.probe import ProbeTarget
from mock_services.ehr.app import create_app as create_ehr
from mock_services.ehr.config import ConfiguredRole
from mock_services.ehr.testing import make_config as ehr_config
from mock_services.imaging.app import create_app as create_imaging
from mock_services.imaging.config import Role
from mock_services.imaging.testing import make_config as imaging_config
from mock_services.messaging.testing import ServerThread, engine_config, running_engine
from tests.probe.helpers import RunProbe, closed_port


@pytest.fixture
def ehr_url(tmp_path: Path) -> Iterator[str]:
    with ServerThread(create_ehr(ehr_config(tmp_path, "ehr-a", ConfiguredRole.PRIMARY, peer=False))) as server:
        yield server.url


@pytest.fixture
def pacs_url(tmp_path: Path) -> Iterator[str]:
    with ServerThread(create_imaging(imaging_config(tmp_path, "pacs-a", Role.ARCHIVE))) as server:
        yield server.url


def test_fhir_probe_creates_reads_and_searches_patients_at_the_ehr(run_probe: RunProbe, ehr_url: str) -> None:
    records = run_probe(ProbeTarget("records", "fhir-r4", base_url=ehr_url), seconds=1.0,
                        mix={"create": 1, "read": 1, "search": 1})
    ok = collections.Counter(r.operation for r in records if r.ok)
    assert set(ok) == {"create", "read", "search"} and all(r.ok for r in records), [r.error for r in records]
    creates = [r for r in records if r.operation == "create"]
    assert all(r.write_key and r.write_key.startswith("Patient?identifier=urn:hchaos:probe|probe-test-")
               for r in creates)
    assert all(r.resource_id and r.resource_id.startswith("Patient/") and r.version == "1" for r in creates)
    assert all(r.accepted_by and r.accepted_by.startswith("ehr-a#") for r in creates)
    assert {(r.served_by, r.datacenter, r.status) for r in creates} == {("ehr-a", "dc-a", 201)}


def test_http_probe_gets_the_declared_path_and_judges_it_by_ok_status(run_probe: RunProbe, tmp_path: Path) -> None:
    with running_engine(engine_config(tmp_path)) as engine:
        health = run_probe(ProbeTarget("interface-engine", "http", base_url=engine.http_url, path="/health"))
        missing = run_probe(ProbeTarget("interface-engine", "http", base_url=engine.http_url, path="/nowhere"))
        expected_404 = run_probe(ProbeTarget("interface-engine", "http", base_url=engine.http_url, path="/nowhere",
                                             ok_status=(404,)))
    assert len(health) > 5 and all(r.ok and r.status == 200 and r.operation == "read" for r in health)
    assert {(r.served_by, r.datacenter) for r in health} == {("msg-a", "dc-a")}
    assert all(not r.ok and r.status == 404 and r.error == "http-404" for r in missing)
    assert all(r.ok and r.error is None for r in expected_404)


def test_dicomweb_probe_searches_studies_at_the_archive(run_probe: RunProbe, pacs_url: str) -> None:
    records = run_probe(ProbeTarget("pacs", "dicomweb", base_url=pacs_url))
    assert len(records) > 5
    assert all(r.ok and r.operation == "search" and r.status in (200, 204) and r.error is None for r in records)
    assert {(r.served_by, r.datacenter) for r in records} == {("pacs-a", "dc-a")}
    assert all(r.write_key is None for r in records)  # a search writes nothing for the ledger


def test_a_probe_speaks_the_targets_protocol_not_the_server_it_reaches(run_probe: RunProbe, ehr_url: str) -> None:
    """The EHR probed as a DICOMweb service is not available as one: its /studies is a 404."""
    records = run_probe(ProbeTarget("imaging", "dicomweb", base_url=ehr_url))
    assert records and all(not r.ok and r.error == "http-404" and r.operation == "search" for r in records)


def test_http_probers_record_a_refused_connection(run_probe: RunProbe) -> None:
    closed = f"http://127.0.0.1:{closed_port()}"
    for protocol in ("fhir-r4", "http", "dicomweb"):
        records = run_probe(ProbeTarget("gone", protocol, base_url=closed), seconds=0.3, mix={"create": 1})
        assert all(not r.ok and r.error == "connect" and r.status is None for r in records), protocol
        assert all(r.served_by is None and r.datacenter is None for r in records)
