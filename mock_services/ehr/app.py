"""The Starlette application of one EHR instance: routes, identity headers, error shapes.

:func:`create_app` opens the database, loads the base snapshot if asked (``patients`` > 0,
see :mod:`.baseload`; this is the only slow part of start-up, and it happens before the
server listens, so ``/health`` answering means the data is there) and builds the replication
:class:`Node` (so an app that exists has a usable store); the app's lifespan runs the node's
background task and closes everything at shutdown. ``app.state.node`` gives tests the node.

Endpoints besides FHIR (:mod:`.fhir`) and replication (:mod:`.replication_api`):

* ``GET /health`` -- always 200 once the server listens: ``{"status": "ok", "name",
  "datacenter", "role", "epoch", "lsn"}``; ``role`` is ``starting`` | ``primary`` | ``standby``.
* ``GET /primary`` -- 200 ``{"role": "primary", "name", "datacenter", "epoch", "lsn"}`` only
  while this instance is primary and accepts writes (with fencing: holds a valid lease),
  else 503 OperationOutcome. HAProxy's ``option httpchk GET /primary`` routes on it,
  Patroni-style.
* ``GET /metadata`` (CapabilityStatement), ``GET /openapi.json`` (:mod:`.capability`),
  ``GET /metrics`` (:mod:`.metrics`).

Every response carries ``X-Served-By``, ``X-Datacenter`` and ``X-Epoch`` (the epoch when the
response started), so a client behind HAProxy can tell which instance answered.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mock_services.common.middleware import RequestMiddleware
from mock_services.ehr.baseload import Dataset, ensure_base
from mock_services.ehr.capability import MAX_BODY_BYTES, capability_statement, openapi_document
from mock_services.ehr.config import Config
from mock_services.ehr.eventlog import log_event, logger
from mock_services.ehr.fhir import FhirApi, now_instant
from mock_services.ehr.lease import Lease, WitnessClient
from mock_services.ehr.metrics import NodeCollector, RequestMetrics
from mock_services.ehr.outcome import dumps, fhir_response, http_exception_handler, operation_outcome
from mock_services.ehr.peer import PeerClient
from mock_services.ehr.protocol import Role
from mock_services.ehr.replication import Node
from mock_services.ehr.replication_api import replication_routes
from mock_services.ehr.store import Store


def _json(document: dict[str, object], status_code: int = 200) -> Response:
    return Response(dumps(document), status_code=status_code, media_type="application/json")


def create_app(
    config: Config,
    *,
    peer_transport: httpx.AsyncBaseTransport | None = None,
    witness_transport: httpx.AsyncBaseTransport | None = None,
    dataset: Dataset | None = None,
) -> Starlette:
    """Open ``config.db_path`` (loading the base snapshot if ``config.patients`` > 0) and build
    the app. ``peer_transport`` / ``witness_transport``: see :class:`PeerClient` /
    :class:`WitnessClient`; ``dataset`` replaces the synthetic generator (tests).

    Raises :class:`~.baseload.BaseMismatch` if the database holds another base snapshot.
    """
    store = Store.open(config.db_path)
    try:
        ensure_base(store, config.seed, config.patients, dataset)
    except BaseException:
        store.close()
        raise
    peer = PeerClient(config.peer_url, config.peer_timeout, peer_transport) if config.peer_url else None
    witness = WitnessClient(config.witness_url, witness_transport) if config.fencing and config.witness_url else None
    lease = None
    if witness is not None:
        lease = Lease(
            witness,
            cluster=config.cluster,
            holder=config.name,
            ttl=config.lease_ttl,
            max_timeout=min(config.peer_timeout, config.lease_ttl / 2),
        )
    node = Node(config, store, peer, lease=lease)
    registry = CollectorRegistry()
    request_metrics = RequestMetrics(registry, "ehr")
    registry.register(NodeCollector(node))

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
        if node.writable():
            return _json({"role": node.role.value, **identity()})
        detail = "" if node.role is not Role.STARTING else " (still asking its peer who is primary)"
        return operation_outcome(
            503,
            f"{config.name} is {node.role.value} at epoch {node.epoch}, not the primary{detail}",
            code="transient",
        )

    async def metadata(request: Request) -> Response:
        base = str(request.base_url).rstrip("/")
        return fhir_response(capability_statement(base, config.name, config.datacenter, now_instant()[:10]))

    async def openapi(request: Request) -> Response:
        return _json(openapi_document(str(request.base_url).rstrip("/")))

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(node.run(), name=f"ehr-replication-{config.name}")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            if lease is not None and node.role is Role.PRIMARY:
                await lease.release()  # a clean stop: the successor need not wait for expiry
            if witness is not None:
                await witness.aclose()
            if peer is not None:
                await peer.aclose()
            store.close()
            log_event("stop", role=node.role.value, epoch=store.epoch, lsn=store.last_lsn)

    routes = [
        *FhirApi(node).routes(),  # first: the hot path; they only match upper-case first segments
        Route("/health", health, methods=["GET"]),
        Route("/primary", primary, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/metadata", metadata, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        *replication_routes(node),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(
                RequestMiddleware,
                name=config.name,
                datacenter=config.datacenter,
                error_response=operation_outcome,  # in FHIR's shape; Starlette's would be plain text
                logger=logger,
                max_body=MAX_BODY_BYTES,
                extra_headers=lambda: [(b"x-epoch", str(node.epoch).encode())],  # the epoch as the answer leaves
                observe=request_metrics.observe_request,
            ),
        ],
        exception_handlers={HTTPException: http_exception_handler},
        lifespan=lifespan,
    )
    app.state.node = node
    return app
