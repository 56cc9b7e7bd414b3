"""ServiceRequest on one in-process EHR: lab and imaging orders (what the care application sends
for its lab / imaging orders) -- create, conditional create, read, vread, update, validation,
searches, and what the server says about the type (CapabilityStatement, OpenAPI)."""

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
ORDER_SYSTEM = "urn:hchaos:care:order"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
LAB_ORDER: dict[str, Any] = {
    "resourceType": "ServiceRequest",
    "identifier": [{"system": ORDER_SYSTEM, "value": "ord-lab-1"}],
    "status": "active",
    "intent": "order",
    "category": [{"coding": [{"system": SNOMED, "code": "108252007", "display": "Laboratory procedure"}]}],
    "priority": "routine",
    "code": {"coding": [{"system": LOINC, "code": "58410-2", "display": "NFS"}], "text": "NFS"},
    "subject": {"reference": "Patient/p000001"},
    "authoredOn": "2024-08-03T09:30:00Z",
    "requester": {"display": "Dr Martin"},
}
IMAGING_ORDER: dict[str, Any] = {
    **copy.deepcopy(LAB_ORDER),
    "identifier": [{"system": ORDER_SYSTEM, "value": "ord-img-1"}],
    "status": "completed",
    "category": [{"coding": [{"system": SNOMED, "code": "363679005", "display": "Imaging"}]}],
    "code": {"text": "Radio thorax"},
    "subject": {"reference": "Patient/p000002"},
    "authoredOn": "2024-08-05T14:00:00+02:00",
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
    response = await ehr.get("/ServiceRequest", params=params)
    assert response.status_code == 200, response.text
    return [entry["resource"]["id"] for entry in response.json().get("entry", [])]


async def test_a_lab_order_is_created_read_back_and_versioned(ehr: Client) -> None:
    created = await ehr.post("/ServiceRequest", json=LAB_ORDER)

    assert created.status_code == 201, created.text
    body = created.json()
    assert body["status"] == "active" and body["intent"] == "order" and body["meta"]["versionId"] == "1"
    assert created.headers["location"] == f"http://ehr.test/ServiceRequest/{body['id']}/_history/1"
    read = await ehr.get(f"/ServiceRequest/{body['id']}")
    assert read.status_code == 200 and read.json() == body
    vread = await ehr.get(f"/ServiceRequest/{body['id']}/_history/1")
    assert vread.status_code == 200 and vread.json() == body


async def test_update_with_if_match_makes_a_new_version_and_a_stale_one_is_412(ehr: Client) -> None:
    first = (await ehr.post("/ServiceRequest", json=LAB_ORDER)).json()
    completed = {**first, "status": "completed"}

    updated = await ehr.put(f"/ServiceRequest/{first['id']}", json=completed, headers={"If-Match": 'W/"1"'})
    assert updated.status_code == 200, updated.text
    assert updated.json()["meta"]["versionId"] == "2" and updated.headers["etag"] == 'W/"2"'
    stale = await ehr.put(f"/ServiceRequest/{first['id']}", json={**first, "status": "revoked"},
                          headers={"If-Match": 'W/"1"'})  # fmt: skip
    assert stale.status_code == 412

    assert (await ehr.get(f"/ServiceRequest/{first['id']}")).json()["status"] == "completed"
    assert (await ehr.get(f"/ServiceRequest/{first['id']}/_history/1")).json()["status"] == "active"
    assert await _search_ids(ehr, status="active") == []  # the index follows the current version
    assert await _search_ids(ehr, status="completed") == [first["id"]]


async def test_searches_by_patient_subject_status_category_code_authored_and_identifier(ehr: Client) -> None:
    lab = (await ehr.post("/ServiceRequest", json=LAB_ORDER)).json()["id"]
    imaging = (await ehr.post("/ServiceRequest", json=IMAGING_ORDER)).json()["id"]

    assert await _search_ids(ehr, patient="p000001") == [lab]
    assert await _search_ids(ehr, patient="Patient/p000002") == [imaging]
    assert await _search_ids(ehr, subject="Patient/p000001") == [lab]
    assert await _search_ids(ehr, status="completed") == [imaging]
    assert await _search_ids(ehr, status="active,completed") == [lab, imaging]
    assert await _search_ids(ehr, intent="order") == [lab, imaging]
    assert await _search_ids(ehr, category=f"{SNOMED}|108252007") == [lab]
    assert await _search_ids(ehr, category="363679005") == [imaging]
    assert await _search_ids(ehr, code=f"{LOINC}|58410-2") == [lab]
    assert await _search_ids(ehr, authored="2024-08-03") == [lab]
    assert await _search_ids(ehr, authored="ge2024-08-04") == [imaging]
    assert await _search_ids(ehr, authored="2024-08-05T12:00:00Z") == [imaging]  # +02:00, in UTC
    assert await _search_ids(ehr, identifier=f"{ORDER_SYSTEM}|ord-img-1") == [imaging]
    assert await _search_ids(ehr, _id=lab) == [lab]
    assert await _search_ids(ehr, patient="p000001", category="363679005") == []
    assert await _search_ids(ehr, patient="p000001", code="58410-2", authored="ge2024-08-01") == [lab]


async def test_unknown_search_parameters_are_400(ehr: Client) -> None:
    response = await ehr.get("/ServiceRequest", params={"authoredon": "2024"})  # MedicationRequest's name
    assert response.status_code == 400
    assert "authoredon" in response.json()["issue"][0]["diagnostics"]


async def test_conditional_create_on_the_identifier_writes_once(ehr: Client) -> None:
    condition = {"If-None-Exist": f"identifier={ORDER_SYSTEM}|ord-lab-1"}
    first = await ehr.post("/ServiceRequest", json=LAB_ORDER, headers=condition)
    again = await ehr.post("/ServiceRequest", json=LAB_ORDER, headers=condition)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert len(await _search_ids(ehr, identifier=f"{ORDER_SYSTEM}|ord-lab-1")) == 1


async def test_code_and_category_are_optional_as_in_r4(ehr: Client) -> None:
    bare = {key: value for key, value in LAB_ORDER.items() if key not in ("code", "category")}
    created = await ehr.post("/ServiceRequest", json=bare)
    assert created.status_code == 201, created.text


@pytest.mark.parametrize(
    ("change", "diagnostic"),
    [
        ({"status": None}, "ServiceRequest.status: missing required element"),
        ({"status": "ordered"}, "ServiceRequest.status: 'ordered' is not one of draft|active|"),
        ({"intent": None}, "ServiceRequest.intent: missing required element"),
        ({"intent": "request"}, "ServiceRequest.intent: 'request' is not one of proposal|"),
        ({"subject": None}, "ServiceRequest.subject: missing required element"),
        ({"subject": "Patient/p000001"}, "ServiceRequest.subject: expected a JSON object"),
        ({"code": "58410-2"}, "ServiceRequest.code: expected a JSON object"),
        ({"category": {"text": "lab"}}, "ServiceRequest.category: expected a list"),
        ({"category": []}, "ServiceRequest.category: must not be empty"),
        ({"priority": "high"}, "ServiceRequest.priority: 'high' is not one of routine|urgent|asap|stat"),
        ({"authoredOn": "this morning"}, "ServiceRequest.authoredOn: 'this morning'"),
        ({"occurrenceDateTime": "tomorrow"}, "ServiceRequest.occurrenceDateTime: 'tomorrow'"),
        ({"requester": "Dr Martin"}, "ServiceRequest.requester: expected a JSON object"),
    ],
)
async def test_invalid_orders_are_400_naming_the_element(ehr: Client, change: dict[str, object],
                                                         diagnostic: str) -> None:  # fmt: skip
    order = copy.deepcopy(LAB_ORDER)
    for key, value in change.items():
        if value is None:
            order.pop(key)
        else:
            order[key] = value
    response = await ehr.post("/ServiceRequest", json=order)
    assert response.status_code == 400
    assert diagnostic in response.json()["issue"][0]["diagnostics"]
    assert (await ehr.get("/health")).json()["lsn"] == 0  # nothing written


async def test_capability_statement_and_openapi_describe_the_type(ehr: Client) -> None:
    statement = (await ehr.get("/metadata")).json()
    described = {r["type"]: r for r in statement["rest"][0]["resource"]}
    service_request = described["ServiceRequest"]
    assert {i["code"] for i in service_request["interaction"]} >= {"create", "read", "vread", "update", "search-type"}
    assert service_request["conditionalCreate"] is True
    params = {(p["name"], p["type"]) for p in service_request["searchParam"]}
    assert params >= {("identifier", "token"), ("patient", "reference"), ("subject", "reference"),
                      ("status", "token"), ("category", "token"), ("code", "token"), ("authored", "date"),
                      ("_id", "token")}  # fmt: skip
    openapi = (await ehr.get("/openapi.json")).json()
    assert set(openapi["paths"]["/ServiceRequest"]) == {"get", "post"}
    assert set(openapi["paths"]["/ServiceRequest/{id}"]) == {"get", "put"}
    assert "/ServiceRequest/{id}/_history/{vid}" in openapi["paths"]
    described_body = openapi["components"]["schemas"]["ServiceRequest"]
    assert described_body["properties"]["resourceType"]["enum"] == ["ServiceRequest"]
    assert {"resourceType", "subject"} <= set(described_body["required"])
