"""The read-back finds each service's writes where the topology says they live, by capability:
a user's ``fhir-r4`` service at its own front door + ``base_path``; an ``hl7v2-mllp`` engine's
results in its first ``fhir-r4`` dependency; DICOM at the ``dicomweb`` service itself. Against
real HTTP servers (in-process, on loopback) standing in for the FHIR server and the PACS, and
the EHR's front door, which must not be asked anything; then the run folder re-judged."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from harness.backends import Endpoints, LinkEndpoint
from harness.backends.local import LocalBackend
from harness.checks import judge, judge_data
from harness.checks.rundata import RunData
from harness.experiment import Experiment, load_experiment
from harness.interrupt import Interruption
from harness.readback import READBACK_FILE, KeyBases, key_bases, read_back, read_readback
from harness.runner.collectors import Collecting, collect
from harness.runner.observer import SilentObserver
from harness.runner.planning import plan_faults
from harness.runner.targets import topology_for
from harness.timeline import TIMELINE_FILE, RequestRecord, TimelineWriter
from harness.timeline.store import load_run_timeline
from harness.topology import Topology
from mock_services.common.testing import ServerThread

TOPOLOGY = """
topology:
  services:
    - ehr
    - scheduling
    - name: my-fhir
      command: [python3, -m, http.server, "{port}"]
      speaks: [fhir-r4]
      base_path: /fhir
      instances: [{name: fhir-a, site: dc-a, role: active}]
      front_door: {mode: active-backup}
    - name: my-engine
      command: [python3, -m, http.server, "{port}"]
      speaks: [hl7v2-mllp]
      ports: {mllp: auto}
      instances: [{name: engine-a, site: dc-a, role: active}]
      clients: direct
      depends_on: [scheduling, my-fhir, ehr]
    - name: my-pacs
      command: [python3, -m, http.server, "{port}"]
      speaks: [dicomweb]
      base_path: /dicom-web
      instances: [{name: pacs-a, site: dc-a, role: active}]
      front_door: {mode: active-backup}
    - name: clinic-fhir
      command: [python3, -m, http.server, "{port}"]
      speaks: [fhir-r4]
      base_path: /r4
      instances: [{name: clinic-a, site: dc-a, role: active}]
      clients: direct
probe: {service: my-fhir}
checks:
  - {type: ledger, name: fhir-ledger, service: my-fhir}
  - {type: ledger, name: engine-ledger, service: my-engine}
  - {type: ledger, name: pacs-ledger, service: my-pacs}
"""

SYSTEM = "urn:test"
SOP = "00080018"


@dataclass
class FakeServer:
    """Answers FHIR searches under ``/fhir`` and QIDO-RS under ``/dicom-web`` from what it holds;
    404 anywhere else. Records every path asked."""

    fhir: dict[str, dict[str, str]] = field(default_factory=dict)
    """resource type -> identifier value -> id."""
    dicom: set[str] = field(default_factory=set)
    asked: list[str] = field(default_factory=list)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{path:path}", self.answer)])

    async def answer(self, request: Request) -> Response:
        self.asked.append(request.url.path + "?" + request.url.query)
        path = request.url.path
        if path.startswith("/fhir/"):
            kind = path.removeprefix("/fhir/")
            value = request.query_params["identifier"].partition("|")[2]
            ids = [self.fhir[kind][value]] if value in self.fhir.get(kind, {}) else []
            return JSONResponse({"resourceType": "Bundle", "entry": [
                {"resource": {"resourceType": kind, "id": i, "meta": {"versionId": "1"}}} for i in ids]})
        if path == "/dicom-web/instances":
            uid = request.query_params["SOPInstanceUID"]
            if uid not in self.dicom:
                return Response(status_code=204)
            return JSONResponse([{SOP: {"vr": "UI", "Value": [uid]}}], media_type="application/dicom+json")
        return Response(status_code=404)


@pytest.fixture
def topology(experiment_file: Callable[..., Path]) -> Topology:
    loaded = load_experiment(experiment_file(TOPOLOGY))
    plan_faults(loaded)  # validates: the ledger applies to each of these services
    return topology_for(loaded.experiment)


@pytest.fixture
def experiment(experiment_file: Callable[..., Path]) -> Experiment:
    return load_experiment(experiment_file(TOPOLOGY, name="judged")).experiment


@pytest.fixture
def servers() -> Iterator[tuple[FakeServer, FakeServer, ServerThread, ServerThread, ServerThread]]:
    fhir, ehr = FakeServer(), FakeServer()
    with ServerThread(fhir.app(), lifespan="off") as fhir_thread, \
            ServerThread(fhir.app(), lifespan="off") as pacs_thread, \
            ServerThread(ehr.app(), lifespan="off") as ehr_thread:
        yield fhir, ehr, fhir_thread, pacs_thread, ehr_thread


def _endpoints(fhir_url: str, pacs_url: str, ehr_url: str) -> Endpoints:
    return Endpoints(front_door_urls={"my-fhir": fhir_url, "my-pacs": pacs_url, "ehr": ehr_url,
                                      "scheduling": "http://127.0.0.1:9"},
                     toxiproxy_url="http://127.0.0.1:8474", instance_urls={},
                     links={"campus-clinic-a": LinkEndpoint("campus-clinic-a", "127.0.0.1", 9300, "127.0.0.1", 9301)})


def test_bases_follow_capabilities_not_names(topology: Topology) -> None:
    endpoints = _endpoints("http://127.0.0.1:9001", "http://127.0.0.1:9002/", "http://127.0.0.1:9003")
    assert key_bases(topology, endpoints, "my-fhir") == KeyBases("http://127.0.0.1:9001/fhir", None, "my-fhir")
    # The engine's first dependency that speaks fhir-r4 (not scheduling, listed first; not the EHR).
    assert key_bases(topology, endpoints, "my-engine").fhir == "http://127.0.0.1:9001/fhir"
    pacs = key_bases(topology, endpoints, "my-pacs")
    assert (pacs.fhir, pacs.dicom, pacs.dicom_holder) == (None, "http://127.0.0.1:9002/dicom-web", "my-pacs")
    assert key_bases(topology, endpoints, "ehr").fhir == "http://127.0.0.1:9003"
    # No front-door route: through its campus link, as its clients reach it.
    assert key_bases(topology, endpoints, "clinic-fhir").fhir == "http://127.0.0.1:9300/r4"
    assert key_bases(topology, endpoints, "scheduling") == KeyBases()
    assert pacs.base_for("dicom:instances?SOPInstanceUID=1.2") == pacs.dicom
    assert pacs.base_for("Patient?identifier=a|b") is None


def test_read_back_asks_the_service_that_holds_each_key(topology: Topology, servers: Any) -> None:
    fhir, ehr, fhir_thread, pacs_thread, ehr_thread = servers
    fhir.fhir["Patient"] = {"v1": "p1"}
    bases = key_bases(topology, _endpoints(fhir_thread.url, pacs_thread.url, ehr_thread.url), "my-fhir")
    [found, missing] = read_back(bases.base_for, [f"Patient?identifier={SYSTEM}|v1", f"Patient?identifier={SYSTEM}|v2"])
    assert [f.id for f in found.found] == ["p1"] and found.error is None
    assert missing.found == () and missing.error is None  # read, nothing there: lost, not indeterminate
    assert [a.partition("?")[0] for a in fhir.asked] == ["/fhir/Patient", "/fhir/Patient"]
    assert ehr.asked == []


def test_a_key_nothing_holds_is_indeterminate_and_asks_nobody(servers: Any) -> None:
    fhir = servers[0]
    [result] = read_back(KeyBases(dicom=servers[3].url).base_for, ["Patient?identifier=a|b"])
    assert result.error == "no fhir-r4 service to read it back from" and result.found == ()
    assert fhir.asked == []


def test_the_readback_collector_judges_every_ledger_at_its_own_service(
        topology: Topology, experiment: Experiment, servers: Any, tmp_path: Path) -> None:
    fhir, ehr, fhir_thread, pacs_thread, ehr_thread = servers
    fhir.fhir["Patient"] = {"kept": "p1"}  # "lost" was acknowledged and is not there
    fhir.fhir["DiagnosticReport"] = {"m1": "r1"}
    fhir.dicom.add("1.2.3")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    timeline = TimelineWriter(run_dir / TIMELINE_FILE)
    for t, (service, key, ids) in enumerate([
            ("my-fhir", f"Patient?identifier={SYSTEM}|kept", {"resource_id": "Patient/p1"}),
            ("my-fhir", f"Patient?identifier={SYSTEM}|lost", {"resource_id": "Patient/p2"}),
            ("my-engine", f"DiagnosticReport?identifier={SYSTEM}|m1", {"message_id": "m1"}),
            ("my-pacs", "dicom:instances?SOPInstanceUID=1.2.3", {"instance_uid": "1.2.3"})]):
        timeline.append(RequestRecord(float(t), 0.01, "probe", service, "create", True, write_key=key, **ids))
    backend = cast(LocalBackend, _FakeBackend(topology, _endpoints(fhir_thread.url, pacs_thread.url, ehr_thread.url)))
    ran = collect(Collecting(backend, run_dir, timeline, SilentObserver(), Interruption(), experiment.checks))
    timeline.close()
    assert ran == ("readback",)
    assert ehr.asked == []
    verdicts = {v.check: v for v in judge_data(experiment, RunData.load(run_dir))}
    assert verdicts["fhir-ledger"].outcome.value == "fail"
    assert [e["resource_id"] for e in verdicts["fhir-ledger"].evidence["lost"]] == ["Patient/p2"]
    assert verdicts["engine-ledger"].outcome.value == "pass", verdicts["engine-ledger"]
    assert verdicts["pacs-ledger"].outcome.value == "pass", verdicts["pacs-ledger"]
    # Offline re-judging: the same verdicts from the read-back file and the records.
    readback = read_readback(run_dir / READBACK_FILE)
    assert readback is not None and len(readback) == 4
    rejudged = judge(experiment, load_run_timeline(run_dir).events + _records(run_dir), readback)
    assert [v.to_json() for v in rejudged] == [v.to_json() for v in verdicts.values()]
    assert json.loads((run_dir / READBACK_FILE).read_text().splitlines()[0])["found"][0]["id"] == "p1"


def _records(run_dir: Path) -> list[RequestRecord]:
    rows = load_run_timeline(run_dir).requests.collect().to_dicts()
    names = RequestRecord.__dataclass_fields__
    return [RequestRecord(**{k: v for k, v in row.items() if k in names and v is not None}) for row in rows]


@dataclass
class _FakeBackend:
    """What the collectors read of a backend: its topology and its endpoints."""

    topology: Topology
    endpoints: Endpoints
