"""The care application's Starlette app: wiring, background tasks, /health, /metrics, stamps.

Background tasks (started by the lifespan, cancelled at shutdown):

* *probes* -- every ``probe_interval`` one cheap GET per configured dependency (EHR
  ``/metadata``, lab portal and scheduling ``/health``, imaging ``/studies?limit=1``) through
  its breaker, so an outage is detected even with no clinician traffic, and an open breaker's
  half-open probe happens on time (recovery detection). A probe is skipped while its breaker is
  open (it would be refused anyway).
* *snapshot* -- with downtime mode on: a refresh at start-up and every ``snapshot_interval``
  while in normal mode with the EHR's breaker closed, and right after recovery.
* *reconciliation* -- when downtime ends, and every ``probe_interval`` while entries wait and the
  EHR's breaker is closed (after a restart, or after an interrupted run).
* *notifications* -- the outbox sender (:mod:`.notify`).

Every response carries ``X-Served-By`` / ``X-Datacenter`` (:class:`ServiceMiddleware`) and the
mode stamp (``X-Care-Mode``...; added by :class:`StampMiddleware` where a handler did not).

* ``GET /health`` -- 200 ``{"status": "ok", "name", "datacenter", "role": "workstation",
  "mode", "snapshot": <state>, "queue_depth"}`` (the application serves in both modes).
* ``GET /metrics`` -- Prometheus: requests, latency, ``care_downtime_mode``,
  ``care_queue_depth``, ``care_snapshot_age_seconds``, ``care_breaker_state{dependency}``,
  ``care_requests_total{kind, outcome}``.
* ``GET /openapi.json`` -- the OpenAPI document (:mod:`.description`), from the same table as
  the routes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mock_services.care import downtime_api
from mock_services.care.api import CareApi
from mock_services.care.breaker import State
from mock_services.care.config import Config
from mock_services.care.context import Care, build
from mock_services.care.dependencies import Dependency, DependencyError
from mock_services.care.description import DESCRIPTION
from mock_services.care.downtime import DowntimeController
from mock_services.common.eventlog import log_event
from mock_services.common.openapi import Operation, prometheus_metrics, ref, response
from mock_services.common.service import ServiceMiddleware, http_exception_handler

SHUTDOWN_WAIT = 2.0
PROBE_PATHS = {"ehr": "metadata", "labs": "health", "scheduling": "health", "imaging": "studies?limit=1"}


class StampMiddleware:
    """Adds the mode stamp headers to any response that does not carry them yet."""

    def __init__(self, app: ASGIApp, controller: DowntimeController) -> None:
        self.app, self.controller = app, controller

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"x-care-mode" for name, _ in headers):
                    headers += [(k.lower().encode(), v.encode()) for k, v in self.controller.stamp().headers().items()]
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, stamped)


async def wait_event(event: asyncio.Event, timeout: float) -> None:
    """Until ``event`` is set or ``timeout`` elapses. (Not ``asyncio.wait_for``: on Python 3.11 it
    can swallow a cancellation that races with its own timeout, and a loop built on it may then
    never stop at shutdown.)"""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            await event.wait()


async def _probe(dependency: Dependency) -> None:
    if dependency.breaker.state is State.OPEN:
        return
    with contextlib.suppress(DependencyError):
        await dependency.request("GET", PROBE_PATHS[dependency.name], headers={"Accept": "*/*"})


class Background:
    """The background loops over one :class:`Care` (see the module docstring)."""

    def __init__(self, care: Care) -> None:
        self.care = care
        self.refresh_now = asyncio.Event()

    def _ehr_closed(self) -> bool:
        ehr = self.care.deps.get("ehr")
        return ehr is not None and ehr.breaker.state is State.CLOSED

    async def probes(self) -> None:
        while True:
            await asyncio.gather(*(_probe(d) for d in self.care.deps.values()))
            await asyncio.sleep(self.care.config.probe_interval)

    async def snapshots(self) -> None:
        if not self.care.config.downtime_mode:
            return
        while True:
            if not self.care.downtime and self._ehr_closed():
                await self.care.snapshotter.refresh()
            await wait_event(self.refresh_now, self.care.config.snapshot_interval)
            self.refresh_now.clear()

    async def reconciliation(self) -> None:
        controller = self.care.controller
        while True:
            await wait_event(controller.restored, self.care.config.probe_interval)
            restored = controller.restored.is_set()
            controller.restored.clear()
            if not self.care.downtime and self._ehr_closed() and self.care.queue.depth() > 0:
                await self.care.reconciler.run()
            if restored:
                self.refresh_now.set()  # a fresh snapshot, with the reconciled orders in it

    def tasks(self) -> list[Callable[[], Awaitable[None]]]:
        return [self.probes, self.snapshots, self.reconciliation, self.care.notifier.run]


def create_app(config: Config, *, transports: dict[str, httpx.AsyncBaseTransport] | None = None) -> Starlette:
    """Build the application. ``transports``: per dependency (and ``"notify"``), for tests.
    ``app.state.care``: the :class:`Care` (queue, snapshots, controller...)."""
    care = build(config, transports)
    background = Background(care)

    async def health(request: Request) -> Response:
        return JSONResponse({
            "status": "ok", "name": config.name, "datacenter": config.datacenter, "role": "workstation",
            "mode": care.controller.mode.value, "snapshot": care.snapshots.status(config.max_snapshot_age)["state"],
            "queue_depth": care.queue.depth(),
        })  # fmt: skip

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        snapshot = care.snapshots.status(config.max_snapshot_age)
        log_event("start", dependencies=",".join(care.deps) or "none", downtime_mode=config.downtime_mode,
                  snapshot=snapshot["state"], queued=care.queue.depth())  # fmt: skip
        tasks = [asyncio.ensure_future(loop()) for loop in background.tasks()]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            _, stuck = await asyncio.wait(tasks, timeout=SHUTDOWN_WAIT)  # bounded: never hang a shutdown
            if stuck:
                log_event("stop-incomplete", level=logging.WARNING, tasks=len(stuck))
            await care.aclose()
            log_event("stop")

    operations = [
        Operation("GET", "/health", health, "liveness, mode, snapshot state, queue depth",
                  {200: response("ok (in both modes)", ref("Health"))}),
        Operation("GET", "/metrics", care.metrics.endpoint, "Prometheus metrics", {200: prometheus_metrics()}),
        *CareApi(care).operations(),
        *downtime_api.operations(care),
    ]  # fmt: skip
    app = Starlette(
        routes=DESCRIPTION.routes(operations),
        middleware=[  # the stamp outermost, so even ServiceMiddleware's last-resort 500 carries it
            Middleware(StampMiddleware, controller=care.controller),
            Middleware(ServiceMiddleware, name=config.name, datacenter=config.datacenter, metrics=care.metrics),
        ],
        exception_handlers={HTTPException: http_exception_handler},
        lifespan=lifespan,
    )
    app.state.care = care
    app.state.background = background
    return app
