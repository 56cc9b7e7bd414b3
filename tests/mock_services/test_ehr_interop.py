"""Independent FHIR clients against a real EHR process loaded with 20 synthetic patients.

* ``fhir.resources`` (R4B models) parses every resource type the EHR returns: reads,
  every search Bundle, the CapabilityStatement and an OperationOutcome;
* ``fhirpy`` (``SyncFHIRClient``) runs US Core's mandatory searches and a create;
* ``fhirclient`` (SMART on FHIR's Python client) reads a Patient and searches.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fhir.resources.R4B import get_fhir_model_class

from mock_services.ehr.testing_processes import Cluster, ServiceProcess, free_port, wait_until
from mock_services.synthetic import MRN_SYSTEM

pytestmark = pytest.mark.integration
PATIENTS = 20

# (resource type, search parameters) -- one per US Core mandatory search, on patient 1..
SEARCHES: list[tuple[str, dict[str, str]]] = [
    ("Patient", {"_id": "p000001"}),
    ("Patient", {"identifier": f"{MRN_SYSTEM}|MRN00000002"}),
    ("Patient", {"name": "a"}),
    ("Encounter", {"patient": "p000001"}),
    ("Encounter", {"patient": "Patient/p000001", "date": "ge2020-01-01"}),
    ("Observation", {"patient": "p000001", "category": "vital-signs"}),
    ("Observation", {"patient": "p000001", "category": "laboratory", "date": "le2024-08-03"}),
    ("Observation", {"patient": "p000001", "code": "http://loinc.org|8867-4"}),
    ("MedicationRequest", {"patient": "p000001", "intent": "order"}),
    ("DiagnosticReport", {"patient": "p000001", "category": "LAB"}),
    ("AllergyIntolerance", {"patient": "{allergic}"}),  # a patient with an allergy, found at start
]


@pytest.fixture(scope="module")
def ehr(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    tmp_path = tmp_path_factory.mktemp("interop")
    with httpx.Client(timeout=5.0, trust_env=False) as http:
        cluster = Cluster(tmp_path, http)
        try:
            process = cluster.spawn("ehr-a", "primary", free_port(), None, "--patients", str(PATIENTS))
            cluster.wait_healthy(process, timeout=30.0)
            yield process
        finally:
            cluster.close()


@pytest.fixture(scope="module")
def searches(ehr: ServiceProcess) -> list[tuple[str, dict[str, str]]]:
    """SEARCHES with ``{allergic}`` replaced by a patient the synthetic data gave an allergy."""
    with httpx.Client(base_url=ehr.url, trust_env=False, timeout=5.0) as http:
        allergy = http.get("/AllergyIntolerance", params={"_count": "1"}).json()["entry"][0]["resource"]
    allergic = allergy["patient"]["reference"]
    return [(t, {k: v.replace("{allergic}", allergic) for k, v in params.items()}) for t, params in SEARCHES]


def _parse(document: dict[str, Any]) -> Any:
    """Validate with the fhir.resources R4B model of the document's resourceType."""
    return get_fhir_model_class(document["resourceType"]).model_validate(document)


def test_fhir_resources_parses_every_resource_and_bundle(
    ehr: ServiceProcess, searches: list[tuple[str, dict[str, str]]]
) -> None:
    seen_types: set[str] = set()
    with httpx.Client(base_url=ehr.url, trust_env=False, timeout=5.0) as http:
        for resource_type, params in searches:
            response = http.get(f"/{resource_type}", params=params)
            assert response.status_code == 200, response.text
            bundle = _parse(response.json())
            assert bundle.type == "searchset" and bundle.total >= 1, (resource_type, params)
            for entry in bundle.entry:
                assert entry.resource.__resource_type__ == resource_type
                read = http.get(f"/{resource_type}/{entry.resource.id}")
                assert _parse(read.json()).id == entry.resource.id
                seen_types.add(resource_type)
        _parse(http.get("/metadata").json())
        outcome = _parse(http.get("/Observation", params={"colour": "red"}).json())
        assert "colour" in outcome.issue[0].diagnostics
        openapi = http.get("/openapi.json").json()
    assert seen_types == {t for t, _ in SEARCHES}
    assert {f"/{t}" for t in seen_types} <= set(openapi["paths"])


def test_fhirpy_searches_and_creates(ehr: ServiceProcess, searches: list[tuple[str, dict[str, str]]]) -> None:
    from fhirpy import SyncFHIRClient

    client = SyncFHIRClient(ehr.url)
    for resource_type, params in searches:
        found = client.resources(resource_type).search(**params).fetch()
        assert found, (resource_type, params)
        assert all(resource.resource_type == resource_type for resource in found)
    # fetch_all follows our next links (pages of 5).
    labs = client.resources("Observation").search(category="laboratory").limit(5).fetch_all()
    assert len(labs) == client.resources("Observation").search(category="laboratory").count() > 5
    assert len({lab.id for lab in labs}) == len(labs)

    patient = client.resource("Patient", name=[{"family": "Interop", "given": ["Fhirpy"]}], gender="other")
    patient.save()
    assert patient.id and patient.meta.versionId == "1"
    again = client.resources("Patient").search(name="interop").fetch()
    assert [p.id for p in again] == [patient.id]


def test_fhirclient_reads_a_patient(ehr: ServiceProcess) -> None:
    from fhirclient import client as smart_client
    from fhirclient.models import patient as smart_patient

    smart = smart_client.FHIRClient(settings={"app_id": "interop-test", "api_base": ehr.url + "/"})
    patient = smart_patient.Patient.read("p000001", smart.server)
    assert patient.id == "p000001"
    assert patient.identifier[0].system == MRN_SYSTEM and patient.identifier[0].value == "MRN00000001"
    search = smart_patient.Patient.where(struct={"identifier": f"{MRN_SYSTEM}|MRN00000001"})
    pages = list(search.perform_iter(smart.server))
    assert [entry.resource.id for page in pages for entry in page.entry] == ["p000001"]


def test_base_snapshot_load_is_reported_and_served(ehr: ServiceProcess) -> None:
    log = ehr.log.read_text()
    assert "event=base-load-done" in log and f"patients={PATIENTS}" in log
    with httpx.Client(base_url=ehr.url, trust_env=False, timeout=5.0) as http:
        wait_until(lambda: http.get("/primary").status_code == 200, 5.0, "primary")
        total = http.get("/Patient", params={"_summary": "count"}).json()["total"]
        status = http.get("/_replication/status").json()
    assert total >= PATIENTS and status["base"] == f"synthetic seed=2024 patients={PATIENTS}"
