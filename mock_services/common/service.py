"""Service plumbing shared by every route: identity headers, Prometheus metrics, JSON errors, serving.

* :class:`ServiceMiddleware` stamps ``X-Served-By`` / ``X-Datacenter`` on every response
  (errors included), counts requests by route template, method and status, times them, and
  turns an unhandled exception into a logged 500 ``{"error": "internal", "detail"}``.
* :class:`Metrics` keeps its own registry, so several apps can live in one test process.
* :func:`serve` runs uvicorn so that SIGTERM/SIGINT end the process with status 0.
"""

from __future__ import annotations

import json
import signal
import time
from types import FrameType

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mock_services.common import memtrace
from mock_services.common.eventlog import log_event, logger

SHUTDOWN_GRACE = 2  # seconds uvicorn drains open requests on SIGTERM


def json_error(status: int, error: str, detail: str) -> Response:
    """The error shape of every JSON endpoint: ``{"error": <code word>, "detail": <sentence>}``."""
    body = json.dumps({"error": error, "detail": detail}, ensure_ascii=False)
    return Response(body, status_code=status, media_type="application/json")


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 (no such route/method) in our JSON shape, with the exception's
    headers (a 405's ``Allow``, which RFC 9110 requires, was dropped)."""
    assert isinstance(exc, HTTPException)
    words = {404: "not-found", 405: "method-not-allowed"}
    response = json_error(exc.status_code, words.get(exc.status_code, "http-error"), str(exc.detail))
    response.headers.update(exc.headers or {})
    return response


class Metrics:
    """Request count and latency, plus whatever a service adds to :attr:`registry`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests_total", "HTTP requests", ["route", "method", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "http_request_duration_seconds", "HTTP request latency", ["route", "method"], registry=self.registry
        )

    async def endpoint(self, request: Request) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class ServiceMiddleware:
    """Identity headers, metrics and last-resort error handling around the whole app."""

    def __init__(self, app: ASGIApp, name: str, datacenter: str, metrics: Metrics) -> None:
        self.app = app
        self.identity = [(b"x-served-by", name.encode()), (b"x-datacenter", datacenter.encode())]
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started_at = time.perf_counter()
        status = 500
        started = False

        async def stamped_send(message: Message) -> None:
            nonlocal started, status
            if message["type"] == "http.response.start":
                started, status = True, message["status"]
                message = {**message, "headers": [*message.get("headers", []), *self.identity]}
            await send(message)

        try:
            await self.app(scope, receive, stamped_send)
        except Exception:
            logger.exception("unhandled error in %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            await json_error(500, "internal", "internal error (logged by the server)")(scope, receive, stamped_send)
        finally:
            route = scope.get("route")
            label = getattr(route, "path", "unmatched")  # the template: one series per route, not per id
            method = scope.get("method", "")
            self.metrics.requests.labels(label, method, str(status)).inc()
            self.metrics.latency.labels(label, method).observe(time.perf_counter() - started_at)


class _Server(uvicorn.Server):
    """uvicorn's server, but a graceful SIGTERM/SIGINT shutdown exits with status 0 (uvicorn
    re-raises the signal otherwise, and a supervisor could not tell a clean stop from a crash)."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if not self.should_exit:
            log_event("shutdown", signal=signal.Signals(sig).name)
        super().handle_exit(sig, frame)
        self._captured_signals.clear()


def serve(app: Starlette, host: str, port: int) -> None:
    """Serve ``app`` until SIGTERM/SIGINT (then drain for at most SHUTDOWN_GRACE seconds).

    ``HCHAOS_TRACEMALLOC=<directory>`` in the environment traces allocations meanwhile
    (:mod:`mock_services.common.memtrace`)."""
    memtrace.start_from_environment()
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        server_header=False,
        timeout_graceful_shutdown=SHUTDOWN_GRACE,
    )
    _Server(config).run()
