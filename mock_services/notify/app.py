"""The notification sink's Starlette application.

* ``POST /notifications`` -- body a JSON object with string ``event`` and ``source``
  (everything else kept as sent: ``t``, ``reason``, ``id``...). 201 with the stored notification
  (``seq``, ``received_at`` added); 200 with the first copy when its ``id`` was seen before.
  400 ``invalid-notification`` naming the field, 415, 413 (over 64 KiB).
* ``GET /notifications?since=<epoch s>&event=&source=`` -- 200 ``{"notifications": [...],
  "until": <received_at of the last one, or since>}`` oldest first; poll with ``since=until``.
* ``GET /health`` -- 200 ``{"status": "ok", "name", "datacenter", "role": "sink", "stored"}``.
* ``GET /metrics`` -- Prometheus text, ``notifications_total{event}``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator

from prometheus_client import Counter
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mock_services.common.eventlog import log_event
from mock_services.common.service import Metrics, ServiceMiddleware, http_exception_handler, json_error
from mock_services.notify.config import Config
from mock_services.notify.store import Store

MAX_BODY_BYTES = 64 * 1024


def create_app(config: Config) -> Starlette:
    """Build the sink. ``app.state.store``: the :class:`Store`."""
    store = Store(config.db_path)
    metrics = Metrics()
    received = Counter("notifications_total", "Notifications stored", ["event"], registry=metrics.registry)

    async def post(request: Request) -> Response:
        content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
        if content_type != "application/json":
            detail = f"Content-Type must be application/json, got {content_type!r}"
            return json_error(415, "unsupported-media-type", detail)
        raw = await request.body()
        if len(raw) > MAX_BODY_BYTES:
            return json_error(413, "body-too-large", f"the body is larger than {MAX_BODY_BYTES} bytes")
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as error:
            return json_error(400, "invalid-json", f"the body is not valid JSON: {error}")
        if not isinstance(body, dict):
            return json_error(400, "invalid-notification", "the body must be a JSON object")
        for field in ("event", "source"):
            if not isinstance(body.get(field), str) or not body[field]:
                return json_error(400, "invalid-notification", f"{field} is required: a non-empty string")
        if "t" in body and not isinstance(body["t"], int | float):
            return json_error(400, "invalid-notification", "t must be a number (epoch seconds)")
        stored, new = store.add(body)
        if new:
            received.labels(body["event"]).inc()
            log_event("notification", notification=body["event"], source=body["source"],
                      reason=body.get("reason", "-"))  # fmt: skip
        return JSONResponse(stored, status_code=201 if new else 200)

    async def listing(request: Request) -> Response:
        params = request.query_params
        unknown = sorted(set(params) - {"since", "event", "source"})
        if unknown:
            detail = f"unknown query parameter {unknown[0]!r} (since, event, source)"
            return json_error(400, "invalid-parameter", detail)
        try:
            since = float(params.get("since", "0"))
        except ValueError:
            return json_error(400, "invalid-parameter", f"since must be epoch seconds, got {params.get('since')!r}")
        found = store.since(since, params.get("event"), params.get("source"))
        until = found[-1]["received_at"] if found else since
        return JSONResponse({"notifications": found, "until": until})

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "name": config.name, "datacenter": config.datacenter, "role": "sink",
                             "stored": store.count()})  # fmt: skip

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        log_event("start", db=config.db_path or ":memory:", stored=store.count())
        try:
            yield
        finally:
            store.close()
            log_event("stop")

    app = Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            Route("/metrics", metrics.endpoint, methods=["GET"]),
            Route("/notifications", post, methods=["POST"]),
            Route("/notifications", listing, methods=["GET"]),
        ],
        middleware=[Middleware(ServiceMiddleware, name=config.name, datacenter=config.datacenter, metrics=metrics)],
        exception_handlers={HTTPException: http_exception_handler},
        lifespan=lifespan,
    )
    app.state.store = store
    return app
