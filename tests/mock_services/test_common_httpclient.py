"""Cancelled calls must not leak pooled connections (httpcore 1.0.9 does: encode/httpcore#1093).

A real HTTP/1.1 server on loopback answers after a random delay; clients whose whole call is
bounded by ``asyncio.timeout`` give up on many of them. Afterwards the pool must still serve
``max_connections`` requests at once: with plain ``httpx.AsyncClient`` it cannot (every slot is
held by a connection the pool lost track of, and requests fail with ``PoolTimeout``).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable

import httpcore
import httpx
import pytest

from mock_services.care.breaker import CircuitBreaker
from mock_services.care.dependencies import Dependency
from mock_services.common import httpclient
from mock_services.common.httpclient import UncancellableTransport, async_client
from mock_services.labs.ehr_client import EhrClient

pytestmark = pytest.mark.anyio
SLOTS = 4
DELAYS = (0.0, 0.001, 0.01)  # seconds before the server answers
# The callers' bounds on their whole call: some give up while connecting, some while waiting
# for the pool, some while the answer is read (each is a different way to lose a connection).
CALL_TIMEOUTS = (0.0005, 0.002, 0.01)
ROUNDS, CONCURRENT = 16, 30


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def server() -> AsyncIterator[str]:
    """A keep-alive HTTP/1.1 server answering every request with a small FHIR Bundle."""
    rng = random.Random(1093)
    body = b'{"resourceType":"Bundle","type":"searchset","entry":[]}'

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # CancelledError too: the loop cancels the handlers at teardown (Python 3.11's streams
        # would log a cancelled handler as an error).
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)  # fmt: skip
                await reader.readexactly(length)
                await asyncio.sleep(rng.choice(DELAYS))
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (len(body), body))  # fmt: skip
                await writer.drain()
        writer.close()

    listener = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    async with listener:
        yield f"http://127.0.0.1:{port}"


async def churn(call: Callable[[], Awaitable[object]]) -> int:
    """ROUNDS x CONCURRENT calls, each bounded by one of CALL_TIMEOUTS (the caller's
    ``asyncio.timeout``, as the services bound theirs); returns how many gave up."""
    gave_up = 0
    rng = random.Random(830)

    async def one() -> None:
        nonlocal gave_up
        try:
            async with asyncio.timeout(rng.choice(CALL_TIMEOUTS)):
                await call()
        except TimeoutError:
            gave_up += 1

    for _ in range(ROUNDS):
        await asyncio.gather(*(one() for _ in range(CONCURRENT)))
    return gave_up


def transport_of(client: httpx.AsyncClient) -> httpx.AsyncBaseTransport:
    return client._transport  # private, but httpx 0.28 is the last release


def pool_of(client: httpx.AsyncClient) -> httpcore.AsyncConnectionPool:
    transport = transport_of(client)
    if isinstance(transport, UncancellableTransport):
        transport = transport.inner
    pool = transport._pool  # type: ignore[attr-defined]
    assert isinstance(pool, httpcore.AsyncConnectionPool)
    return pool


async def settle(client: httpx.AsyncClient) -> None:
    """Until the requests the callers gave up on have ended (bounded)."""
    transport = transport_of(client)
    for _ in range(1000):
        await asyncio.sleep(0.01)
        if not isinstance(transport, UncancellableTransport) or transport.running == 0:
            break
    await asyncio.sleep(0.05)


async def assert_pool_intact(client: httpx.AsyncClient, call: Callable[[], Awaitable[object]]) -> None:
    """No connection is left busy once every request ended, and SLOTS calls at once succeed."""
    await settle(client)
    pool = pool_of(client)
    busy = [repr(c) for c in pool.connections if not c.is_idle() and not c.is_closed()]
    assert busy == [], f"connections the pool lost track of: {busy}"
    await asyncio.gather(*(call() for _ in range(SLOTS)))


async def test_plain_httpx_client_loses_its_pool_to_cancelled_calls(server: str) -> None:
    """The upstream bug worked around; if httpcore ever fixes it, this test says so (xfail)."""
    client = httpx.AsyncClient(timeout=0.5, limits=httpx.Limits(max_connections=SLOTS))
    async with client:
        assert await churn(lambda: client.get(server)) > 0
        try:
            await assert_pool_intact(client, lambda: client.get(server))
        except (AssertionError, httpx.PoolTimeout):
            return
    pytest.xfail("httpcore no longer leaks cancelled connections: UncancellableTransport may go")


async def test_cancelled_calls_leave_the_pool_usable(server: str) -> None:
    client = async_client(timeout=0.5, limits=httpx.Limits(max_connections=SLOTS))
    async with client:
        assert await churn(lambda: client.get(server)) > 0
        await assert_pool_intact(client, lambda: client.get(server))


async def test_care_dependency_keeps_its_pool(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(httpclient, "DEFAULT_LIMITS", httpx.Limits(max_connections=SLOTS))
    breaker = CircuitBreaker("ehr", failures=10**9, window=1.0, reset=1.0)  # never opens: every call goes out
    ehr = Dependency("ehr", server, 2.0, breaker)
    try:
        assert await churn(lambda: ehr.fhir_search("Patient", {})) > 0
        await assert_pool_intact(ehr.http, lambda: ehr.fhir_search("Patient", {}))
    finally:
        await ehr.aclose()


async def test_labs_ehr_client_keeps_its_pool(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(httpclient, "DEFAULT_LIMITS", httpx.Limits(max_connections=SLOTS))
    client = EhrClient(server, 2.0)
    try:
        assert await churn(lambda: client.search("Patient", {})) > 0
        await assert_pool_intact(client.http, lambda: client.search("Patient", {}))
    finally:
        await client.aclose()
