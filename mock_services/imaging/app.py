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
from collections.abc import AsyncIterator

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from mock_services.common.middleware import RequestMiddleware
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


def _json(document: object) -> Response:
    return Response(dumps(document), media_type="application/json")


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
        middleware=[
            Middleware(
                RequestMiddleware,
                name=config.name,
                datacenter=config.datacenter,
                error_response=error_response,  # DICOM JSON; Starlette's would be plain text
                logger=logger,
                observe=service.metrics.observe_request,
                max_body=MAX_BODY_BYTES,
            )
        ],
        exception_handlers={Problem: _problem_handler, HTTPException: _http_exception_handler},
        lifespan=lifespan,
    )
    app.state.service = service
    return app

