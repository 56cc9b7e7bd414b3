"""The scheduling service's Starlette application: wiring, start-up loading, /health, /metrics.

:func:`create_app` opens the store and, if it holds no schedule, loads the synthetic
hospital's staff, OR and scanner schedules (``config.seed``, ``config.patients``) in one
transaction, logging progress -- before the server listens, so "healthy" means "loaded". A
store that already holds schedules is kept as it is (a restart after a crash must not undo
the changes clients made): that is logged, with what it was loaded from.

* ``GET /health`` -- 200 ``{"status": "ok", "name", "datacenter", "role": "active", "schedules"}``.
* ``GET /metrics`` -- Prometheus text: requests by route/method/status, latency histogram,
  ``schedule_writes_total{operation, outcome}``.
* ``GET /openapi.json`` -- the OpenAPI document, from the same table as the routes.
* The schedules API: :mod:`.api`. Every response carries ``X-Served-By`` and ``X-Datacenter``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mock_services.common import openapi
from mock_services.common.eventlog import log_event
from mock_services.common.openapi import Operation, prometheus_metrics, ref, response
from mock_services.common.service import Metrics, ServiceMiddleware, http_exception_handler
from mock_services.scheduling.api import SCHEMAS, SchedulesApi
from mock_services.scheduling.config import Config
from mock_services.scheduling.store import Store
from mock_services.synthetic import SyntheticConfig, generate

PROGRESS_EVERY = 1000
DESCRIPTION = openapi.ApiDescription(
    title="scheduling (staff, OR and scanner schedules)",
    version="1",
    description="Versioned schedules with ETag / If-Match and a change feed; see mock_services.scheduling.",
    schemas={
        **SCHEMAS,
        "Health": {
            "type": "object",
            "required": ["status", "name", "datacenter", "role", "schedules"],
            "properties": {"status": {"enum": ["ok"]}, "name": {"type": "string"}, "datacenter": {"type": "string"},
                           "role": {"enum": ["active"]}, "schedules": {"type": "integer", "minimum": 0}},
        },
    },
)  # fmt: skip


def _with_progress(schedules: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for count, schedule in enumerate(schedules, 1):
        yield schedule
        if count % PROGRESS_EVERY == 0:
            log_event("load-progress", loaded=count)


def load_synthetic(store: Store, seed: int, patients: int) -> int:
    """Load the synthetic schedules into an empty store; returns how many were loaded (0 if the
    store already had data or ``patients`` is 0)."""
    existing = store.count()
    if existing:
        loaded_from = f"seed={store.meta('seed')} patients={store.meta('patients')}"
        level = logging.INFO
        if (store.meta("seed"), store.meta("patients")) != (str(seed), str(patients)) and patients:
            level = logging.WARNING  # the flags ask for other data: say plainly that they are ignored
        log_event("store-kept", level=level, schedules=existing, loaded_from=loaded_from)
        return 0
    if patients == 0:
        log_event("store-empty", detail="no synthetic data requested (--patients 0)")
        return 0
    data = generate(SyntheticConfig(seed=seed, patients=patients))
    log_event("load-start", seed=seed, patients=patients)

    def everything() -> Iterator[dict[str, Any]]:
        yield from data.staff_schedules()
        yield from data.or_schedules()

    count = store.load(_with_progress(everything()), {"seed": str(seed), "patients": str(patients)})
    log_event("load-done", schedules=count)
    return count


def create_app(config: Config) -> Starlette:
    """Open (and if empty, load) ``config.db_path`` and build the app. ``app.state.store``: the store."""
    store = Store.open(config.db_path)
    load_synthetic(store, config.seed, config.patients)
    metrics = Metrics()
    api = SchedulesApi(store, metrics)

    async def health(request: Request) -> Response:
        return JSONResponse(
            {"status": "ok", "name": config.name, "datacenter": config.datacenter, "role": "active",
             "schedules": store.count()}
        )  # fmt: skip

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        log_event("start", db=config.db_path, schedules=store.count())
        try:
            yield
        finally:
            store.close()
            log_event("stop")

    operations = [
        Operation("GET", "/health", health, "liveness and how many schedules", {200: response("ok", ref("Health"))}),
        Operation("GET", "/metrics", metrics.endpoint, "Prometheus metrics", {200: prometheus_metrics()}),
        *api.operations(),
    ]
    app = Starlette(
        routes=DESCRIPTION.routes(operations),
        middleware=[Middleware(ServiceMiddleware, name=config.name, datacenter=config.datacenter, metrics=metrics)],
        exception_handlers={HTTPException: http_exception_handler},
        lifespan=lifespan,
    )
    app.state.store = store
    return app
