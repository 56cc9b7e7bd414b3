"""Writes on one in-process EHR: create per type, validation, conditional create, update, vread."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mock_services.ehr.app import create_app
from mock_services.ehr.config import ConfiguredRole
from mock_services.ehr.testing import FakeDataset, make_config, serving

pytestmark = pytest.mark.anyio
Client = httpx.AsyncClient
SUBJECT = {"reference": "Patient/p000001"}
LOINC = "http://loinc.org"
VALID: dict[str, dict[str, Any]] = {
    "Patient": {"resourceType": "Patient", "name": [{"family": "Martin", "given": ["Léa"]}], "birthDate": "1990-02-03"},
    "Encounter": {
        "resourceType": "Encounter",
        "status": "in-progress",
        "class": {"code": "EMER"},
        "subject": SUBJECT,
        "period": {"start": "2024-08-03T10:00:00Z"},
    },
    "Observation": {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"code": "vital-signs"}]}],
        "code": {"coding": [{"system": LOINC, "code": "8867-4"}]},
        "subject": SUBJECT,
        "effectiveDateTime": "2024-08-03T10:05:00+02:00",
    },
    "MedicationRequest": {
        "resourceType": "MedicationRequest",
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": {"text": "Amoxicilline 1 g"},
        "subject": SUBJECT,
    },
    "DiagnosticReport": {
        "resourceType": "DiagnosticReport",
        "status": "final",
        "category": [{"coding": [{"code": "LAB"}]}],
        "code": {"coding": [{"system": LOINC, "code": "58410-2"}]},
        "subject": SUBJECT,
    },
    "AllergyIntolerance": {"resourceType": "AllergyIntolerance", "patient": SUBJECT, "criticality": "high"},
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def ehr(tmp_path: Path) -> AsyncIterator[Client]:
    config = make_config(tmp_path, "ehr-a", ConfiguredRole.PRIMARY, peer=False, patients=2)
    async with serving(create_app(config, dataset=FakeDataset(2))) as client:
        yield client


def _diagnostics(response: httpx.Response) -> str:
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    diagnostics: str = body["issue"][0]["diagnostics"]
    return diagnostics


@pytest.mark.parametrize("resource_type", list(VALID))
async def test_create_read_and_search_every_type(ehr: Client, resource_type: str) -> None:
    created = await ehr.post(f"/{resource_type}", json=VALID[resource_type])

    assert created.status_code == 201, created.text
    body = created.json()
    assert body["resourceType"] == resource_type and body["meta"]["versionId"] == "1"
    assert body["meta"]["source"] == "ehr-a#1"  # who accepted it, in which epoch
    assert created.headers["location"] == f"http://ehr.test/{resource_type}/{body['id']}/_history/1"
    assert created.headers["x-epoch"] == "1" and created.headers["etag"] == 'W/"1"'
    read = await ehr.get(f"/{resource_type}/{body['id']}")
    assert read.json() == body and "last-modified" in read.headers
    found = await ehr.get(f"/{resource_type}", params={"_id": body["id"]})
    assert found.json()["total"] == 1


@pytest.mark.parametrize(
    ("resource_type", "change", "diagnostic"),
    [
        ("Observation", {"status": None}, "Observation.status: missing required element"),
        ("Observation", {"code": None}, "Observation.code: missing required element"),
        ("Observation", {"status": "done"}, "Observation.status: 'done' is not one of registered|"),
        ("Observation", {"category": [{"coding": [{"code": 5}]}]}, "Observation.category[0].coding[0].code: expected"),
        ("Observation", {"effectiveDateTime": "yesterday"}, "Observation.effectiveDateTime: 'yesterday' is not"),
        ("Encounter", {"class": None}, "Encounter.class: missing required element"),
        ("Encounter", {"period": {"start": 2024}}, "Encounter.period.start: expected a string"),
        ("MedicationRequest", {"intent": None}, "MedicationRequest.intent: missing required element"),
        ("MedicationRequest", {"medicationCodeableConcept": None}, "exactly one of medicationCodeableConcept"),
        ("MedicationRequest", {"subject": "Patient/p1"}, "MedicationRequest.subject: expected a JSON object"),
        ("DiagnosticReport", {"status": None}, "DiagnosticReport.status: missing required element"),
        ("AllergyIntolerance", {"patient": None}, "AllergyIntolerance.patient: missing required element"),
        ("Patient", {"birthDate": "03/02/1990"}, "Patient.birthDate: '03/02/1990' is not a FHIR date"),
        ("Patient", {"identifier": [{"value": 7}]}, "Patient.identifier[0].value: expected a string"),
        ("Patient", {"id": "not valid!"}, "Patient.id: 'not valid!' is not a FHIR id"),
        ("Patient", {"resourceType": "Foo"}, "resourceType 'Foo' is not supported (expected 'Patient')"),
    ],
)
async def test_invalid_resources_are_400_naming_the_element(
    ehr: Client, resource_type: str, change: dict[str, object], diagnostic: str
) -> None:
    resource = copy.deepcopy(VALID[resource_type])
    for key, value in change.items():
        if value is None:
            resource.pop(key)
        else:
            resource[key] = value
    response = await ehr.post(f"/{resource_type}", json=resource)
    assert response.status_code == 400
    assert diagnostic in _diagnostics(response)
    assert (await ehr.get("/health")).json()["lsn"] == 0  # nothing written


async def test_conditional_create_creates_once_then_returns_the_match(ehr: Client) -> None:
    patient = {"resourceType": "Patient", "identifier": [{"system": "urn:downtime", "value": "DT-0001"}]}
    condition = {"If-None-Exist": "identifier=urn:downtime|DT-0001"}

    first = await ehr.post("/Patient", json=patient, headers=condition)
    again = await ehr.post("/Patient", json=patient, headers=condition)

    assert first.status_code == 201 and again.status_code == 200
    assert again.json() == first.json()
    assert (await ehr.get("/health")).json()["lsn"] == 1  # the second did not write
    await ehr.post("/Patient", json=patient)  # an unconditional duplicate
    ambiguous = await ehr.post("/Patient", json=patient, headers=condition)
    assert ambiguous.status_code == 412 and "matches 2 Patient" in _diagnostics(ambiguous)
    bad = await ehr.post("/Patient", json=patient, headers={"If-None-Exist": "colour=red"})
    assert bad.status_code == 400 and "If-None-Exist: unknown search parameter 'colour'" in _diagnostics(bad)


async def test_update_makes_versions_and_honours_if_match(ehr: Client) -> None:
    created = (await ehr.post("/Patient", json=VALID["Patient"])).json()
    changed = {**created, "gender": "female"}

    updated = await ehr.put(f"/Patient/{created['id']}", json=changed, headers={"If-Match": 'W/"1"'})
    stale = await ehr.put(f"/Patient/{created['id']}", json=changed, headers={"If-Match": 'W/"1"'})
    mismatched = await ehr.put("/Patient/other-id", json=changed)

    assert updated.status_code == 200 and updated.json()["meta"]["versionId"] == "2"
    assert updated.headers["etag"] == 'W/"2"'
    assert stale.status_code == 412 and "there is version 2" in _diagnostics(stale)
    assert mismatched.status_code == 400 and "Patient.id" in _diagnostics(mismatched)
    assert (await ehr.get(f"/Patient/{created['id']}/_history/1")).json() == created
    assert (await ehr.get(f"/Patient/{created['id']}")).json()["gender"] == "female"
    assert (await ehr.get(f"/Patient/{created['id']}/_history/3")).status_code == 404
    upsert = await ehr.put("/Patient/client-id-1", json={**VALID["Patient"], "id": "client-id-1"})
    assert upsert.status_code == 201 and upsert.json()["meta"]["versionId"] == "1"


async def test_updating_a_base_resource_keeps_its_base_version_and_reindexes(ehr: Client) -> None:
    base = (await ehr.get("/Patient/p000001")).json()
    renamed = {**base, "name": [{"family": "Nouveau", "given": ["Nom"]}]}

    response = await ehr.put("/Patient/p000001", json=renamed)

    assert response.status_code == 200 and response.json()["meta"]["versionId"] == "2"
    assert (await ehr.get("/Patient/p000001/_history/1")).json() == base
    assert [e["resource"]["id"] for e in (await ehr.get("/Patient?name=nouveau")).json()["entry"]] == ["p000001"]
    assert (await ehr.get("/Patient?name=family1")).json()["total"] == 0  # the old name is no longer indexed


async def test_body_must_be_a_json_object_of_the_url_type(ehr: Client) -> None:
    not_json = await ehr.post("/Observation", content=b"{nope", headers={"Content-Type": "application/fhir+json"})
    a_list = await ehr.post("/Observation", json=[VALID["Observation"]])
    wrong_type = await ehr.post("/Observation", json=VALID["Encounter"])

    assert not_json.status_code == 400 and "not valid JSON" in _diagnostics(not_json)
    assert a_list.status_code == 400 and "got a list" in _diagnostics(a_list)
    assert wrong_type.status_code == 400 and "expected resourceType 'Observation'" in _diagnostics(wrong_type)


async def test_conditional_create_by_identifier_works_for_clinical_resources(ehr: Client) -> None:
    """What the HL7 engine does: every result carries a message-derived identifier."""
    observation = {**VALID["Observation"], "identifier": [{"system": "urn:hchaos:hl7:msh-10", "value": "MSG-1-1"}]}
    condition = {"If-None-Exist": "identifier=urn:hchaos:hl7:msh-10|MSG-1-1"}

    first = await ehr.post("/Observation", json=observation, headers=condition)
    retry = await ehr.post("/Observation", json=observation, headers=condition)

    assert (first.status_code, retry.status_code) == (201, 200)
    assert retry.json()["id"] == first.json()["id"]
    found = await ehr.get("/Observation", params={"identifier": "MSG-1-1"})
    assert [e["resource"]["id"] for e in found.json()["entry"]] == [first.json()["id"]]


@pytest.mark.parametrize(
    "condition",
    ["", "   ", "?", "_count=1", "_summary=count&_count=0", "family=", "family=&_count=1", "identifier=", "_id="],
)
async def test_conditional_create_without_criteria_is_400_and_never_returns_another_patient(
    tmp_path: Path, condition: str
) -> None:
    """An If-None-Exist with no real criterion matches *every* Patient: with one stored, the
    server answered 200 with that other patient and created nothing (a write acknowledged but not
    stored, and a patient mix-up). It must be refused, saying why."""
    config = make_config(tmp_path, "ehr-a", ConfiguredRole.PRIMARY, peer=False, patients=1)
    async with serving(create_app(config, dataset=FakeDataset(1))) as ehr:
        new_patient = {"resourceType": "Patient", "name": [{"family": "Nouvelle", "given": ["Arrivée"]}]}

        response = await ehr.post("/Patient", json=new_patient, headers={"If-None-Exist": condition})

        assert response.status_code == 400, response.text
        assert "If-None-Exist" in _diagnostics(response) and "no search criteria" in _diagnostics(response)
        assert (await ehr.get("/health")).json()["lsn"] == 0  # nothing written
        assert (await ehr.get("/Patient", params={"family": "Nouvelle"})).json()["total"] == 0


async def test_conditional_create_with_a_value_that_normalizes_to_nothing_is_400(ehr: Client) -> None:
    """A lone combining accent is a non-empty value whose searchable form is empty: as a string
    prefix it would match every name (the same 'criteria match everything' mix-up)."""
    response = await ehr.post("/Patient", json=VALID["Patient"], headers={"If-None-Exist": "family=%CC%81"})
    assert response.status_code == 400, response.text
    assert "family" in _diagnostics(response)
    search = await ehr.get("/Patient", params={"family": "\u0301"})
    assert search.status_code == 400 and "family" in _diagnostics(search)


async def test_conditional_create_ignores_empty_values_next_to_real_criteria(ehr: Client) -> None:
    patient = {"resourceType": "Patient", "identifier": [{"system": "urn:downtime", "value": "DT-0042"}]}
    condition = {"If-None-Exist": "identifier=urn:downtime|DT-0042&family=&_count=1"}

    first = await ehr.post("/Patient", json=patient, headers=condition)
    again = await ehr.post("/Patient", json=patient, headers=condition)

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]


async def test_if_match_star_means_any_current_version(ehr: Client) -> None:
    """RFC 9110: ``If-Match: *`` is true when a current representation exists, false when none does."""
    created = (await ehr.post("/Patient", json=VALID["Patient"])).json()

    updated = await ehr.put(f"/Patient/{created['id']}", json={**created, "gender": "male"}, headers={"If-Match": "*"})
    absent = {**VALID["Patient"], "id": "never-was"}
    missing = await ehr.put("/Patient/never-was", json=absent, headers={"If-Match": "*"})

    assert updated.status_code == 200 and updated.json()["meta"]["versionId"] == "2"
    assert missing.status_code == 412 and "no resource" in _diagnostics(missing)
    assert (await ehr.get("/Patient/never-was")).status_code == 404


@pytest.mark.parametrize(
    ("body", "diagnostic"),
    [
        # json.loads takes a lone surrogate; SQLite (UTF-8) cannot store it: was a 500
        ('{"resourceType": "Patient", "name": [{"family": "\\ud800"}]}', "surrogate"),
        ('{"resourceType": "Patient", "\\udfff": 1}', "surrogate"),
        # deeper than json.loads can recurse: a RecursionError, was a 500
        ('{"resourceType": "Patient", "extension": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested"),
        ('{"resourceType": "Patient", "extension": ' + "[" * 150 + "]" * 150 + "}", "nested"),
        # not JSON (RFC 8259), and no JSON answer can carry them back
        ('{"resourceType": "Patient", "extension": [{"valueDecimal": NaN}]}', "NaN"),
        ('{"resourceType": "Patient", "extension": [{"valueDecimal": 1e400}]}', "finite"),
    ],
)
async def test_bodies_json_loads_takes_but_no_store_can_keep_are_400(ehr: Client, body: str, diagnostic: str) -> None:
    response = await ehr.post("/Patient", content=body.encode(), headers={"Content-Type": "application/fhir+json"})
    assert response.status_code == 400, response.text
    assert diagnostic in _diagnostics(response)
    assert (await ehr.get("/health")).json()["lsn"] == 0


async def test_a_valid_surrogate_pair_is_a_character_and_is_stored(ehr: Client) -> None:
    body = '{"resourceType": "Patient", "name": [{"family": "\\ud83d\\ude00"}]}'
    response = await ehr.post("/Patient", content=body.encode(), headers={"Content-Type": "application/fhir+json"})
    assert response.status_code == 201, response.text
    assert response.json()["name"][0]["family"] == "\U0001f600"
