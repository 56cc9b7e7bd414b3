"""Prometheus metrics of one imaging instance (``GET /metrics``).

Each app has its own registry, so several in-process instances (tests) do not collide.

* ``imaging_http_requests_total{method, route, status}`` and
  ``imaging_http_request_duration_seconds{method, route}`` -- every request, labelled by the
  route *template* (``/studies/{study}``), never by the UIDs in the path;
* ``imaging_instances_stored_total{source}`` -- newly stored instances (``stow`` /
  ``replication``); ``imaging_stow_failures_total{reason}`` -- failed instances by Failure
  Reason (hex);
* ``imaging_replication_shipped_total`` and ``imaging_replication_backlog`` (archive) --
  instances acknowledged by the replica, and those still queued;
* the standard ``process_*`` families (resident memory, CPU seconds, open file descriptors).
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.types import Scope

from mock_services.common.middleware import route_template

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """The metric families of one instance; ``backlog`` is read at scrape time."""

    def __init__(self, backlog: Callable[[], float]) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)  # process_resident_memory_bytes, CPU, open fds
        self.requests = Counter(
            "imaging_http_requests", "HTTP requests served", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "imaging_http_request_duration_seconds",
            "HTTP request latency, until the response is sent",
            ["method", "route"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.stored = Counter(
            "imaging_instances_stored", "Newly stored DICOM instances", ["source"], registry=self.registry
        )
        self.failures = Counter(
            "imaging_stow_failures",
            "Instances refused by STOW-RS, by Failure Reason",
            ["reason"],
            registry=self.registry,
        )
        self.shipped = Counter(
            "imaging_replication_shipped", "Instances the replica acknowledged", registry=self.registry
        )
        backlog_gauge = Gauge(
            "imaging_replication_backlog", "Instances queued for the replica", registry=self.registry
        )
        backlog_gauge.set_function(backlog)

    def observe_request(self, scope: Scope, status: int, seconds: float) -> None:
        """Count and time one finished request (the request middleware's ``observe`` hook)."""
        route, method = route_template(scope), scope.get("method", "")
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
