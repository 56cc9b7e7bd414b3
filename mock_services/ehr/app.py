"""The Starlette application of one EHR instance: routes, identity headers, error shapes.

:func:`create_app` opens the database and builds the replication :class:`Node` at once (so
an app that exists has a usable store); the app's lifespan runs the node's background task
and closes everything at shutdown. ``app.state.node`` gives tests the node.

Endpoints besides FHIR (:mod:`.fhir`) and replication (:mod:`.replication_api`):

* ``GET /health`` -- always 200 once the server listens: ``{"status": "ok", "name",
  "datacenter", "role", "epoch", "lsn"}``; ``role`` is ``starting`` | ``primary`` | ``standby``.
* ``GET /primary`` -- 200 ``{"role": "primary", "name", "datacenter", "epoch", "lsn"}`` only
  while this instance is primary (and so accepts writes), else 503 OperationOutcome. HAProxy's
  ``option httpchk GET /primary`` routes on it, Patroni-style.

Every response carries ``X-Served-By``, ``X-Datacenter`` and ``X-Epoch`` (the epoch when the
response started), so a client behind HAProxy can tell which instance answered.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mock_services.ehr.config import Config
from mock_services.ehr.eventlog import log_event, logger
from mock_services.ehr.fhir import PatientApi
from mock_services.ehr.outcome import dumps, http_exception_handler, operation_outcome
from mock_services.ehr.peer import PeerClient
from mock_services.ehr.protocol import Role
from mock_services.ehr.replication import Node
from mock_services.ehr.replication_api import replication_routes
from mock_services.ehr.store import Store

MAX_BODY_BYTES = 16 * 1024 * 1024  # a replication batch can be a few MB; nothing legit is bigger


class _BodyTooLarge(Exception):
    pass


class ServiceMiddleware:
    """Adds the identity headers to every response, and turns a body over ``max_body`` bytes
    (413) or an unhandled exception (500, logged with its traceback) into an OperationOutcome
    -- which Starlette's own handlers would answer in plain text, without our headers."""

    def __init__(self, app: ASGIApp, node: Node, max_body: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.node = node
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise _BodyTooLarge
            return message

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                config = self.node.config
                identity = [
                    (b"x-served-by", config.name.encode()),
                    (b"x-datacenter", config.datacenter.encode()),
                    (b"x-epoch", str(self.node.epoch).encode()),
                ]
                message = {**message, "headers": [*message.get("headers", []), *identity]}
            await send(message)

        try:
            await self.app(scope, limited_receive, send_with_headers)
            return
        except _BodyTooLarge:
            if started:
                raise
            response = operation_outcome(413, f"request body larger than {self.max_body} bytes")
        except Exception:
            logger.exception("unhandled error in %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            response = operation_outcome(500, "internal error (logged by the server)")
        await response(scope, receive, send_with_headers)


def _json(document: dict[str, object], status_code: int = 200) -> Response:
    return Response(dumps(document), status_code=status_code, media_type="application/json")


def create_app(config: Config, *, peer_transport: httpx.AsyncBaseTransport | None = None) -> Starlette:
    """Open ``config.db_path`` and build the app. ``peer_transport``: see :class:`PeerClient`."""
    store = Store.open(config.db_path)
    peer = PeerClient(config.peer_url, config.peer_timeout, peer_transport) if config.peer_url else None
    node = Node(config, store, peer)

    def identity() -> dict[str, object]:
        return {
            "name": config.name,
            "datacenter": config.datacenter,
            "epoch": node.epoch,
            "lsn": node.store.last_lsn,
        }

    async def health(request: Request) -> Response:
        return _json({"status": "ok", **identity(), "role": node.role.value})

    async def primary(request: Request) -> Response:
        if node.role is Role.PRIMARY:
            return _json({"role": node.role.value, **identity()})
        return operation_outcome(
            503,
            f"{config.name} is {node.role.value} at epoch {node.epoch}, not the primary",
            code="transient",
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(node.run(), name=f"ehr-replication-{config.name}")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            if peer is not None:
                await peer.aclose()
            store.close()
            log_event("stop", role=node.role.value, epoch=store.epoch, lsn=store.last_lsn)

    routes = [
        Route("/health", health, methods=["GET"]),
        Route("/primary", primary, methods=["GET"]),
        *PatientApi(node).routes(),
        *replication_routes(node),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(ServiceMiddleware, node=node)],
        exception_handlers={HTTPException: http_exception_handler},
        lifespan=lifespan,
    )
    app.state.node = node
    return app
