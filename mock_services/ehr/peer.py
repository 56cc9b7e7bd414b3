"""The client side of the replication protocol: how one instance talks to its peer.

Every call is bounded by ``peer_timeout`` (a log page may be given a longer timeout, such as
``LOG_PAGE_TIMEOUT``, because pages can be large). Every way a call can fail -- refused,
timed out, reset, a 5xx, an answer that is not the protocol -- raises :class:`PeerUnavailable`,
so the replication logic has exactly two outcomes to handle: an answer, or no answer.

A 409 is an answer (the peer refused, and says who it is), not a failure.

``transport`` is the testing seam: pass an ``httpx.ASGITransport`` to talk to an in-process
peer app instead of a socket.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TypeVar

import httpx

from mock_services.ehr.protocol import AppendRequest, Heartbeat, LogPage, NodeStatus, ProtocolError, Reply

LOG_PAGE_TIMEOUT = 5.0

T = TypeVar("T")


class PeerUnavailable(Exception):
    """The peer did not give a usable answer; the message says what happened."""


class PeerClient:
    """A keep-alive HTTP client bound to one peer URL. Close with :meth:`aclose`."""

    def __init__(self, base_url: str, timeout: float, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.base_url = base_url
        self._timeout = timeout
        self._client = httpx.AsyncClient(
            base_url=base_url,
            timeout=timeout,
            transport=transport,
            # Never route replication traffic through an HTTP(S)_PROXY from the environment:
            # the peer URL already is the (Toxiproxy) path we are meant to use.
            trust_env=False,
            limits=httpx.Limits(max_connections=4, max_keepalive_connections=2),
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def status(self) -> NodeStatus:
        """``GET /_replication/status``: who the peer is right now."""
        data = await self._request("GET", "/_replication/status", accept=(200,))
        return self._parse(NodeStatus.from_json, data)

    async def heartbeat(self, message: Heartbeat) -> Reply:
        """``POST /_replication/heartbeat``; 200 = accepted, 409 = refused (see ``reason``)."""
        data = await self._request("POST", "/_replication/heartbeat", json_body=message.to_json())
        return self._parse(Reply.from_json, data)

    async def append(self, message: AppendRequest) -> Reply:
        """``POST /_replication/append``; 200 = applied, 409 = refused (see ``reason``)."""
        data = await self._request("POST", "/_replication/append", json_body=message.to_json())
        return self._parse(Reply.from_json, data)

    async def fetch_log(self, after: int, limit: int, *, timeout: float | None = None) -> LogPage:
        """``GET /_replication/log?after=&limit=``: up to ``limit`` entries with lsn > ``after``.

        ``timeout`` (if given and larger than ``peer_timeout``) allows for big pages on a slow link.
        """
        data = await self._request(
            "GET",
            "/_replication/log",
            params={"after": after, "limit": limit},
            accept=(200,),
            timeout=self._timeout if timeout is None else max(timeout, self._timeout),
        )
        return self._parse(LogPage.from_json, data)

    async def _request(
        self,
        method: str,
        path: str,
        *,
        json_body: dict[str, object] | None = None,
        params: dict[str, int] | None = None,
        accept: tuple[int, ...] = (200, 409),
        timeout: float | None = None,
    ) -> object:
        try:
            response = await self._client.request(
                method,
                path,
                json=json_body,
                params=params,
                timeout=self._timeout if timeout is None else timeout,
            )
        except httpx.TimeoutException as error:
            raise PeerUnavailable(f"{method} {path}: no answer within the timeout ({type(error).__name__})") from error
        except httpx.HTTPError as error:
            raise PeerUnavailable(f"{method} {path}: {type(error).__name__}: {error}") from error
        if response.status_code not in accept:
            raise PeerUnavailable(f"{method} {path}: HTTP {response.status_code}")
        try:
            return json.loads(response.content)
        except ValueError as error:
            raise PeerUnavailable(f"{method} {path}: answer is not JSON") from error

    @staticmethod
    def _parse(parser: Callable[[object], T], data: object) -> T:
        try:
            return parser(data)
        except ProtocolError as error:
            raise PeerUnavailable(f"peer answered outside the protocol: {error}") from error
