"""Failures of the transport and of the server's answers: what is raised, how fast, and
whether the message tells a person what happened."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from harness.errors import InfrastructureError, InvalidInput
from harness.toxiproxy import (
    ToxiproxyClient,
    ToxiproxyError,
    ToxiproxyNotFound,
    ToxiproxyUnreachable,
)


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts TCP connections (kernel backlog) but never answers a byte."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=16)
    try:
        yield int(listener.getsockname()[1])
    finally:
        listener.close()


def test_nothing_listening_is_unreachable_and_fast(unused_port: int) -> None:
    url = f"http://127.0.0.1:{unused_port}"
    with ToxiproxyClient(url, timeout=2.0) as client:
        started = time.monotonic()
        with pytest.raises(ToxiproxyUnreachable) as caught:
            client.version()
        elapsed = time.monotonic() - started
    err = caught.value
    assert elapsed < 0.5  # refused at once, not after the 2 s timeout
    assert (err.server, err.method, err.path, err.status, err.timeout) == \
        (url, "GET", "/version", None, 2.0)
    assert err.message.startswith(f"toxiproxy at {url}: GET /version -> connection failed:")
    assert "refused" in err.message.lower()
    assert err.hint is not None and url in err.hint and "2 s" in err.hint
    assert isinstance(err, InfrastructureError) and err.exit_code == 3


def test_server_that_never_answers_times_out_on_time(silent_server: int) -> None:
    url = f"http://127.0.0.1:{silent_server}"
    with ToxiproxyClient(url, timeout=0.3) as client:
        started = time.monotonic()
        with pytest.raises(ToxiproxyUnreachable) as caught:
            client.disable("ehr")
        elapsed = time.monotonic() - started
    assert 0.25 <= elapsed < 1.5
    assert caught.value.message == \
        f"toxiproxy at {url}: PATCH /proxies/ehr -> no answer within 0.3 s (read timeout)"


@pytest.mark.integration
def test_not_found_message_from_the_real_server(real_client: ToxiproxyClient) -> None:
    with pytest.raises(ToxiproxyNotFound) as caught:
        real_client.proxy("nope")
    assert str(caught.value) == \
        f"toxiproxy at {real_client.base_url}: GET /proxies/nope -> 404: proxy not found"


def _client_answering(handler: httpx.MockTransport) -> ToxiproxyClient:
    return ToxiproxyClient("http://toxiproxy.test:8474", transport=handler)


def test_malformed_answer_is_a_toxiproxy_error_not_a_crash() -> None:
    bad = {"ehr": {"name": 1, "enabled": True}}
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=bad))
    with _client_answering(transport) as client, pytest.raises(ToxiproxyError) as caught:
        client.proxies()
    assert caught.value.status is None
    assert "unexpected answer" in caught.value.message and "'name'" in caught.value.message


def test_non_json_answer_is_reported() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, text="<html>hi</html>"))
    with _client_answering(transport) as client, pytest.raises(ToxiproxyError) as caught:
        client.proxy("ehr")
    assert "response is not JSON" in caught.value.message


def test_plain_text_and_empty_error_bodies_are_shown() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/version":
            return httpx.Response(404, text="404 page not found\n")
        return httpx.Response(503)

    with _client_answering(httpx.MockTransport(answer)) as client:
        with pytest.raises(ToxiproxyNotFound) as not_found:
            client.version()
        with pytest.raises(ToxiproxyError) as unavailable:
            client.reset()
    assert not_found.value.detail == "404 page not found"
    assert unavailable.value.message.endswith("POST /reset -> 503: Service Unavailable")


def test_old_plain_text_version_answer_is_understood() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, text="2.1.4\n"))
    with _client_answering(transport) as client:
        assert client.version() == "2.1.4"


@pytest.mark.integration
def test_environment_proxy_settings_are_ignored(monkeypatch: pytest.MonkeyPatch,
                                                toxiproxy_server: Any, unused_port: int) -> None:
    # Honouring HTTP_PROXY would send the call to the dead "proxy" port and fail.
    for var in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{unused_port}")
    monkeypatch.setenv("ALL_PROXY", f"http://127.0.0.1:{unused_port}")
    with ToxiproxyClient(toxiproxy_server.url) as client:
        assert client.version() == "2.12.0"


@pytest.mark.parametrize("url", ["127.0.0.1:8474", "ftp://127.0.0.1:8474", "http://",
                                 "http://127.0.0.1:8474/api"])
def test_bad_base_url_is_invalid_input(url: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        ToxiproxyClient(url)
    assert url in caught.value.message


def test_trailing_slash_is_normalised() -> None:
    with ToxiproxyClient("http://127.0.0.1:8474/") as client:
        assert client.base_url == "http://127.0.0.1:8474"


def test_non_positive_timeout_is_refused() -> None:
    with pytest.raises(InvalidInput):
        ToxiproxyClient("http://127.0.0.1:8474", timeout=0)
