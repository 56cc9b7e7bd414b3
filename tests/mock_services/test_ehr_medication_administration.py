"""MedicationAdministration on one in-process EHR: the nurse's record of a dose given (the load's
medication administration task) -- create, read, validation, searches, and what the server
says about the type (CapabilityStatement, OpenAPI)."""

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
LOAD_SYSTEM = "urn:hchaos:load"
DOSE: dict[str, Any] = {
    "resourceType": "MedicationAdministration",
    "identifier": [{"system": LOAD_SYSTEM, "value": "run-1-0-1-1"}],
    "status": "completed",
    "medicationCodeableConcept": {
        "coding": [{"system": "http://www.whocc.no/atc", "code": "N02BE01", "display": "paracetamol"}],
        "text": "Paracétamol 1 g",
    },
    "subject": {"reference": "Patient/p000001"},
    "effectiveDateTime": "2024-08-03T10:05:00+02:00",
    "request": {"reference": "MedicationRequest/mr-1"},
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def ehr(tmp_path: Path) -> AsyncIterator[Client]:
    config = make_config(tmp_path, "ehr-a", ConfiguredRole.PRIMARY, peer=False, patients=2)
    async with serving(create_app(config, dataset=FakeDataset(2))) as client:
        yield client


async def _search_ids(ehr: Client, **params: str) -> list[str]:
    response = await ehr.get("/MedicationAdministration", params=params)
    assert response.status_code == 200, response.text
    return [entry["resource"]["id"] for entry in response.json()["entry"]]


async def test_a_dose_given_is_created_read_back_and_versioned(ehr: Client) -> None:
    created = await ehr.post("/MedicationAdministration", json=DOSE)

    assert created.status_code == 201, created.text
    body = created.json()
    assert body["status"] == "completed" and body["meta"]["versionId"] == "1"
    assert created.headers["location"] == f"http://ehr.test/MedicationAdministration/{body['id']}/_history/1"
    read = await ehr.get(f"/MedicationAdministration/{body['id']}")
    assert read.status_code == 200 and read.json() == body


async def test_searches_by_patient_subject_status_and_identifier(ehr: Client) -> None:
    given = (await ehr.post("/MedicationAdministration", json=DOSE)).json()["id"]
    other = {**copy.deepcopy(DOSE), "status": "not-done", "subject": {"reference": "Patient/p000002"},
             "identifier": [{"system": LOAD_SYSTEM, "value": "run-1-0-1-2"}]}
    refused = (await ehr.post("/MedicationAdministration", json=other)).json()["id"]

    assert await _search_ids(ehr, patient="p000001") == [given]
    assert await _search_ids(ehr, patient="Patient/p000002") == [refused]
    assert await _search_ids(ehr, subject="Patient/p000001") == [given]
    assert await _search_ids(ehr, status="not-done") == [refused]
    assert await _search_ids(ehr, status="completed,not-done") == [given, refused]
    assert await _search_ids(ehr, identifier=f"{LOAD_SYSTEM}|run-1-0-1-2") == [refused]
    assert await _search_ids(ehr, patient="p000001", status="not-done") == []


async def test_conditional_create_on_the_identifier_writes_once(ehr: Client) -> None:
    condition = {"If-None-Exist": f"identifier={LOAD_SYSTEM}|run-1-0-1-1"}
    first = await ehr.post("/MedicationAdministration", json=DOSE, headers=condition)
    again = await ehr.post("/MedicationAdministration", json=DOSE, headers=condition)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]


@pytest.mark.parametrize(
    ("change", "diagnostic"),
    [
        ({"status": None}, "MedicationAdministration.status: missing required element"),
        ({"status": "given"}, "MedicationAdministration.status: 'given' is not one of in-progress|"),
        ({"medicationCodeableConcept": None}, "MedicationAdministration.medicationCodeableConcept: missing"),
        ({"subject": None}, "MedicationAdministration.subject: missing required element"),
        ({"subject": "Patient/p000001"}, "MedicationAdministration.subject: expected a JSON object"),
        ({"effectiveDateTime": None}, "MedicationAdministration.effectiveDateTime: missing required element"),
        ({"effectiveDateTime": "this morning"}, "MedicationAdministration.effectiveDateTime: 'this morning'"),
        ({"request": "MedicationRequest/mr-1"}, "MedicationAdministration.request: expected a JSON object"),
    ],
)
async def test_invalid_doses_are_400_naming_the_element(ehr: Client, change: dict[str, object],
                                                         diagnostic: str) -> None:
    dose = copy.deepcopy(DOSE)
    for key, value in change.items():
        if value is None:
            dose.pop(key)
        else:
            dose[key] = value
    response = await ehr.post("/MedicationAdministration", json=dose)
    assert response.status_code == 400
    assert diagnostic in response.json()["issue"][0]["diagnostics"]
    assert (await ehr.get("/health")).json()["lsn"] == 0  # nothing written


async def test_capability_statement_and_openapi_describe_the_type(ehr: Client) -> None:
    statement = (await ehr.get("/metadata")).json()
    described = {r["type"]: r for r in statement["rest"][0]["resource"]}
    params = {(p["name"], p["type"]) for p in described["MedicationAdministration"]["searchParam"]}
    assert params >= {("identifier", "token"), ("patient", "reference"), ("subject", "reference"),
                      ("status", "token"), ("_id", "token")}
    openapi = (await ehr.get("/openapi.json")).json()
    assert set(openapi["paths"]["/MedicationAdministration"]) == {"get", "post"}
    assert "/MedicationAdministration/{id}/_history/{vid}" in openapi["paths"]
