"""The testing seam: run EHR instances in-process over httpx's ASGI transport.

In-process apps run their lifespan (so the replication task runs) inside the caller's event
loop; two apps can be wired to each other through :class:`Link`, which can be cut to
simulate a partition of the replication link -- fast, deterministic tests of step-down,
tie-break and resync without processes or sockets. Used by the tests; usable by anyone who
wants a fake EHR pair (the real one is ``python -m mock_services.ehr``).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

from mock_services.ehr.app import create_app
from mock_services.ehr.config import Config, ConfiguredRole, ReplicationMode
from mock_services.ehr.replication import Node


class Link:
    """An ASGI app forwarding to ``target`` (set later, so two apps can point at each other).

    ``cut = True`` makes every request fail like an unreachable peer (httpx.ConnectError).
    """

    def __init__(self) -> None:
        self.target: ASGIApp | None = None
        self.cut = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.cut or self.target is None:
            raise httpx.ConnectError("replication link cut (test)")
        await self.target(scope, receive, send)


def make_config(directory: Path, name: str, role: ConfiguredRole, *, peer: bool, **overrides: Any) -> Config:
    """A config for in-process use: db ``<directory>/<name>.sqlite``, datacenter ``dc-<last
    letter of name>``, fast timings (heartbeat 0.05 s, peer timeout 0.2 s, promote after
    0.5 s), sync mode, and a placeholder peer URL when ``peer`` (the transport, not the URL,
    decides where peer traffic goes). ``overrides``: any other :class:`Config` field."""
    config = Config(
        name=name,
        datacenter=f"dc-{name[-1]}",
        role=role,
        db_path=directory / f"{name}.sqlite",
        peer_url="http://peer.test" if peer else None,
        replication=ReplicationMode.SYNC,
        promote_after=0.5,
        heartbeat_interval=0.05,
        peer_timeout=0.2,
    )
    return dataclasses.replace(config, **overrides)


def node_of(app: Starlette) -> Node:
    """The replication node of an app made by :func:`create_app`."""
    node = app.state.node
    assert isinstance(node, Node)
    return node


@asynccontextmanager
async def serving(app: Starlette, base_url: str = "http://ehr.test") -> AsyncIterator[httpx.AsyncClient]:
    """Run ``app``'s lifespan and yield a client talking to it in-process."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            yield client


def app_with_link(config: Config) -> tuple[Starlette, Link]:
    """An app whose peer traffic goes through a new :class:`Link` (point it at the peer)."""
    link = Link()
    return create_app(config, peer_transport=httpx.ASGITransport(app=link)), link


async def eventually(check: Callable[[], Awaitable[bool]] | Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``check`` every 20 ms until it is true; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s: {what}")
        await anyio.sleep(0.02)


@dataclass
class InProcessPair:
    """Two in-process instances wired to each other. ``a_to_b`` carries A's requests to B."""

    a: httpx.AsyncClient
    b: httpx.AsyncClient
    node_a: Node
    node_b: Node
    a_to_b: Link
    b_to_a: Link

    def partition(self, cut: bool = True) -> None:
        """Cut (or heal) the replication link in both directions."""
        self.a_to_b.cut = self.b_to_a.cut = cut


@asynccontextmanager
async def running_pair(
    directory: Path,
    *,
    role_a: ConfiguredRole = ConfiguredRole.PRIMARY,
    role_b: ConfiguredRole = ConfiguredRole.STANDBY,
    partitioned: bool = False,
    **overrides: Any,
) -> AsyncIterator[InProcessPair]:
    """Start ``ehr-a`` (dc-a) and ``ehr-b`` (dc-b) in-process, peers of each other.

    ``partitioned``: the link is cut before either starts (e.g. to make two primaries).
    ``overrides`` go to both configs (see :func:`make_config` for the defaults).
    """
    app_a, a_to_b = app_with_link(make_config(directory, "ehr-a", role_a, peer=True, **overrides))
    app_b, b_to_a = app_with_link(make_config(directory, "ehr-b", role_b, peer=True, **overrides))
    a_to_b.target, b_to_a.target = app_b, app_a
    a_to_b.cut = b_to_a.cut = partitioned
    async with serving(app_a, "http://ehr-a.test") as a, serving(app_b, "http://ehr-b.test") as b:
        yield InProcessPair(a, b, node_of(app_a), node_of(app_b), a_to_b, b_to_a)
