"""Extras of the fake that the contract tests (fake vs real) do not cover."""

from __future__ import annotations

import httpx
import pytest

from harness.toxiproxy import FakeToxiproxy, ToxiproxyClient, ToxiproxyUnreachable


def test_down_fake_behaves_like_a_dead_server() -> None:
    fake = FakeToxiproxy()
    fake.down = True
    with ToxiproxyClient("http://toxiproxy.test:8474", transport=fake.transport) as client:
        with pytest.raises(ToxiproxyUnreachable, match="connection failed"):
            client.version()
        fake.down = False
        assert client.version() == "2.12.0"
    assert fake.requests == [("GET", "/version"), ("GET", "/version")]


def test_browser_user_agents_are_refused_like_the_real_server() -> None:
    fake = FakeToxiproxy()
    with httpx.Client(transport=fake.transport, base_url="http://t") as raw:
        refused = raw.get("/version", headers={"User-Agent": "Mozilla/5.0"})
        unknown = raw.get("/nothing")
        wrong_method = raw.put("/proxies")
    assert (refused.status_code, refused.text) == (403, "User agent not allowed\n")
    assert (unknown.status_code, wrong_method.status_code) == (404, 405)


def test_populate_error_reports_what_was_done_like_the_real_server() -> None:
    fake = FakeToxiproxy()
    with httpx.Client(transport=fake.transport, base_url="http://t") as raw:
        answer = raw.post("/populate", json=[{"name": "a", "upstream": "x:1", "listen": "h:5"},
                                             {"name": "b", "upstream": "x:1", "listen": "h:5"}])
    assert answer.status_code == 500
    body = answer.json()
    assert body["error"] == "listen tcp h:5: bind: address already in use"
    assert [p["name"] for p in body["proxies"]] == ["a"]
