"""The Starlette application of one imaging instance: wiring, identity headers, health.

:func:`create_app` opens the storage, loads the seed data if asked (synchronously, logging
progress: the app that exists is ready to serve) and builds the routes; the app's lifespan
runs the replication shipper (archive with ``replica_url``) and closes the store at shutdown.
``app.state.service`` gives tests the :class:`Service`.

Endpoints besides DICOMweb (:mod:`.qido_api`, :mod:`.wado`, :mod:`.stow`):

* ``GET /health`` -- 200 ``{"status": "ok", "name", "datacenter", "role": "archive" |
  "replica", "writable", "studies", "series", "instances", "replication": {"backlog", ...}}``;
  an archive with a replica adds ``replica_url``, ``replica_reachable``, ``shipped_total``,
  ``last_shipped_at``, ``last_error``; a replica adds ``received_total`` and
  ``last_received_at``.
* ``GET /writable`` -- 200 on the archive, 503 on a replica: a health check for a front door
  that routes STOW only to where it can succeed.
* ``GET /metrics`` -- Prometheus text (:mod:`.metrics`).

Every response carries ``X-Served-By`` and ``X-Datacenter``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mock_services.common.openapi import Operation, prometheus_metrics, response
from mock_services.imaging import api
from mock_services.imaging.config import Config
from mock_services.imaging.dicomjson import dumps
from mock_services.imaging.eventlog import log_event, logger
from mock_services.imaging.metrics import CONTENT_TYPE_LATEST, Metrics
from mock_services.imaging.qido_api import qido_operations
from mock_services.imaging.replication import Shipper
from mock_services.imaging.responses import Problem, error_response
from mock_services.imaging.seed import load_synthetic
from mock_services.imaging.service import Service
from mock_services.imaging.store import Store
from mock_services.imaging.stow import stow_operations
from mock_services.imaging.wado import wado_operations
from mock_services.imaging.wado_rendered import rendered_operations

MAX_BODY_BYTES = 64 * 1024 * 1024  # a STOW of a few hundred small images; nothing legit here is bigger


class _BodyTooLarge(Exception):
    pass


def _json(document: object) -> Response:
    return Response(dumps(document), media_type="application/json")


class ServiceMiddleware:
    """Identity headers on every response, request metrics, and JSON errors for a body over
    ``max_body`` bytes (413) or an unhandled exception (500, logged with its traceback) --
    which Starlette would answer in plain text, without our headers."""

    def __init__(self, app: ASGIApp, service: Service, max_body: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.service = service
        self.max_body = max_body
        self.identity = [
            (b"x-served-by", service.config.name.encode()),
            (b"x-datacenter", service.config.datacenter.encode()),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        responded = False
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
            nonlocal status, responded
            if message["type"] == "http.response.start":
                status, responded = message["status"], True
                message = {**message, "headers": [*message.get("headers", []), *self.identity]}
            await send(message)

        try:
            await self.app(scope, limited_receive, send_with_headers)
        except _BodyTooLarge:
            if responded:
                raise
            await error_response(413, f"request body larger than {self.max_body} bytes")(
                scope, receive, send_with_headers
            )
        except Exception:
            logger.exception("unhandled error in %s %s", scope.get("method"), scope.get("path"))
            if responded:  # too late for an error response: let the server drop the connection
                raise
            await error_response(500, "internal error (logged by the server)")(scope, receive, send_with_headers)
        finally:
            route = scope.get("route")
            label = getattr(route, "path", "unmatched")
            method = scope.get("method", "")
            metrics = self.service.metrics
            metrics.requests.labels(method, label, str(status)).inc()
            metrics.latency.labels(method, label).observe(time.perf_counter() - started)


async def _problem_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return error_response(exc.status, exc.message, exc.headers)


async def _http_exception_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return error_response(exc.status_code, str(exc.detail), exc.headers)


def create_app(config: Config, *, replica_transport: httpx.AsyncBaseTransport | None = None) -> Starlette:
    """Open ``config.storage``, load the seed data if asked, build the app.

    ``replica_transport``: where the shipper's HTTP goes (tests wire an in-process replica).
    """
    store = Store.open(config.storage)
    try:
        load_synthetic(store, config.seed, config.patients)
    except BaseException:
        store.close()
        raise
    metrics = Metrics(backlog=store.backlog)
    shipper = Shipper(config, store, metrics, replica_transport) if config.replica_url else None
    service = Service(config, store, metrics, shipper)

    async def health(request: Request) -> Response:
        return _json(service.health())

    async def writable(request: Request) -> Response:
        if service.writable:
            return _json({"writable": True, "name": config.name, "role": config.role.value})
        return error_response(503, f"{config.name} is a read-only {config.role.value}")

    async def metrics_endpoint(request: Request) -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        counts = store.counts()
        log_event("start", role=config.role.value, instances=counts["instances"], backlog=counts["backlog"])
        task = asyncio.create_task(shipper.run(), name=f"imaging-shipper-{config.name}") if shipper else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            store.close()
            log_event("stop", role=config.role.value)

    health_document = {"type": "object", "required": ["status", "name", "role", "writable"]}
    operations = [
        Operation("GET", "/health", health, "liveness, role, counts and replication state",
                  {200: response("the instance's state", health_document)}),
        Operation("GET", "/writable", writable, "a front door's health check for STOW: 200 only on the archive",
                  {200: response("the archive", {"type": "object"}), 503: api.error("a read-only replica")}),
        Operation("GET", "/metrics", metrics_endpoint, "Prometheus metrics", {200: prometheus_metrics()}),
        *qido_operations(service),
        *wado_operations(service),
        *rendered_operations(service),
        *stow_operations(service),
    ]  # fmt: skip
    routes = api.DESCRIPTION.routes(operations)
    app = Starlette(
        routes=routes,
        middleware=[Middleware(ServiceMiddleware, service=service, max_body=MAX_BODY_BYTES)],
        exception_handlers={Problem: _problem_handler, HTTPException: _http_exception_handler},
        lifespan=lifespan,
    )
    app.state.service = service
    return app

