"""The EHR's FHIR surface in-process (httpx ASGI transport, temp db, no peer)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import schemathesis

from mock_services.common.openapi import documented_operations, route_table
from mock_services.ehr.app import create_app
from mock_services.ehr.config import ConfiguredRole
from mock_services.ehr.resources import RESOURCE_TYPES
from mock_services.ehr.testing import make_config, node_of, serving

pytestmark = pytest.mark.anyio
Client = httpx.AsyncClient

FHIR_JSON = "application/fhir+json"
PATIENT = {
    "resourceType": "Patient",
    "id": "client-chosen",
    "identifier": [{"system": "urn:oid:1.2.250.1.213.1.4.8", "value": "1840875123456"}],
    "name": [{"family": "Lefèvre", "given": ["Amélie"]}],
    "birthDate": "1984-08-03",
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def primary(tmp_path: Path) -> AsyncIterator[Client]:
    config = make_config(tmp_path, "ehr-primary", ConfiguredRole.PRIMARY, peer=False, datacenter="dc-a")
    async with serving(create_app(config)) as client:
        yield client


@pytest.fixture
async def standby(tmp_path: Path) -> AsyncIterator[Client]:
    config = make_config(tmp_path, "ehr-standby", ConfiguredRole.STANDBY, peer=False, datacenter="dc-a")
    async with serving(create_app(config)) as client:
        yield client


def _assert_outcome(response_json: object, code: str, *fragments: str) -> None:
    assert isinstance(response_json, dict)
    assert response_json["resourceType"] == "OperationOutcome"
    (issue,) = response_json["issue"]
    assert issue["severity"] == "error"
    assert issue["code"] == code
    for fragment in fragments:
        assert fragment in issue["diagnostics"]


async def test_create_assigns_id_and_meta_and_sets_headers(primary: Client) -> None:
    response = await primary.post("/Patient", content=json.dumps(PATIENT), headers={"Content-Type": FHIR_JSON})

    assert response.status_code == 201
    body = response.json()
    assert body["id"] != "client-chosen" and len(body["id"]) == 32
    assert body["meta"]["versionId"] == "1"
    assert body["meta"]["lastUpdated"].endswith("Z")
    assert body["name"] == PATIENT["name"] and body["identifier"] == PATIENT["identifier"]
    assert response.headers["location"] == f"http://ehr.test/Patient/{body['id']}/_history/1"
    assert response.headers["etag"] == 'W/"1"'
    assert response.headers["content-type"].startswith(FHIR_JSON)
    assert response.headers["x-served-by"] == "ehr-primary"
    assert response.headers["x-datacenter"] == "dc-a"
    assert response.headers["x-epoch"] == "1"


async def test_read_and_vread_return_the_stored_resource(primary: Client) -> None:
    created = (await primary.post("/Patient", json=PATIENT)).json()

    read = await primary.get(f"/Patient/{created['id']}")
    vread = await primary.get(f"/Patient/{created['id']}/_history/1")

    assert read.status_code == 200 and read.json() == created
    assert read.headers["etag"] == 'W/"1"'
    assert vread.status_code == 200 and vread.json() == created


async def test_read_unknown_is_404_not_found(primary: Client) -> None:
    response = await primary.get("/Patient/does-not-exist")
    assert response.status_code == 404
    assert response.headers["x-served-by"] == "ehr-primary"
    _assert_outcome(response.json(), "not-found", "Patient/does-not-exist")


async def test_search_by_identifier(primary: Client) -> None:
    first = (await primary.post("/Patient", json=PATIENT)).json()
    other = {**PATIENT, "identifier": [{"system": "urn:other", "value": "1840875123456"}]}
    second = (await primary.post("/Patient", json=other)).json()
    system, value = PATIENT["identifier"][0]["system"], PATIENT["identifier"][0]["value"]  # type: ignore[index]

    exact = (await primary.get("/Patient", params={"identifier": f"{system}|{value}"})).json()
    any_system = (await primary.get("/Patient", params={"identifier": value})).json()
    none = (await primary.get("/Patient", params={"identifier": "urn:x|nobody"})).json()

    assert exact["resourceType"] == "Bundle" and exact["type"] == "searchset"
    assert exact["total"] == 1
    (entry,) = exact["entry"]
    assert entry["resource"] == first
    assert entry["fullUrl"] == f"http://ehr.test/Patient/{first['id']}"
    assert entry["search"] == {"mode": "match"}
    assert any_system["total"] == 2
    assert [e["resource"]["id"] for e in any_system["entry"]] == [first["id"], second["id"]]
    assert none["total"] == 0 and none["entry"] == []


async def test_search_without_parameters_is_bounded_by_count(primary: Client) -> None:
    for _ in range(3):
        await primary.post("/Patient", json=PATIENT)
    bundle = (await primary.get("/Patient", params={"_count": "2"})).json()
    assert bundle["total"] == 3 and len(bundle["entry"]) == 2


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"nickname": "Lefèvre"}, "'nickname'"),
        ({"identifier:exact": "x"}, "'identifier:exact'"),
        ({"_count": "-1"}, "_count"),
    ],
)
async def test_search_rejects_unknown_or_invalid_parameters(
    primary: Client, params: dict[str, str], named: str
) -> None:
    response = await primary.get("/Patient", params=params)
    assert response.status_code == 400
    _assert_outcome(response.json(), "invalid", named)


@pytest.mark.parametrize(
    ("body", "diagnostic"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        (
            json.dumps({"resourceType": "Observation"}),
            "expected resourceType 'Patient', got resourceType 'Observation'",
        ),
        (json.dumps({"name": []}), "no resourceType"),
        (json.dumps({"resourceType": "Patient", "identifier": [{"value": 7}]}), "identifier[0].value"),
    ],
)
async def test_create_rejects_invalid_bodies_with_400(primary: Client, body: str, diagnostic: str) -> None:
    response = await primary.post("/Patient", content=body, headers={"Content-Type": FHIR_JSON})
    assert response.status_code == 400
    _assert_outcome(response.json(), "invalid", diagnostic)
    assert (await primary.get("/health")).json()["lsn"] == 0  # nothing was written


async def test_create_rejects_other_content_types(primary: Client) -> None:
    response = await primary.post("/Patient", content=json.dumps(PATIENT), headers={"Content-Type": "text/plain"})
    assert response.status_code == 415
    _assert_outcome(response.json(), "not-supported", "text/plain")


async def test_standby_refuses_writes_with_503_but_serves_reads(standby: Client) -> None:
    write = await standby.post("/Patient", json=PATIENT)
    read = await standby.get("/Patient/unknown")
    search = await standby.get("/Patient", params={"identifier": "x"})

    assert write.status_code == 503
    assert write.headers["x-served-by"] == "ehr-standby"
    _assert_outcome(write.json(), "transient", "standby")
    assert read.status_code == 404 and search.status_code == 200


async def test_health_and_primary_check_reflect_the_role(primary: Client, standby: Client) -> None:
    health = (await primary.get("/health")).json()
    assert health == {
        "status": "ok",
        "name": "ehr-primary",
        "datacenter": "dc-a",
        "role": "primary",
        "epoch": 1,
        "lsn": 0,
    }
    assert (await primary.get("/primary")).status_code == 200
    assert (await primary.get("/primary")).json()["role"] == "primary"

    assert (await standby.get("/health")).json()["role"] == "standby"
    refused = await standby.get("/primary")
    assert refused.status_code == 503
    _assert_outcome(refused.json(), "transient", "standby")


async def test_unknown_route_and_wrong_method_are_operation_outcomes(primary: Client) -> None:
    missing = await primary.get("/Foo/1/bar/baz")
    wrong_method = await primary.delete("/Patient/abc")

    assert missing.status_code == 404
    _assert_outcome(missing.json(), "not-found", "/Foo/1/bar/baz")
    assert missing.headers["x-epoch"] == "1"
    assert wrong_method.status_code == 405
    _assert_outcome(wrong_method.json(), "not-supported", "DELETE")
    assert "GET" in wrong_method.headers["allow"]


# Every route and the methods it really accepts (HEAD comes with GET).
ACCEPTED = {
    "/Patient": {"GET", "HEAD", "POST"},
    "/Observation": {"GET", "HEAD", "POST"},
    "/Patient/abc": {"GET", "HEAD", "PUT"},
    "/Encounter/abc": {"GET", "HEAD", "PUT"},
    "/Patient/abc/_history/1": {"GET", "HEAD"},
    "/health": {"GET", "HEAD"},
    "/primary": {"GET", "HEAD"},
    "/metrics": {"GET", "HEAD"},
    "/metadata": {"GET", "HEAD"},
    "/openapi.json": {"GET", "HEAD"},
    "/_replication/status": {"GET", "HEAD"},
    "/_replication/log": {"GET", "HEAD"},
    "/_replication/discarded": {"GET", "HEAD"},
    "/_replication/heartbeat": {"POST"},
    "/_replication/append": {"POST"},
}
ALL_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


@pytest.mark.parametrize("path", list(ACCEPTED))
async def test_a_405_allow_header_lists_every_method_the_route_accepts(primary: Client, path: str) -> None:
    """A 405 on /Patient said ``Allow: GET, HEAD``, leaving out POST (RFC 9110: Allow lists the
    methods the target resource supports)."""
    for method in ALL_METHODS:
        response = await primary.request(method, path)
        if method in ACCEPTED[path]:
            assert response.status_code != 405, f"{method} {path} is refused"
            continue
        assert response.status_code == 405, f"{method} {path}: {response.status_code}"
        allowed = {word.strip() for word in response.headers["allow"].split(",")}
        assert allowed == ACCEPTED[path], f"{method} {path}: Allow {response.headers['allow']!r}"
        if method != "HEAD":  # a HEAD answer has no body
            _assert_outcome(response.json(), "not-supported", method)


async def test_metadata_is_a_capability_statement(primary: Client) -> None:
    statement = (await primary.get("/metadata")).json()
    assert statement["resourceType"] == "CapabilityStatement"
    assert statement["fhirVersion"] == "4.0.1"
    resources = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert set(resources) == {
        "Patient",
        "Encounter",
        "Observation",
        "MedicationRequest",
        "MedicationAdministration",
        "DiagnosticReport",
        "AllergyIntolerance",
        "ServiceRequest",
    }
    patient = resources["Patient"]
    assert {i["code"] for i in patient["interaction"]} >= {"create", "read", "search-type"}
    assert {(p["name"], p["type"]) for p in patient["searchParam"]} >= {
        ("identifier", "token"),
        ("name", "string"),
        ("birthdate", "date"),
        ("_id", "token"),
    }


async def test_replication_endpoints_reject_malformed_messages(primary: Client) -> None:
    response = await primary.post("/_replication/heartbeat", content=b'{"name": "x", "epoch": "one", "lsn": 0}')
    assert response.status_code == 400
    _assert_outcome(response.json(), "invalid", "'epoch'")
    assert (await primary.get("/_replication/log", params={"after": "x"})).status_code == 400


async def test_replication_messages_refuse_what_json_loads_takes_but_is_not_json(standby: Client) -> None:
    surrogate = b'{"name": "x", "epoch": 1, "prev_lsn": 0, "prev_epoch": 0, "entries": [{"lsn": 1, "epoch": 1, ' \
        b'"resource_type": "Patient", "resource_id": "x", "version_id": "1", "last_updated": "t", "body": "\\udc00"}]}'
    deep = b'{"name": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    for path, body in (("/_replication/append", surrogate), ("/_replication/heartbeat", deep)):
        response = await standby.post(path, content=body)
        assert response.status_code == 400, response.text
        _assert_outcome(response.json(), "invalid")


async def test_replication_messages_refuse_integers_past_64_bits(standby: Client) -> None:
    """A heartbeat with epoch 2**70 was accepted: the epoch a standby then carried could never be
    written into its SQLite log (every later write a 500). Protocol integers are 64-bit."""
    epoch = (await standby.get("/health")).json()["epoch"]
    heartbeat = await standby.post("/_replication/heartbeat", json={"name": "x", "epoch": 2**70, "lsn": 0})
    entry = {"lsn": 2**64, "epoch": 1, "resource_type": "Patient", "resource_id": "x", "version_id": "1",
             "last_updated": "2024-08-03T00:00:00Z", "body": "{}"}  # fmt: skip
    append = await standby.post(
        "/_replication/append", json={"name": "x", "epoch": 1, "prev_lsn": 0, "prev_epoch": 0, "entries": [entry]}
    )

    assert heartbeat.status_code == 400, heartbeat.text
    _assert_outcome(heartbeat.json(), "invalid", "'epoch'", "64-bit")
    assert append.status_code == 400, append.text
    _assert_outcome(append.json(), "invalid", "'lsn'")
    assert (await standby.get("/health")).json()["epoch"] == epoch


@pytest.mark.parametrize("path", ["/_replication/log", "/_replication/discarded"])
@pytest.mark.parametrize(
    "params", [{"after": str(2**64)}, {"after": "\u00b2"}, {"limit": "\u00b9"}, {"after": "\u0661"}]
)
async def test_replication_pages_refuse_integers_sqlite_or_int_cannot_take(
    primary: Client, path: str, params: dict[str, str]
) -> None:
    """Both were 500s: an offset past SQLite's 64-bit integers, and '²' (a digit to isdigit(), not to int())."""
    response = await primary.get(path, params=params)
    assert response.status_code == 400, response.text
    _assert_outcome(response.json(), "invalid", next(iter(params)))


async def test_unhandled_errors_are_500_operation_outcomes_with_identity_headers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(make_config(tmp_path, "ehr-a", ConfiguredRole.PRIMARY, peer=False))

    def broken(*args: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(node_of(app).store, "read", broken)
    async with serving(app) as client:
        response = await client.get("/Patient/any")

    assert response.status_code == 500
    assert response.headers["x-served-by"] == "ehr-a"
    _assert_outcome(response.json(), "exception", "internal error")


async def test_metrics_count_requests_by_route_template_and_expose_the_role(primary: Client) -> None:
    await primary.get("/Patient/a")
    await primary.get("/Patient/b")
    await primary.post("/Patient", json=PATIENT)

    text = (await primary.get("/metrics")).text

    assert 'ehr_http_requests_total{method="GET",route="/{resource_type}/{id}",status="404"} 2.0' in text
    assert 'ehr_http_requests_total{method="POST",route="/{resource_type}",status="201"} 1.0' in text
    assert 'ehr_http_request_duration_seconds_count{route="/{resource_type}/{id}"} 2.0' in text
    assert 'ehr_role{role="primary"} 1.0' in text and 'ehr_role{role="standby"} 0.0' in text
    assert "ehr_epoch 1.0" in text and "ehr_lsn 1.0" in text
    assert "ehr_promotions_total 0.0" in text and "ehr_step_downs_total 0.0" in text
    assert 'ehr_info{datacenter="dc-a",fencing="off",name="ehr-primary",replication="sync"} 1.0' in text


async def test_declared_response_schemas_describe_what_is_returned(primary: Client) -> None:
    """/metadata's OpenAPI response schema only allowed the stored resource types, so the
    CapabilityStatement it returns did not conform."""
    schema = schemathesis.openapi.from_dict(json.loads((await primary.get("/openapi.json")).content))
    created = await primary.post("/Patient", json=PATIENT)
    answers = {
        ("/metadata", "GET"): await primary.get("/metadata"),
        ("/health", "GET"): await primary.get("/health"),
        ("/primary", "GET"): await primary.get("/primary"),
        ("/Patient", "GET"): await primary.get("/Patient", params={"family": "Lefèvre"}),
        ("/Patient", "POST"): created,
        ("/Patient/{id}", "GET"): await primary.get(f"/Patient/{created.json()['id']}"),
        ("/_replication/status", "GET"): await primary.get("/_replication/status"),
        ("/_replication/log", "GET"): await primary.get("/_replication/log"),
    }
    for (path, method), response in answers.items():
        operation = schema[path][method]
        assert response.status_code in (200, 201), f"{method} {path}: {response.text}"
        operation.validate_response(response)  # raises naming the mismatch


async def test_openapi_documents_every_route_and_routes_every_documented_operation(tmp_path: Path) -> None:
    app = create_app(make_config(tmp_path, "ehr-a", ConfiguredRole.PRIMARY, peer=False))
    async with serving(app) as client:
        document = json.loads((await client.get("/openapi.json")).content)
    routed = set()
    for method, path in route_table(app.routes):  # the FHIR routes are generic in the resource type
        names = RESOURCE_TYPES if "{resource_type}" in path else [""]
        routed |= {(method, path.replace("{resource_type}", name)) for name in names}

    assert routed == documented_operations(document)


async def test_openapi_describes_every_resource(primary: Client) -> None:
    response = await primary.get("/openapi.json")
    document = json.loads(response.content)

    assert document["openapi"].startswith("3.")
    for resource_type in ("Patient", "Encounter", "Observation", "MedicationRequest", "DiagnosticReport"):
        assert set(document["paths"][f"/{resource_type}"]) == {"get", "post"}
        assert set(document["paths"][f"/{resource_type}/{{id}}"]) == {"get", "put"}
        assert f"/{resource_type}/{{id}}/_history/{{vid}}" in document["paths"]
    names = {p["name"] for p in document["paths"]["/Observation"]["get"]["parameters"]}
    assert {"patient", "category", "code", "date", "_count", "_id"} <= names
