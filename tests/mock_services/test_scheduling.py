"""The scheduling API in-process (httpx ASGI transport, temp SQLite): every endpoint and error."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mock_services.scheduling.app import create_app, load_synthetic
from mock_services.scheduling.config import Config
from mock_services.scheduling.store import Store
from mock_services.synthetic import SyntheticConfig, generate

pytestmark = pytest.mark.anyio
Client = httpx.AsyncClient
OR_ID = "or-bloc-operatoire-salle-1-2024-08-05"  # a Monday: 3-6 bookings
STAFF_ID = "staff-urgences-2024-08-03"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    config = Config(name="sched-a", datacenter="dc-a", db_path=tmp_path / "s.sqlite", seed=2024, patients=50)
    app = create_app(config)
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://s.test") as c:
        yield c


def slot(start: str, end: str, **extra: Any) -> dict[str, Any]:
    return {"start": f"2024-08-05T{start}:00+02:00", "end": f"2024-08-05T{end}:00+02:00", **extra}


def assert_error(response: httpx.Response, status: int, error: str, *fragments: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error, body
    for fragment in fragments:
        assert fragment in body["detail"], body
    assert response.headers["x-served-by"] == "sched-a"


async def test_loaded_from_synthetic_and_listed_with_filters(client: Client) -> None:
    data = generate(SyntheticConfig(seed=2024, patients=50))
    expected = [*data.staff_schedules(), *data.or_schedules()]
    everything = (await client.get("/schedules")).json()
    assert {s["id"] for s in everything} == {s["id"] for s in expected}
    assert set(everything[0]) == {"id", "kind", "unit", "date", "version", "last_modified", "slot_count"}
    staff = (await client.get("/schedules", params={"kind": "staff"})).json()
    assert len(staff) == 14 and {s["kind"] for s in staff} == {"staff"}
    one = (await client.get("/schedules", params={"kind": "staff", "unit": "urgences", "date": "2024-08-03"})).json()
    assert [s["id"] for s in one] == [STAFF_ID]
    assert (await client.get("/schedules", params={"date": "2024-09-01"})).json() == []
    dates = [s["date"] for s in everything]
    assert dates == sorted(dates)


@pytest.mark.parametrize(
    ("params", "fragment"),
    [({"kind": "ward"}, "kind"), ({"date": "03/08/2024"}, "date"), ({"room": "1"}, "'room'")],
)
async def test_list_rejects_bad_parameters(client: Client, params: dict[str, str], fragment: str) -> None:
    assert_error(await client.get("/schedules", params=params), 400, "invalid-parameter", fragment)


async def test_read_has_etag_last_modified_and_supports_if_none_match(client: Client) -> None:
    response = await client.get(f"/schedules/{OR_ID}")
    assert response.status_code == 200
    body = response.json()
    assert body["version"] == 1 and body["slot_count"] == len(body["slots"]) >= 3
    assert response.headers["etag"] == 'W/"1"'
    assert response.headers["last-modified"] == "Fri, 02 Aug 2024 18:00:00 GMT"
    assert all(s["patient"].startswith("Patient/p0000") for s in body["slots"])
    cached = await client.get(f"/schedules/{OR_ID}", headers={"If-None-Match": 'W/"1"'})
    assert cached.status_code == 304 and cached.content == b""
    assert_error(await client.get("/schedules/nope"), 404, "not-found", "nope")


async def test_put_replaces_slots_with_optimistic_concurrency(client: Client) -> None:
    new = [slot("08:00", "09:00", patient="Patient/p000007", procedure="Appendicectomie")]
    response = await client.put(f"/schedules/{OR_ID}", json={"slots": new}, headers={"If-Match": 'W/"1"'})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["version"] == 2 and body["slots"] == new and response.headers["etag"] == 'W/"2"'
    assert body["last_modified"] > "2024-08-02T18:00:00.000000Z"
    # a second writer still holding version 1 loses, and learns the current version
    stale = await client.put(f"/schedules/{OR_ID}", json={"slots": []}, headers={"If-Match": 'W/"1"'})
    assert_error(stale, 412, "version-mismatch", "current version is 2")
    assert stale.headers["etag"] == 'W/"2"'
    assert_error(await client.put(f"/schedules/{OR_ID}", json={"slots": []}), 428, "precondition-required", "If-Match")
    assert (await client.get(f"/schedules/{OR_ID}")).json()["slots"] == new  # the losers changed nothing
    for header in ('"2"', "3", "*"):  # strong, bare and wildcard forms are accepted too
        response = await client.put(f"/schedules/{OR_ID}", json={"slots": new}, headers={"If-Match": header})
        assert response.status_code == 200, header
    assert (await client.get(f"/schedules/{OR_ID}")).json()["version"] == 5


@pytest.mark.parametrize(
    ("body", "status", "error", "fragment"),
    [
        ([1], 400, "invalid-body", "JSON object"),
        ({}, 400, "invalid-body", "slots is required"),
        ({"slots": {}}, 400, "invalid-body", "slots must be a list"),
        ({"slots": [{"start": "2024-08-05T08:00:00+02:00"}]}, 400, "invalid-slot", "slots[0].end"),
        ({"slots": [slot("09:00", "08:00")]}, 400, "invalid-slot", "slots[0].end must be after"),
        ({"slots": [{"start": "2024-08-05T08:00:00", "end": "2024-08-05T09:00:00"}]}, 400, "invalid-slot", "offset"),
        ({"slots": [slot("08:00", "09:00", patient="p1")]}, 400, "invalid-slot", "slots[0].patient"),
        ({"slots": [slot("08:00", "09:00"), "x"]}, 400, "invalid-slot", "slots[1] must be"),
        ({"slots": [slot("08:00", "10:00"), slot("09:00", "11:00")]}, 409, "slot-conflict", "slots[1] starts before"),
        ({"slots": [], "kind": "staff"}, 400, "immutable-field", "kind"),
        ({"slots": [slot("08:00", "09:00")] * 501}, 400, "invalid-body", "at most 500"),
    ],
)
async def test_put_rejects_bad_bodies_naming_the_field(
    client: Client, body: Any, status: int, error: str, fragment: str
) -> None:
    response = await client.put(f"/schedules/{OR_ID}", json=body, headers={"If-Match": 'W/"1"'})
    assert_error(response, status, error, fragment)
    assert (await client.get(f"/schedules/{OR_ID}")).json()["version"] == 1


async def test_put_transport_level_errors(client: Client) -> None:
    url, match = f"/schedules/{OR_ID}", {"If-Match": 'W/"1"'}
    assert_error(await client.put(url, content=b"{nope", headers=match), 400, "invalid-json", "not valid JSON")
    response = await client.put(url, content=b"slots", headers={**match, "Content-Type": "text/plain"})
    assert_error(response, 415, "unsupported-media-type", "text/plain")
    big = b'{"slots": [], "pad": "' + b"x" * (1024 * 1024) + b'"}'
    assert_error(await client.put(url, content=big, headers=match), 413, "body-too-large")
    bad_etag = await client.put(url, json={"slots": []}, headers={"If-Match": "v1"})
    assert_error(bad_etag, 400, "invalid-header", "If-Match")
    assert_error(await client.put("/schedules/nope", json={"slots": []}, headers=match), 404, "not-found")


async def test_post_appends_a_slot(client: Client) -> None:
    before = (await client.get(f"/schedules/{OR_ID}")).json()
    new = slot("19:00", "20:00", patient="Patient/p000003", procedure="Appendicectomie")
    response = await client.post(f"/schedules/{OR_ID}/slots", json=new)
    assert response.status_code == 201, response.text
    assert response.json()["slots"] == [*before["slots"], new] and response.json()["version"] == 2
    assert response.headers["etag"] == 'W/"2"'
    # overlapping the slot just added: 409 naming the new slot
    overlap = await client.post(f"/schedules/{OR_ID}/slots", json=slot("19:30", "20:30"))
    assert_error(overlap, 409, "slot-conflict", "slot starts before")
    stale = await client.post(f"/schedules/{OR_ID}/slots", json=slot("21:00", "22:00"), headers={"If-Match": 'W/"1"'})
    assert_error(stale, 412, "version-mismatch")
    ok = await client.post(f"/schedules/{OR_ID}/slots", json=slot("21:00", "22:00"), headers={"If-Match": 'W/"2"'})
    assert ok.status_code == 201 and ok.json()["version"] == 3
    assert_error(await client.post(f"/schedules/{OR_ID}/slots", json=[]), 400, "invalid-slot", "slot must be")
    assert_error(await client.post("/schedules/nope/slots", json=new), 404, "not-found")


async def test_staff_shift_conflicts(client: Client) -> None:
    night = {"shift": "night", "start": "2024-08-03T23:00:00+02:00", "end": "2024-08-04T07:00:00+02:00",
             "staff": [{"name": "Léa Martin", "role": "infirmier"}]}  # fmt: skip
    assert_error(await client.post(f"/schedules/{STAFF_ID}/slots", json=night), 409, "slot-conflict", "'night'")
    extra = {**night, "shift": "renfort", "staff": [{"name": "Léa Martin"}]}
    assert_error(await client.post(f"/schedules/{STAFF_ID}/slots", json=extra), 400, "invalid-slot", "staff[0]")
    extra["staff"] = [{"name": "Léa Martin", "role": "infirmier"}]
    assert (await client.post(f"/schedules/{STAFF_ID}/slots", json=extra)).status_code == 201


async def test_changes_since_returns_modified_schedules_and_a_watermark(client: Client) -> None:
    everything = await client.get("/schedules/changes", params={"since": "2024-08-01T00:00:00Z"})
    assert everything.status_code == 200 and len(everything.json()["schedules"]) == 28
    first = (await client.get("/schedules/changes", params={"since": "2024-08-02T18:00:00Z"})).json()
    assert first["schedules"] == [] and first["since"] == "2024-08-02T18:00:00.000000Z"
    await client.post(f"/schedules/{OR_ID}/slots", json=slot("19:00", "20:00"))
    await client.put(f"/schedules/{STAFF_ID}", json={"slots": []}, headers={"If-Match": 'W/"1"'})
    changed = (await client.get("/schedules/changes", params={"since": first["until"]})).json()
    assert [s["id"] for s in changed["schedules"]] == [OR_ID, STAFF_ID]  # oldest change first
    assert changed["schedules"][1]["slots"] == [] and changed["until"] == changed["schedules"][1]["last_modified"]
    again = (await client.get("/schedules/changes", params={"since": changed["until"]})).json()
    assert again["schedules"] == [] and again["until"] == changed["until"]
    offset = (await client.get("/schedules/changes", params={"since": "2024-08-02T20:00:00+02:00"})).json()
    assert len(offset["schedules"]) == 2  # 20:00+02:00 is 18:00Z: only the two changed ones are after it


@pytest.mark.parametrize(("params", "fragment"), [({}, "since is required"), ({"since": "hier"}, "since"),
                                                  ({"since": "2024-08-01", "kind": "or"}, "'kind'"),
                                                  # valid ISO 8601 that UTC cannot hold: was a 500 (OverflowError)
                                                  ({"since": "0001-01-01T00:00:00+01:00"}, "since"),
                                                  ({"since": "9999-12-31T23:59:59-01:00"}, "since")])  # fmt: skip
async def test_changes_rejects_bad_parameters(client: Client, params: dict[str, str], fragment: str) -> None:
    assert_error(await client.get("/schedules/changes", params=params), 400, "invalid-parameter", fragment)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b'{"start": "2024-08-05T10:00:00+02:00", "end": "2024-08-05T11:00:00+02:00", "cost": NaN}', "NaN"),
        (b'{"start": "2024-08-05T10:00:00+02:00", "end": "2024-08-05T11:00:00+02:00", "cost": -1e999}', "finite"),
        (b'{"start": "2024-08-05T10:00:00+02:00", "end": "2024-08-05T11:00:00+02:00", "procedure": "\\ud801"}',
         "surrogate"),
        (b'{"start": "2024-08-05T10:00:00+02:00", "x": ' + b"[" * 3000 + b"]" * 3000 + b"}", "nested"),
    ],
)
async def test_bodies_no_store_or_answer_could_keep_are_400(client: Client, body: bytes, fragment: str) -> None:
    """A NaN slot field was stored, then every answer carrying that schedule was a 500; a lone
    surrogate failed in SQLite (a 500); deep nesting raised RecursionError (a 500)."""
    before = (await client.get(f"/schedules/{OR_ID}")).json()
    headers = {"Content-Type": "application/json"}
    response = await client.post(f"/schedules/{OR_ID}/slots", content=body, headers=headers)
    assert_error(response, 400, "invalid-json", fragment)
    assert (await client.get(f"/schedules/{OR_ID}")).json() == before


async def test_a_405_allow_header_names_every_method_of_the_path(client: Client) -> None:
    for path, allowed in ((f"/schedules/{OR_ID}", {"GET", "HEAD", "PUT"}), (f"/schedules/{OR_ID}/slots", {"POST"})):
        response = await client.delete(path)
        assert_error(response, 405, "method-not-allowed")
        assert {word.strip() for word in response.headers["allow"].split(",")} == allowed


async def test_health_metrics_and_unknown_routes(client: Client) -> None:
    health = (await client.get("/health")).json()
    assert health == {"status": "ok", "name": "sched-a", "datacenter": "dc-a", "role": "active", "schedules": 28}
    await client.put(f"/schedules/{OR_ID}", json={"slots": []}, headers={"If-Match": 'W/"9"'})
    text = (await client.get("/metrics")).text
    assert 'http_requests_total{method="PUT",route="/schedules/{id}",status="412"} 1.0' in text
    assert 'schedule_writes_total{operation="put",outcome="version-mismatch"} 1.0' in text
    assert "http_request_duration_seconds_bucket" in text
    assert_error(await client.get("/nowhere"), 404, "not-found")
    assert_error(await client.delete(f"/schedules/{OR_ID}"), 405, "method-not-allowed")


def test_non_empty_store_is_kept_and_zero_patients_loads_nothing(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s.sqlite")
    try:
        assert load_synthetic(store, 1, 0) == 0 and store.count() == 0
        assert load_synthetic(store, 1, 10) == 28
        assert load_synthetic(store, 2, 5000) == 0 and store.count() == 28  # not reloaded, not mixed
        assert store.meta("seed") == "1" and store.meta("patients") == "10"
    finally:
        store.close()
