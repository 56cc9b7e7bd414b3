"""The out-of-band notification sink, and the care application's durable outbox that feeds it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from mock_services.care.notify import Notifier
from mock_services.care.testing import Switch
from mock_services.notify.app import create_app
from mock_services.notify.config import Config

pytestmark = pytest.mark.anyio
URL = "http://notify.test/notifications"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def serve(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://notify.test") as client:
            yield client


@pytest.fixture
async def sink(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Starlette]]:
    app = create_app(Config(name="notify", datacenter="witness", db_path=tmp_path / "notify.sqlite"))
    async for client in serve(app):
        yield client, app


async def test_sink_stores_with_receive_time_lists_since_and_drops_duplicates(
    sink: tuple[httpx.AsyncClient, Starlette],
) -> None:
    client, _ = sink
    first = await client.post("/notifications", json={"id": "n1", "event": "downtime", "source": "care-1", "t": 1.5})
    assert first.status_code == 201 and first.headers["x-served-by"] == "notify"
    stored = first.json()
    assert stored["event"] == "downtime" and stored["t"] == 1.5 and stored["received_at"] > 1.5
    again = await client.post("/notifications", json={"id": "n1", "event": "downtime", "source": "care-1", "t": 1.5})
    assert again.status_code == 200 and again.json()["seq"] == stored["seq"]  # a retry is not a second notification
    await client.post("/notifications", json={"event": "restored", "source": "care-2"})
    listing = (await client.get("/notifications")).json()
    assert [n["event"] for n in listing["notifications"]] == ["downtime", "restored"]
    later = (await client.get("/notifications", params={"since": stored["received_at"]})).json()
    assert [n["source"] for n in later["notifications"]] == ["care-2"] and later["until"] > stored["received_at"]
    only = (await client.get("/notifications", params={"source": "care-1"})).json()["notifications"]
    assert len(only) == 1
    for bad, field in (({"source": "x"}, "event"), ({"event": "downtime"}, "source"),
                       ({"event": "e", "source": "s", "t": "now"}, "t")):  # fmt: skip
        response = await client.post("/notifications", json=bad)
        assert response.status_code == 400 and field in response.json()["detail"]
    assert (await client.get("/notifications", params={"sinse": "1"})).status_code == 400
    assert (await client.get("/health")).json()["stored"] == 2


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (b'{"event": "downtime", "source": "care-1", "t": NaN}', "NaN"),  # stored, then its 201 was a 500
        (b'{"event": "downtime", "source": "care-1", "size": 1e999}', "finite"),  # the same, as inf
        (b'{"event": "downtime", "source": "\\udc80"}', "surrogate"),  # SQLite cannot store it: a 500
        (b'{"event": "downtime", "source": "s", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}", "nested"),
    ],
)
async def test_sink_refuses_bodies_it_could_not_store_or_answer(
    sink: tuple[httpx.AsyncClient, Starlette], body: bytes, named: str
) -> None:
    client, _ = sink
    response = await client.post("/notifications", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid-json" and named in response.json()["detail"]
    assert (await client.get("/notifications")).json()["notifications"] == []


@pytest.mark.parametrize(("body", "field"), [({"id": 7}, "id"), ({"id": ""}, "id"), ({"reason": {}}, "reason")])
async def test_sink_refuses_an_id_or_reason_that_is_not_a_string(
    sink: tuple[httpx.AsyncClient, Starlette], body: dict[str, object], field: str
) -> None:
    """A numeric id was stored but never de-duplicated (a sender's retry counted twice); a reason
    object was stored and then listed against the documented shape (the fuzz campaign's find)."""
    client, _ = sink
    response = await client.post("/notifications", json={"event": "downtime", "source": "care-1", **body})
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid-notification" and field in response.json()["detail"]
    assert (await client.get("/notifications")).json()["notifications"] == []


@pytest.mark.parametrize("since", ["nan", "inf", "-inf", "1e999", "Infinity"])
async def test_listing_refuses_a_since_that_is_no_time(sink: tuple[httpx.AsyncClient, Starlette], since: str) -> None:
    """``float()`` takes them; the answer's ``until`` then was NaN or infinite, which JSON cannot carry: a 500."""
    client, _ = sink
    await client.post("/notifications", json={"event": "downtime", "source": "care-1"})
    response = await client.get("/notifications", params={"since": since})
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid-parameter" and "since" in response.json()["detail"]


async def test_a_405_on_notifications_allows_both_get_and_post(sink: tuple[httpx.AsyncClient, Starlette]) -> None:
    client, _ = sink
    response = await client.put("/notifications", json={})
    assert response.status_code == 405
    assert {word.strip() for word in response.headers["allow"].split(",")} == {"GET", "HEAD", "POST"}


async def test_sink_keeps_notifications_across_a_restart(tmp_path: Path) -> None:
    config = Config(name="notify", datacenter="witness", db_path=tmp_path / "n.sqlite")
    async for client in serve(create_app(config)):
        await client.post("/notifications", json={"event": "downtime", "source": "care-1"})
    async for client in serve(create_app(config)):
        assert [n["event"] for n in (await client.get("/notifications")).json()["notifications"]] == ["downtime"]


async def test_outbox_retries_until_the_sink_answers_and_delivers_once(
    tmp_path: Path, sink: tuple[httpx.AsyncClient, Starlette]
) -> None:
    client, app = sink
    link = Switch(httpx.ASGITransport(app=app))
    link.down = True
    notifier = Notifier(tmp_path / "outbox.sqlite", URL, "care-1", "campus", timeout=1.0, transport=link)
    published = notifier.publish("downtime", "ehr unreachable", snapshot_as_of=12.5)
    assert await notifier.send_one() is False and notifier.status()["pending"] == 1
    assert "ConnectError" in (notifier.status()["last_error"] or "")
    link.down, link.status = False, 503
    assert await notifier.send_one() is False  # a sink answering 5xx has not stored it
    await notifier.aclose()

    link.status = None  # the workstation restarted: the outbox is on disk
    restarted = Notifier(tmp_path / "outbox.sqlite", URL, "care-1", "campus", timeout=1.0, transport=link)
    assert restarted.status()["pending"] == 1
    assert await restarted.send_one() is True and await restarted.send_one() is None
    [received] = (await client.get("/notifications")).json()["notifications"]
    assert received["id"] == published["id"] and received["snapshot_as_of"] == 12.5
    assert restarted.status() == {"url": URL, "pending": 0, "sent": 1, "last_error": None}
    assert restarted.recent()[0]["attempts"] == 3
    await restarted.aclose()


async def test_without_a_sink_url_notifications_wait_in_the_outbox(tmp_path: Path) -> None:
    notifier = Notifier(tmp_path / "outbox.sqlite", None, "care-1", "campus")
    notifier.publish("downtime", "test")
    assert await notifier.send_one() is None and notifier.status()["pending"] == 1
    await notifier.aclose()
