"""The witness's HTTP API (see the package docstring for the endpoints and the rules).

Request bodies (JSON objects):

* ``POST /lease`` -- ``{"cluster": str, "holder": str, "epoch": int >= 0, "ttl": number in
  (0, 300]}``. Answer ``{"granted", "reason", "cluster", "holder", "last_holder", "epoch",
  "expires_in"}``: 200 when granted (``reason`` ``acquired`` or ``renewed``), 409 when refused
  (``held`` / ``stale-epoch``; ``holder`` and ``epoch`` are the current ones).
* ``POST /lease/release`` -- ``{"cluster", "holder"}``; 200 ``released`` or 409 ``not-holder``.

Malformed bodies get 400 ``{"error": "<what was wrong>"}`` -- strict JSON
(:mod:`mock_services.common.jsonbody`), names at most 200 characters, ``epoch`` a 64-bit
integer (what SQLite stores); unknown routes 404 and wrong methods 405 in the same shape.
``GET /openapi.json`` describes every route (built from the same table as the routes).
Metrics (own registry): ``witness_http_requests_total{route, method, status}``,
``witness_http_request_duration_seconds{route}``, ``witness_lease_decisions_total{reason}``,
``witness_lease_epoch{cluster}``, ``witness_lease_active{cluster, holder}``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Scope

from mock_services.common import jsonbody, openapi
from mock_services.common.middleware import RequestMiddleware, route_template
from mock_services.common.openapi import Operation, json_body, path_param, prometheus_metrics, ref, response
from mock_services.witness.leases import Decision, LeaseTable, logger

MAX_TTL = 300.0
MAX_NAME = 200
MAX_EPOCH = 2**63 - 1  # SQLite INTEGER


class BadRequest(ValueError):
    """A request body that does not fit; the message names the field."""


def _field(body: dict[str, object], key: str, kind: type | tuple[type, ...]) -> object:
    if key not in body:
        raise BadRequest(f"missing field {key!r}")
    value = body[key]
    if isinstance(value, bool) or not isinstance(value, kind):
        raise BadRequest(f"field {key!r} has the wrong type: {value!r}")
    return value


def _name(body: dict[str, object], key: str) -> str:
    value = _field(body, key, str)
    assert isinstance(value, str)
    if not value.strip() or len(value) > MAX_NAME:
        raise BadRequest(f"field {key!r} must be a non-empty string of at most {MAX_NAME} characters")
    return value


async def _body(request: Request) -> dict[str, object]:
    try:
        body = jsonbody.loads(await request.body())
    except jsonbody.InvalidJson as error:
        raise BadRequest(f"body is not JSON: {error}") from None
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    return body


def _internal_error(status: int, detail: str) -> Response:
    """The witness's last-resort answer (its error shape has no ``detail`` field)."""
    return JSONResponse({"error": "internal error (logged)"}, status)


class _LeaseCollector(Collector):
    def __init__(self, table: LeaseTable) -> None:
        self.table = table

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = self.table.now()
        epochs = GaugeMetricFamily("witness_lease_epoch", "highest epoch granted per cluster", labels=["cluster"])
        active = GaugeMetricFamily(
            "witness_lease_active", "1 while the lease is held (by holder)", labels=["cluster", "holder"]
        )
        for state in self.table.all():
            epochs.add_metric([state.cluster], state.epoch)
            active.add_metric([state.cluster, state.holder or ""], 1.0 if state.active(now) else 0.0)
        yield epochs
        yield active


_NAME = {"type": "string", "minLength": 1, "maxLength": MAX_NAME, "pattern": r"\S"}
_LEASE_FIELDS = {
    "cluster": {"type": "string"},
    "holder": {"type": "string", "nullable": True, "description": "null once expired or released"},
    "last_holder": {"type": "string", "nullable": True},
    "epoch": {"type": "integer", "minimum": 0},
    "expires_in": {"type": "number", "minimum": 0},
}
DESCRIPTION = openapi.ApiDescription(
    title="witness (primary leases for fencing)",
    version="1",
    description="Grants one primary lease per cluster; see mock_services.witness.",
    schemas={
        "WitnessError": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
        "LeaseRequest": {
            "type": "object",
            "required": ["cluster", "holder", "epoch", "ttl"],
            "properties": {
                "cluster": _NAME,
                "holder": _NAME,
                "epoch": {"type": "integer", "minimum": 0, "maximum": MAX_EPOCH},
                "ttl": {"type": "number", "exclusiveMinimum": True, "minimum": 0, "maximum": MAX_TTL},
            },
        },
        "ReleaseRequest": {"type": "object", "required": ["cluster", "holder"],
                           "properties": {"cluster": _NAME, "holder": _NAME}},
        "Lease": {"type": "object", "required": list(_LEASE_FIELDS), "properties": _LEASE_FIELDS},
        "Decision": {
            "type": "object",
            "required": ["granted", "reason", "holder", "epoch"],
            "properties": {
                **_LEASE_FIELDS,
                "granted": {"type": "boolean"},
                "reason": {"type": "string",
                           "enum": ["acquired", "renewed", "released", "held", "stale-epoch", "not-holder"]},
            },
        },
        "Health": {
            "type": "object",
            "required": ["status", "name", "datacenter", "role", "leases"],
            "properties": {"status": {"enum": ["ok"]}, "name": {"type": "string"}, "datacenter": {"type": "string"},
                           "role": {"enum": ["witness"]}, "leases": {"type": "integer", "minimum": 0}},
        },
    },
)  # fmt: skip


def create_app(name: str, datacenter: str, table: LeaseTable) -> Starlette:
    """The witness app over ``table`` (closed at shutdown). ``app.state.table`` for tests."""
    registry = CollectorRegistry()
    requests = Counter("witness_http_requests", "HTTP requests", ["route", "method", "status"], registry=registry)
    latency = Histogram("witness_http_request_duration_seconds", "HTTP latency", ["route"], registry=registry)

    def observe(scope: Scope, status: int, seconds: float) -> None:
        route = route_template(scope)
        requests.labels(route, scope["method"], str(status)).inc()
        latency.labels(route).observe(seconds)

    decisions = Counter("witness_lease_decisions", "lease decisions by reason", ["reason"], registry=registry)
    registry.register(_LeaseCollector(table))

    def answer(decision: Decision) -> Response:
        decisions.labels(decision.reason).inc()
        state = decision.state.to_json(table.now()) if decision.state else {"holder": None, "epoch": 0}
        document = {"granted": decision.granted, "reason": decision.reason, **state}
        return JSONResponse(document, status_code=200 if decision.granted else 409)

    async def lease(request: Request) -> Response:
        try:
            body = await _body(request)
            cluster, holder = _name(body, "cluster"), _name(body, "holder")
            epoch = _field(body, "epoch", int)
            ttl = _field(body, "ttl", (int, float))
            assert isinstance(epoch, int) and isinstance(ttl, int | float)
            if not 0 <= epoch <= MAX_EPOCH:
                raise BadRequest(f"field 'epoch' must be in 0..{MAX_EPOCH}, got {epoch}")
            if not 0 < ttl <= MAX_TTL:
                raise BadRequest(f"field 'ttl' must be in (0, {MAX_TTL}] seconds, got {ttl}")
        except BadRequest as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        return answer(table.request(cluster, holder, epoch, float(ttl)))

    async def release(request: Request) -> Response:
        try:
            body = await _body(request)
            cluster, holder = _name(body, "cluster"), _name(body, "holder")
        except BadRequest as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        return answer(table.release(cluster, holder))

    async def show(request: Request) -> Response:
        state = table.get(request.path_params["cluster"])
        if state is None:
            return JSONResponse({"error": f"no lease for cluster {request.path_params['cluster']!r}"}, 404)
        return JSONResponse(state.to_json(table.now()))

    async def show_all(request: Request) -> Response:
        now = table.now()
        return JSONResponse({"leases": [state.to_json(now) for state in table.all()]})

    async def health(request: Request) -> Response:
        return JSONResponse(
            {"status": "ok", "name": name, "datacenter": datacenter, "role": "witness", "leases": len(table.all())}
        )

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return JSONResponse(
            {"error": f"{request.method} {request.url.path}: {exc.detail}"}, exc.status_code, headers=exc.headers
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            table.close()

    error = openapi.error
    bad = {400: error("malformed body (the field is named)", ref("WitnessError"))}
    operations = [
        Operation("POST", "/lease", lease, "acquire or renew a cluster's lease",
                  {200: response("granted", ref("Decision")), 409: response("refused: held or stale-epoch",
                   ref("Decision")), **bad}, body=json_body(ref("LeaseRequest"))),
        Operation("POST", "/lease/release", release, "end the holder's lease now",
                  {200: response("released", ref("Decision")), 409: response("not the holder", ref("Decision")),
                   **bad}, body=json_body(ref("ReleaseRequest"))),
        Operation("GET", "/lease/{cluster}", show, "one cluster's lease",
                  {200: response("the lease", ref("Lease")), 404: error("no lease", ref("WitnessError"))},
                  [path_param("cluster", {"type": "string"}, example="ehr")]),
        Operation("GET", "/leases", show_all, "every lease",
                  {200: response("leases by cluster", {"type": "object", "required": ["leases"],
                   "properties": {"leases": {"type": "array", "items": ref("Lease")}}})}),
        Operation("GET", "/health", health, "liveness", {200: response("ok", ref("Health"))}),
        Operation("GET", "/metrics", metrics, "Prometheus metrics", {200: prometheus_metrics()}),
    ]  # fmt: skip
    app = Starlette(
        routes=DESCRIPTION.routes(operations),
        middleware=[
            Middleware(
                RequestMiddleware,
                name=name,
                datacenter=datacenter,
                error_response=_internal_error,
                logger=logger,
                observe=observe,
            )
        ],
        exception_handlers={HTTPException: http_error},
        lifespan=lifespan,
    )
    app.state.table = table
    return app
