"""The lab results portal in-process against the fake FHIR EHR (httpx ASGI transports, no sockets)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest
from starlette.applications import Starlette

from mock_services.labs.app import create_app
from mock_services.labs.config import Config
from mock_services.labs.testing import FakeEhr
from mock_services.synthetic import SyntheticConfig, generate

pytestmark = pytest.mark.anyio
DATA = generate(SyntheticConfig(seed=2024, patients=12))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Portal:
    client: httpx.AsyncClient
    ehr: FakeEhr
    app: Starlette


@asynccontextmanager
async def start(**overrides: object) -> AsyncIterator[Portal]:
    ehr = FakeEhr(DATA, page_size=4)  # small pages: every search needs next links
    settings: dict[str, object] = {"name": "labs-a", "datacenter": "dc-a", "ehr_url": "http://ehr.test/fhir/"}
    config = Config(**{**settings, **overrides})  # type: ignore[arg-type]
    app = create_app(config, ehr_transport=ehr.transport())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://labs.test") as client:
            yield Portal(client, ehr, app)


@pytest.fixture
async def portal() -> AsyncIterator[Portal]:
    async with start(ehr_url="http://ehr.test") as p:
        yield p


@pytest.fixture
async def cached() -> AsyncIterator[Portal]:
    async with start(ehr_url="http://ehr.test", cache_ttl=60.0) as p:
        yield p


def expected_reports(patient_id: str) -> list[dict[str, object]]:
    index = int(patient_id[1:])
    return [r for r in DATA.clinical_for(index) if r["resourceType"] == "DiagnosticReport"]


def patient_with_reports(minimum: int = 2) -> str:
    return next(f"p{i:06d}" for i in range(1, 13) if len(expected_reports(f"p{i:06d}")) >= minimum)


async def test_results_match_the_ehr_reports_and_observations(portal: Portal) -> None:
    patient_id = patient_with_reports()
    response = await portal.client.get(f"/patients/{patient_id}/results")
    assert response.status_code == 200, response.text
    assert response.headers["x-served-by"] == "labs-a" and response.headers["x-datacenter"] == "dc-a"
    results = response.json()
    reports = expected_reports(patient_id)
    assert {r["id"] for r in results} == {r["id"] for r in reports}
    issued = [r["issued"] for r in results]
    assert issued == sorted(issued, reverse=True)
    clinical = {r["id"]: r for r in DATA.clinical_for(int(patient_id[1:]))}
    for result in results:
        report = clinical[result["id"]]
        assert result["code"] == report["code"]["coding"][0]["code"] and result["status"] == "final"
        assert [o["id"] for o in result["observations"]] == [ref["reference"][12:] for ref in report["result"]]
        for row in result["observations"]:
            obs = clinical[row["id"]]
            assert row["value"] == obs["valueQuantity"]["value"] and row["unit"] == obs["valueQuantity"]["unit"]
            assert row["reference_range"]["low"] == obs["referenceRange"][0]["low"]["value"]
            assert row["flag"] == obs["interpretation"][0]["coding"][0]["code"] and not row["missing"]
    # the searches asked the standard FHIR questions and followed next links
    assert any(q.startswith("/DiagnosticReport?") and "category=LAB" in q for q in portal.ehr.requests)
    assert any("_offset=" in q for q in portal.ehr.requests)


async def test_ehr_base_url_with_path_is_respected() -> None:
    async with start() as p:  # ehr_url http://ehr.test/fhir/ -> the fake sees /fhir/... which it does not serve
        response = await p.client.get(f"/patients/{patient_with_reports()}/results")
        assert response.status_code in (404, 502)
        assert all(q.startswith("/fhir/") for q in p.ehr.requests)


async def test_one_report_and_unknown_report(portal: Portal) -> None:
    patient_id = patient_with_reports()
    report_id = expected_reports(patient_id)[0]["id"]
    response = await portal.client.get(f"/patients/{patient_id}/results/{report_id}")
    assert response.status_code == 200 and response.json()["id"] == report_id
    response = await portal.client.get(f"/patients/{patient_id}/results/dr-nope")
    assert response.status_code == 404 and response.json()["error"] == "report-not-found"
    assert "dr-nope" in response.json()["detail"]


async def test_unknown_patient_is_404_and_invalid_id_is_400(portal: Portal) -> None:
    response = await portal.client.get("/patients/p999999/results")
    assert response.status_code == 404
    assert response.json()["error"] == "patient-not-found"
    for bad in ("bad%20id", "...", "x" * 65):
        response = await portal.client.get(f"/patients/{bad}/results")
        assert response.status_code == 400 and response.json()["error"] == "invalid-patient-id", bad
        assert "patient_id" in response.json()["detail"]


async def test_patient_without_reports_gets_an_empty_list(portal: Portal) -> None:
    patient_id = "p000001"
    portal.ehr.by_patient = {k: v for k, v in portal.ehr.by_patient.items() if k[1] != patient_id}
    response = await portal.client.get(f"/patients/{patient_id}/results")
    assert response.status_code == 200 and response.json() == []


@pytest.mark.parametrize("mode", ["down", "error", "slow"])
async def test_ehr_outage_is_503_never_an_empty_result(mode: str) -> None:
    async with start(ehr_url="http://ehr.test", ehr_timeout=0.2) as p:
        p.ehr.mode, p.ehr.delay = mode, 1.0
        response = await p.client.get("/patients/p000001/results")
        assert response.status_code == 503
        assert response.json()["error"] == "ehr-unavailable"
        assert "EHR is unavailable" in response.json()["detail"] and response.headers["retry-after"]
        page = await p.client.get("/patients/p000001")
        assert page.status_code == 503 and "DPI indisponible" in page.text and "Aucun résultat" not in page.text
        health = (await p.client.get("/health")).json()
        assert health["ehr"] == "unreachable" and health["role"] == "active"
        p.ehr.mode = "ok"
        assert (await p.client.get("/patients/p000001/results")).status_code == 200
        assert (await p.client.get("/health")).json()["ehr"] == "reachable"


async def test_ehr_answering_non_fhir_is_502(portal: Portal) -> None:
    portal.ehr.mode = "not-fhir"
    response = await portal.client.get("/patients/p000001/results")
    assert response.status_code == 502 and response.json()["error"] == "ehr-bad-answer"
    assert "JSON list" in response.json()["detail"]


async def test_cache_serves_within_ttl(cached: Portal) -> None:
    patient_id = patient_with_reports()
    first = await cached.client.get(f"/patients/{patient_id}/results")
    asked = len(cached.ehr.requests)
    cached.ehr.mode = "down"
    second = await cached.client.get(f"/patients/{patient_id}/results")
    assert second.status_code == 200 and second.json() == first.json()
    assert len(cached.ehr.requests) == asked
    assert (await cached.client.get("/patients/p000002/results")).status_code == 503


async def test_html_pages(portal: Portal) -> None:
    index = await portal.client.get("/")
    assert index.status_code == 200 and '<form action="/patients"' in index.text
    redirect = await portal.client.get("/patients", params={"id": "p000003"})
    assert redirect.status_code == 303 and redirect.headers["location"] == "/patients/p000003"
    assert (await portal.client.get("/patients", params={"id": "<script>"})).status_code == 400
    patient_id = patient_with_reports()
    page = await portal.client.get(f"/patients/{patient_id}")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    family = DATA.patient(int(patient_id[1:]))["name"][0]["family"]
    assert family in page.text and ("Hemoglobin" in page.text or "Sodium" in page.text)
    assert page.text.count("<table>") == len(expected_reports(patient_id))
    missing = await portal.client.get("/patients/p999999")
    assert missing.status_code == 404 and "Patient inconnu" in missing.text


async def test_health_metrics_and_json_404(portal: Portal) -> None:
    health = await portal.client.get("/health")
    assert health.json() == {"status": "ok", "name": "labs-a", "datacenter": "dc-a", "role": "active", "ehr": "unknown"}
    await portal.client.get("/patients/p000001/results")
    metrics = await portal.client.get("/metrics")
    assert metrics.headers["x-served-by"] == "labs-a"
    text = metrics.text
    assert 'http_requests_total{method="GET",route="/patients/{patient_id}/results",status="200"} 1.0' in text
    assert "http_request_duration_seconds_bucket" in text and 'labs_ehr_fetches_total{outcome="ok"} 1.0' in text
    nowhere = await portal.client.get("/nowhere")
    assert nowhere.status_code == 404 and nowhere.json()["error"] == "not-found"
    assert nowhere.headers["x-datacenter"] == "dc-a"
    assert (await portal.client.post("/health")).status_code == 405


async def test_cache_is_bounded_oldest_evicted(cached: Portal, monkeypatch: pytest.MonkeyPatch) -> None:
    import mock_services.labs.app as labs_app

    monkeypatch.setattr(labs_app, "CACHE_ENTRIES", 2)
    for i in (1, 2, 3):
        assert (await cached.client.get(f"/patients/p00000{i}/results")).status_code == 200
    assert list(cached.app.state.portal.cache) == ["p000002", "p000003"]
