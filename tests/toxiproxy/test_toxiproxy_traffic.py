"""Faults applied through our client really change TCP traffic through the real server."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from harness.toxiproxy import Proxy, ProxySpec, ToxicSpec, ToxiproxyClient

pytestmark = pytest.mark.integration

QUIET = 0.5  # seconds of silence that count as "traffic stopped"


@pytest.fixture
def proxy(real_client: ToxiproxyClient, echo_server: Any) -> Proxy:
    return real_client.create_proxy(ProxySpec("ehr", "127.0.0.1:0", echo_server.address))


@pytest.fixture
def connect(proxy: Proxy) -> Iterator[Any]:
    opened: list[socket.socket] = []

    def open_connection() -> socket.socket:
        sock = socket.create_connection(proxy.listen_host_port, timeout=2.0)
        opened.append(sock)
        return sock

    yield open_connection
    for sock in opened:
        sock.close()


def round_trip(sock: socket.socket, payload: bytes) -> bytes:
    sock.sendall(payload)
    received = b""
    while len(received) < len(payload):
        chunk = sock.recv(len(payload) - len(received))
        if not chunk:
            break
        received += chunk
    return received


def test_echo_passes_through_a_clean_proxy(connect: Any) -> None:
    assert round_trip(connect(), b"ADT^A01") == b"ADT^A01"


def test_timeout_toxic_with_zero_stops_traffic_until_removed(
        real_client: ToxiproxyClient, connect: Any) -> None:
    before = connect()
    assert round_trip(before, b"warm") == b"warm"
    real_client.add_toxic("ehr", ToxicSpec("timeout", name="cut", attributes={"timeout": 0}))

    before.settimeout(QUIET)
    with pytest.raises(TimeoutError):
        round_trip(before, b"lost")  # sent upstream, echoed, dropped downstream

    real_client.remove_toxic("ehr", "cut")
    # Removing a timeout toxic closes the connections it held (its cleanup closes the link):
    # the old connection is dead, a new one works -- a heal restores service, not sockets.
    before.settimeout(2.0)
    try:
        leftover = before.recv(100)
    except ConnectionResetError:
        leftover = b""
    assert leftover == b""
    assert round_trip(connect(), b"back") == b"back"


def test_disabled_proxy_refuses_connections_and_enable_restores(
        real_client: ToxiproxyClient, proxy: Proxy, connect: Any) -> None:
    open_before = connect()
    assert round_trip(open_before, b"x") == b"x"
    real_client.disable("ehr")
    with pytest.raises(ConnectionRefusedError):
        connect()
    open_before.settimeout(2.0)
    assert open_before.recv(10) == b""  # disabling also closed the open connection
    real_client.enable("ehr")
    assert round_trip(connect(), b"again") == b"again"


def test_latency_toxic_adds_measurable_latency_and_update_changes_it_live(
        real_client: ToxiproxyClient, connect: Any) -> None:
    sock = connect()

    def timed() -> float:
        started = time.monotonic()
        assert round_trip(sock, b"ping") == b"ping"
        return time.monotonic() - started

    baseline = timed()
    assert baseline < 0.1
    real_client.add_toxic("ehr", ToxicSpec("latency", attributes={"latency": 200}))
    slowed = timed()
    assert 0.2 <= slowed < 1.0
    # PATCH updates the toxic on the open connection; no reconnect needed.
    real_client.update_toxic("ehr", "latency_downstream", attributes={"latency": 20})
    timed()  # the chunk already in the old toxic's hands may still take the old delay
    faster = timed()
    assert 0.02 <= faster < 0.15
