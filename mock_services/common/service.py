"""Plumbing of the small JSON services (labs, scheduling, notify, care): identity headers, metrics, JSON errors.

* :class:`ServiceMiddleware` stamps ``X-Served-By`` / ``X-Datacenter`` on every response
  (errors included), counts requests by route template, method and status, times them, and
  turns an unhandled exception into a logged 500 ``{"error": "internal", "detail"}`` (the
  mechanics: :mod:`.middleware`).
* :class:`Metrics` keeps its own registry, so several apps can live in one test process.
* Serving (SIGTERM/SIGINT end the process with status 0) is :func:`mock_services.common.serve.serve`.
"""

from __future__ import annotations

import json

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Scope

from mock_services.common.eventlog import logger
from mock_services.common.middleware import RequestMiddleware, route_template


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

    def observe(self, scope: Scope, status: int, seconds: float) -> None:
        """Count and time one request (a :data:`~.middleware.Observe` hook)."""
        route, method = route_template(scope), scope.get("method", "")
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method).observe(seconds)

    async def endpoint(self, request: Request) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class ServiceMiddleware(RequestMiddleware):
    """:class:`~.middleware.RequestMiddleware` for the small JSON services: identity headers,
    :class:`Metrics` by route template, and a logged 500 ``{"error": "internal", "detail"}``
    for an unhandled exception (no body limit)."""

    def __init__(self, app: ASGIApp, name: str, datacenter: str, metrics: Metrics) -> None:
        super().__init__(
            app, name=name, datacenter=datacenter, error_response=_internal, logger=logger, observe=metrics.observe
        )
        self.metrics = metrics


def _internal(status: int, detail: str) -> Response:
    return json_error(status, "internal", detail)
