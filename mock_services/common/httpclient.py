"""HTTP clients for services that bound a whole call with ``asyncio.timeout`` (or are cancelled).

Why: httpcore 1.0.9 (the last release, under httpx 0.28.1) loses track of a pooled connection
when the task using it is cancelled at the wrong moment -- while the pool is assigning it, while
it connects, or while the response is being closed (encode/httpcore#1093, #830, #658; the fixes,
PRs #986 and #1094, were never released). The connection stays in the pool as ``CONNECTING`` or
``ACTIVE`` for ever, with the socket open (``CLOSE-WAIT`` once the peer gives up on it); each
one takes a slot, and when ``max_connections`` of them have accumulated, every later request
waits for the pool and fails with ``PoolTimeout`` although the server is fine. Measured with
the care application under a slowed front door: 82 such sockets to the EHR after 5 minutes;
in a test with 4 slots, 40 cancelled calls leave the pool unusable.

The fix: :class:`UncancellableTransport` never lets a cancellation reach the pool. Each request
runs in a task of its own, to its end: the status, the headers and the whole body are read
(the clients here read every body anyway), the response is closed, and the connection goes
back to the pool. The caller awaits that task through :func:`asyncio.shield`: a caller whose
timeout fires is released at once, as before; its request finishes in the background, bounded
by httpx's own per-operation timeouts, and its answer is dropped. A request that is abandoned
still holds its connection until it ends, so the pool's accounting stays true.

:func:`async_client` builds an ``httpx.AsyncClient`` on it (the test seam: ``transport`` is
wrapped the same way). ``aclose()`` of the client cancels requests still running (the pool is
being closed anyway) and closes the pool.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0)
"""httpx's own defaults, named here so that tests can shrink the pool."""


class UncancellableTransport(httpx.AsyncBaseTransport):
    """Wraps ``inner`` so that cancelling a caller never cancels its request (see the module docstring)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self._running: set[asyncio.Task[httpx.Response]] = set()

    @property
    def running(self) -> int:
        """Requests still running, abandoned ones included."""
        return len(self._running)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        task = asyncio.ensure_future(self._complete(request))
        self._running.add(task)
        task.add_done_callback(self._finished)
        return await asyncio.shield(task)

    def _finished(self, task: asyncio.Task[httpx.Response]) -> None:
        self._running.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: an abandoned request's failure is nobody's business

    async def _complete(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        try:
            assert isinstance(response.stream, httpx.AsyncByteStream)
            body = b"".join([chunk async for chunk in response.stream])
        finally:
            await response.aclose()
        # The raw bytes (still content-encoded): the client decodes them as it would have.
        return httpx.Response(response.status_code, headers=response.headers, stream=httpx.ByteStream(body),
                              extensions=response.extensions)

    async def aclose(self) -> None:
        running = list(self._running)
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        await self.inner.aclose()


def async_client(*, timeout: float, transport: httpx.AsyncBaseTransport | None = None,
                 limits: httpx.Limits | None = None, **options: Any) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` whose requests survive their callers' cancellation.

    ``transport`` (tests: e.g. ``httpx.ASGITransport``) replaces the network transport and is
    wrapped the same way; ``limits`` defaults to :data:`DEFAULT_LIMITS`; ``options`` go to
    ``httpx.AsyncClient`` (``headers``, ``base_url``...)."""
    inner = transport or httpx.AsyncHTTPTransport(limits=limits or DEFAULT_LIMITS)
    return httpx.AsyncClient(timeout=timeout, transport=UncancellableTransport(inner), **options)
