"""One engine: the store, the MLLP listener, the forwarder and the HTTP admin API, wired.

:func:`create_app` opens the store at once (an app that exists has a usable store); the
app's lifespan starts the MLLP listener and the forwarder and, at shutdown, stops them and
closes the store. So once ``GET /health`` answers, the MLLP port accepts connections.
``app.state.engine`` is the :class:`Engine` (tests read the bound MLLP port from it).

HTTP endpoints (JSON; every response carries ``X-Served-By`` and ``X-Datacenter``):

* ``GET /health`` -- 200 ``{"status": "ok", "name", "datacenter", "role": "active",
  "mllp_port", "destination", "queue_depth", "oldest_undelivered_age_s", "messages":
  {status: count}}``. Both engines are always active (senders pick primary and backup).
* ``GET /metrics`` -- Prometheus text (see :mod:`.metrics`).
* ``GET /messages?status=&limit=&after=`` -- ``{"messages": [...], "next_after": seq|null}``:
  stored messages by arrival (``seq > after``), at most ``limit`` (1..1000, default 100),
  optionally of one status (queued, delivered, errored, no-destination); no ``raw`` text.
  Page on with ``after=next_after`` until it is null.
* ``GET /messages/{control_id}?sender=`` -- the stored message with that MSH-10 (and MSH-3
  ``sender``), ``raw`` text included; 404 if none; 409 listing the senders when several
  senders used that MSH-10 and ``sender`` was not given.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator

import httpx
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Route
from starlette.types import Scope

from mock_services.common.middleware import Observe, RequestMiddleware
from mock_services.messaging.config import Config
from mock_services.messaging.destination import FHIR_DESTINATION, FhirDestination
from mock_services.messaging.eventlog import log_event, logger
from mock_services.messaging.forwarder import Forwarder
from mock_services.messaging.listener import Listener
from mock_services.messaging.metrics import Metrics
from mock_services.messaging.store import STATUSES, Reader, Store

MAX_LIMIT = 1000


class Engine:
    """Everything one engine runs; ``start``/``stop`` are called by the app's lifespan."""

    def __init__(self, config: Config, fhir_transport: httpx.BaseTransport | None = None) -> None:
        self.config = config
        self.metrics = Metrics()
        self.store = Store(config.db_path, config.synchronous)
        self.reader: Reader = self.store.reader()
        self.metrics.watch_queue(self.reader.queue_stats)
        self.metrics.watch_store(lambda: (self.store.commits, self.store.committed_jobs))
        self.listener = Listener(config, self.store, self.metrics)
        self.destination: FhirDestination | None = None
        self.forwarder: Forwarder | None = None
        if config.destination_fhir:
            self.destination = FhirDestination(
                config.destination_fhir, config.forward_timeout, config.dedup_key, fhir_transport
            )
            self.forwarder = Forwarder(
                self.store,
                FHIR_DESTINATION,
                self.destination.deliver,
                self.metrics,
                retry_interval=config.forward_retry_interval,
                max_attempts=config.forward_max_attempts,
                rotate=config.rotate,
            )

    @property
    def mllp_port(self) -> int:
        return self.listener.port

    async def start(self) -> None:
        await self.listener.start()
        if self.forwarder is not None:
            self.forwarder.start()
        depth, _ = self.reader.queue_stats()
        log_event(
            "start",
            mllp_port=self.mllp_port,
            destination=self.config.destination_fhir or "none",
            queued=depth,
            rotate=self.config.rotate,
            dedup=self.config.dedup_key,
            synchronous=self.config.synchronous.value,
        )

    async def stop(self) -> None:
        await self.listener.stop()
        stopped = True
        if self.forwarder is not None:
            stopped = self.forwarder.stop(join_timeout=min(2.0, self.config.forward_timeout + 0.5))
        if stopped and self.destination is not None:
            self.destination.close()
        self.store.close()
        depth, _ = self.reader.queue_stats()
        self.reader.close()
        log_event("stop", queued=depth, forwarder_stopped=stopped)


def _observer(metrics: Metrics, routes: list[Route]) -> Observe:
    """Request count and latency by the route that fully matches the request (``unmatched``
    otherwise: a 405 is not filed under the route whose method it lacks)."""

    def observe(scope: Scope, status: int, seconds: float) -> None:
        route = next((r.path for r in routes if r.matches(scope)[0] is Match.FULL), "unmatched")
        metrics.http_requests.labels(route, scope.get("method", ""), str(status)).inc()
        metrics.http_latency.labels(route).observe(seconds)

    return observe


def _internal_error(status: int, detail: str) -> Response:
    """The engine's last-resort answer (its error shape: ``{"error": <sentence>}``)."""
    return JSONResponse({"error": "internal error (logged)"}, status)


def create_app(config: Config, *, fhir_transport: httpx.BaseTransport | None = None) -> Starlette:
    """Build the engine and its app. ``fhir_transport``: an httpx transport for the destination (tests)."""
    engine = Engine(config, fhir_transport)
    reader = engine.reader

    async def health(request: Request) -> Response:
        depth, oldest = reader.queue_stats()
        return JSONResponse(
            {
                "status": "ok",
                "name": config.name,
                "datacenter": config.datacenter,
                "role": "active",
                "mllp_port": engine.mllp_port,
                "destination": config.destination_fhir,
                "queue_depth": depth,
                "oldest_undelivered_age_s": None if oldest is None else round(max(0.0, time.time() - oldest), 3),
                "messages": reader.counts(),
            }
        )

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(engine.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def list_messages(request: Request) -> Response:
        status = request.query_params.get("status") or None
        if status is not None and status not in STATUSES:
            return JSONResponse({"error": f"status must be one of {', '.join(STATUSES)}, got {status!r}"}, 400)
        try:
            limit = int(request.query_params.get("limit", "100"))
            after = int(request.query_params.get("after", "0"))
        except ValueError:
            return JSONResponse({"error": "limit and after must be integers"}, 400)
        if not 1 <= limit <= MAX_LIMIT:
            return JSONResponse({"error": f"limit must be 1..{MAX_LIMIT}, got {limit}"}, 400)
        found = reader.list(status, limit, after)
        next_after = found[-1].seq if len(found) == limit else None
        return JSONResponse({"messages": [m.to_json(with_raw=False) for m in found], "next_after": next_after})

    async def get_message(request: Request) -> Response:
        control_id = request.path_params["control_id"]
        found = reader.find(control_id, request.query_params.get("sender"))
        if not found:
            return JSONResponse({"error": f"no stored message with MSH-10 {control_id!r}"}, 404)
        if len(found) > 1:
            senders = [m.sender for m in found]
            return JSONResponse({"error": "several senders used this MSH-10; add ?sender=", "senders": senders}, 409)
        return JSONResponse(found[0].to_json(with_raw=True))

    routes = [
        Route("/health", health, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/messages", list_messages, methods=["GET"]),
        Route("/messages/{control_id:path}", get_message, methods=["GET"]),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await engine.start()
        try:
            yield
        finally:
            await engine.stop()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.add_middleware(
        RequestMiddleware,
        name=config.name,
        datacenter=config.datacenter,
        error_response=_internal_error,
        logger=logger,
        observe=_observer(engine.metrics, routes),
        error_format="event=http-error method=%s path=%s",
    )
    app.state.engine = engine
    return app
