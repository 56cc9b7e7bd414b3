"""The notification sink's Starlette application.

* ``POST /notifications`` -- body a JSON object with string ``event`` and ``source``, and if
  given a number ``t``, a non-empty string ``id``, a string ``reason`` (everything else kept
  as sent). 201 with the stored notification (``seq``, ``received_at`` added); 200 with the
  first copy when its ``id`` was seen before. 400 ``invalid-notification`` naming the field,
  400 ``invalid-json`` (strict JSON: :mod:`mock_services.common.jsonbody` -- no NaN, no lone
  surrogate, at most 100 deep), 415, 413 (over 64 KiB).
* ``GET /notifications?since=<epoch s>&event=&source=`` -- 200 ``{"notifications": [...],
  "until": <received_at of the last one, or since>}`` oldest first; poll with ``since=until``.
  ``since`` is a finite number (400 otherwise: ``nan`` or ``inf`` is no time).
* ``GET /health`` -- 200 ``{"status": "ok", "name", "datacenter", "role": "sink", "stored"}``.
* ``GET /metrics`` -- Prometheus text, ``notifications_total{event}``.
* ``GET /openapi.json`` -- the OpenAPI document, built from the same table as the routes.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncIterator

from prometheus_client import Counter
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mock_services.common import jsonbody, openapi
from mock_services.common.eventlog import log_event
from mock_services.common.openapi import Operation, error, json_body, prometheus_metrics, query, ref, response
from mock_services.common.service import Metrics, ServiceMiddleware, http_exception_handler, json_error
from mock_services.notify.config import Config
from mock_services.notify.store import Store

MAX_BODY_BYTES = 64 * 1024
_NOTIFICATION_FIELDS = {
    "event": {"type": "string", "minLength": 1, "description": "downtime | restored | ..."},
    "source": {"type": "string", "minLength": 1, "description": "who sends it (care-1...)"},
    "t": {"type": "number", "description": "when the sender noticed (epoch seconds)"},
    "id": {"type": "string", "minLength": 1, "description": "the sender's id: a second copy is not stored"},
    "reason": {"type": "string"},
}
DESCRIPTION = openapi.ApiDescription(
    title="notify (out-of-band notification sink)",
    version="1",
    description="Stores downtime / restored notifications with their receive time; see mock_services.notify.",
    schemas={
        "NotificationRequest": {"type": "object", "required": ["event", "source"],
                                "properties": _NOTIFICATION_FIELDS, "additionalProperties": True},
        "Notification": {
            "type": "object",
            "required": ["event", "source", "seq", "received_at"],
            "properties": {**_NOTIFICATION_FIELDS, "seq": {"type": "integer", "minimum": 1},
                           "received_at": {"type": "number", "description": "the sink's clock, epoch seconds"}},
        },
        "Listing": {
            "type": "object",
            "required": ["notifications", "until"],
            "properties": {"notifications": {"type": "array", "items": ref("Notification")},
                           "until": {"type": "number", "description": "the since of the next poll"}},
        },
        "Health": {
            "type": "object",
            "required": ["status", "name", "datacenter", "role", "stored"],
            "properties": {"status": {"enum": ["ok"]}, "name": {"type": "string"}, "datacenter": {"type": "string"},
                           "role": {"enum": ["sink"]}, "stored": {"type": "integer", "minimum": 0}},
        },
    },
)  # fmt: skip


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
            body = jsonbody.loads(raw)
        except jsonbody.InvalidJson as invalid:
            return json_error(400, "invalid-json", f"the body is not valid JSON: {invalid}")
        if not isinstance(body, dict):
            return json_error(400, "invalid-notification", "the body must be a JSON object")
        for field in ("event", "source"):
            if not isinstance(body.get(field), str) or not body[field]:
                return json_error(400, "invalid-notification", f"{field} is required: a non-empty string")
        if "t" in body and (isinstance(body["t"], bool) or not isinstance(body["t"], int | float)):
            return json_error(400, "invalid-notification", "t must be a number (epoch seconds)")
        if "id" in body and (not isinstance(body["id"], str) or not body["id"]):  # else never de-duplicated
            return json_error(400, "invalid-notification", "id must be a non-empty string when given")
        if "reason" in body and not isinstance(body["reason"], str):
            return json_error(400, "invalid-notification", "reason must be a string when given")
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
            since = math.nan
        if not math.isfinite(since):
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

    operations = [
        Operation("GET", "/health", health, "liveness and how many are stored", {200: response("ok", ref("Health"))}),
        Operation("GET", "/metrics", metrics.endpoint, "Prometheus metrics", {200: prometheus_metrics()}),
        Operation("POST", "/notifications", post, "store a notification (once per id)",
                  {201: response("stored", ref("Notification")),
                   200: response("already stored under this id: the first copy", ref("Notification")),
                   400: error("not JSON, or a field is missing or of the wrong type (named)"),
                   413: error(f"body over {MAX_BODY_BYTES} bytes"), 415: error("not application/json")},
                  body=json_body(ref("NotificationRequest"))),
        Operation("GET", "/notifications", listing, "notifications received after since, oldest first",
                  {200: response("the notifications and the next since", ref("Listing")),
                   400: error("an unknown parameter, or since is not a finite number")},
                  [query("since", {"type": "number"}, "epoch seconds (default 0)"),
                   query("event", {"type": "string"}), query("source", {"type": "string"})]),
    ]  # fmt: skip
    app = Starlette(
        routes=DESCRIPTION.routes(operations),
        middleware=[Middleware(ServiceMiddleware, name=config.name, datacenter=config.datacenter, metrics=metrics)],
        exception_handlers={HTTPException: http_exception_handler},
        lifespan=lifespan,
    )
    app.state.store = store
    return app
