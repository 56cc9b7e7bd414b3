"""Prometheus metrics of one EHR instance (``GET /metrics``), on a registry of its own.

HTTP (:class:`RequestMetrics`, fed by :meth:`RequestMetrics.observe_request` from the request
middleware, :class:`mock_services.common.middleware.RequestMiddleware`):

* ``ehr_http_requests_total{route, method, status}`` -- ``route`` is the route *template*
  (``/{resource_type}/{id}``), so cardinality stays bounded whatever the ids; ``unmatched``
  for requests no route took; ``status`` the one sent (500 when none was).
* ``ehr_http_request_duration_seconds{route}`` -- latency histogram (buckets 0.5 ms .. 10 s).

Replication (:class:`NodeCollector`, read from the node at scrape time, never stale):
``ehr_role{role}`` (1 for the current role), ``ehr_epoch``, ``ehr_lsn``,
``ehr_replication_lag_entries`` (entries the standby is behind; absent while unknown),
``ehr_standby_in_sync`` (primary), ``ehr_promotions_total``, ``ehr_step_downs_total``,
``ehr_discarded_entries_total``, ``ehr_lease_held`` (fencing only), ``ehr_info{name, datacenter,
replication, fencing}``.

One registry per app (not the global default) so several instances can live in one test
process.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector
from starlette.types import Scope

from mock_services.ehr.protocol import Role
from mock_services.ehr.replication import Node

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class RequestMetrics:
    """The two HTTP metrics, with label children cached (``labels()`` is the costly part)."""

    def __init__(self, registry: CollectorRegistry, prefix: str) -> None:
        self.requests = Counter(
            f"{prefix}_http_requests",
            "HTTP requests by route template, method and status",
            ["route", "method", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            f"{prefix}_http_request_duration_seconds",
            "HTTP request latency by route template",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._counters: dict[tuple[str, str, int], Counter] = {}
        self._histograms: dict[str, Histogram] = {}
        self._templates: dict[str, str] = {}

    def template(self, path: str | None) -> str:
        """The label for a route path: ``/{resource_type:ehr_resource_type}/{id}`` ->
        ``/{resource_type}/{id}`` (convertor names are an implementation detail)."""
        if path is None:
            return "unmatched"
        label = self._templates.get(path)
        if label is None:
            label = self._templates[path] = re.sub(r":[A-Za-z_]+}", "}", path)
        return label

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = self.requests.labels(route, method, str(status))
        counter.inc()
        histogram = self._histograms.get(route)
        if histogram is None:
            histogram = self._histograms[route] = self.latency.labels(route)
        histogram.observe(seconds)

    def observe_request(self, scope: Scope, status: int, seconds: float) -> None:
        """Record one finished request (the middleware's ``observe`` hook)."""
        self.observe(self.template(getattr(scope.get("route"), "path", None)), scope["method"], status, seconds)


class NodeCollector(Collector):
    """Replication state, read from the node at each scrape."""

    def __init__(self, node: Node) -> None:
        self.node = node

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily | InfoMetricFamily]:
        node, config = self.node, self.node.config
        info = InfoMetricFamily("ehr", "who this instance is")
        info.add_metric(
            [],
            {
                "name": config.name,
                "datacenter": config.datacenter,
                "replication": config.replication.value,
                "fencing": "on" if config.fencing else "off",
            },
        )
        yield info
        role = GaugeMetricFamily("ehr_role", "1 for the instance's current role", labels=["role"])
        for candidate in Role:
            role.add_metric([candidate.value], 1.0 if node.role is candidate else 0.0)
        yield role
        yield GaugeMetricFamily("ehr_epoch", "replication term", value=node.epoch)
        yield GaugeMetricFamily("ehr_lsn", "last log sequence number", value=node.store.last_lsn)
        lag = node.replication_lag()
        if lag is not None:
            yield GaugeMetricFamily("ehr_replication_lag_entries", "entries the standby is behind", value=lag)
        if node.role is Role.PRIMARY and config.has_peer:
            yield GaugeMetricFamily("ehr_standby_in_sync", "1 if the standby is level", value=float(node.in_sync))
        yield CounterMetricFamily("ehr_promotions", "promotions to primary", value=node.promotions)
        yield CounterMetricFamily("ehr_step_downs", "step-downs from primary", value=node.step_downs)
        yield CounterMetricFamily(
            "ehr_discarded_entries", "log entries discarded by resyncs", value=node.store.discarded_total
        )
        lease = node.lease
        if lease is not None:
            held = float(lease.held())
            yield GaugeMetricFamily("ehr_lease_held", "1 while this instance holds the primary lease", value=held)
