"""Prometheus metrics of one engine, in a registry of its own (several engines can share a
process in tests). Served by ``GET /metrics``; names and labels are a contract for dashboards.

HTTP (every service has these): ``http_requests_total{route,method,status}``,
``http_request_duration_seconds{route}``.

MLLP: ``mllp_messages_total{message_type,ack_code}`` (every message that got a verdict;
``ack_code`` is the MSA-1 it was given, also when MSH-15 said not to send it),
``mllp_ack_latency_seconds`` (end of frame received -> ACK written, store commit included),
``mllp_stored_total`` / ``mllp_duplicates_total`` (idempotent receive),
``mllp_frames_rejected_total{reason}`` (unreadable, truncated, oversized, garbage, idle),
``mllp_garbage_bytes_total``, ``mllp_connections_total``, ``mllp_connections_open``.

Forwarding: ``forward_attempts_total{destination,outcome}`` (delivered | failed | errored),
``forward_retries_total{destination}`` (attempts after a message's first),
``forwarded_total{destination,message_type}``, ``forward_attempt_seconds{destination}``,
``forward_latency_seconds{destination}`` (received -> delivered), and, computed at each
scrape from the store, ``forward_queue_depth`` and ``forward_oldest_undelivered_age_seconds``.

Store: ``store_commits_total`` and ``store_committed_jobs_total`` (their ratio is the group
commit factor: writes sharing one fsync).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
FORWARD_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


class _QueueCollector(Collector):
    def __init__(self, stats: Callable[[], tuple[int, float | None]]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depth, oldest = self._stats()
        yield GaugeMetricFamily("forward_queue_depth", "Messages stored and not yet delivered", value=depth)
        age = 0.0 if oldest is None else max(0.0, time.time() - oldest)
        yield GaugeMetricFamily(
            "forward_oldest_undelivered_age_seconds", "Age of the oldest undelivered message", value=age
        )


class _StoreCollector(Collector):
    def __init__(self, counts: Callable[[], tuple[int, int]]) -> None:
        self._counts = counts

    def collect(self) -> Iterator[CounterMetricFamily]:
        commits, jobs = self._counts()
        yield CounterMetricFamily("store_commits", "Store transactions committed", value=commits)
        yield CounterMetricFamily("store_committed_jobs", "Store writes committed (messages and updates)", value=jobs)


class Metrics:
    """Every metric of one engine (see the module docstring)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.http_requests = Counter("http_requests", "HTTP requests served", ["route", "method", "status"], registry=r)
        self.http_latency = Histogram(
            "http_request_duration_seconds", "HTTP request latency", ["route"], buckets=LATENCY_BUCKETS, registry=r
        )
        self.messages = Counter(
            "mllp_messages", "HL7 messages by type and acknowledgment code", ["message_type", "ack_code"], registry=r
        )
        self.ack_latency = Histogram(
            "mllp_ack_latency_seconds", "Frame received -> ACK written", buckets=LATENCY_BUCKETS, registry=r
        )
        self.stored = Counter("mllp_stored", "Messages stored (first receipt)", registry=r)
        self.duplicates = Counter("mllp_duplicates", "Messages received again (same MSH-10 and MSH-3)", registry=r)
        self.frames_rejected = Counter(
            "mllp_frames_rejected", "Frames or connections refused, by reason", ["reason"], registry=r
        )
        self.garbage_bytes = Counter("mllp_garbage_bytes", "Bytes skipped outside MLLP frames", registry=r)
        self.connections = Counter("mllp_connections", "MLLP connections accepted", registry=r)
        self.connections_open = Gauge("mllp_connections_open", "MLLP connections open", registry=r)
        self.forward_attempts = Counter(
            "forward_attempts", "Delivery attempts by outcome", ["destination", "outcome"], registry=r
        )
        self.forward_retries = Counter(
            "forward_retries", "Delivery attempts after the first", ["destination"], registry=r
        )
        self.forwarded = Counter("forwarded", "Messages delivered", ["destination", "message_type"], registry=r)
        self.forward_attempt_seconds = Histogram(
            "forward_attempt_seconds",
            "Duration of one delivery attempt",
            ["destination"],
            buckets=FORWARD_BUCKETS,
            registry=r,
        )
        self.forward_latency = Histogram(
            "forward_latency_seconds",
            "Message received -> delivered",
            ["destination"],
            buckets=FORWARD_BUCKETS,
            registry=r,
        )

    def watch_store(self, counts: Callable[[], tuple[int, int]]) -> None:
        """Report ``counts()`` = (commits, jobs committed) at every scrape: jobs per commit is
        the group-commit factor (how many messages shared one fsync)."""
        self.registry.register(_StoreCollector(counts))

    def watch_queue(self, stats: Callable[[], tuple[int, float | None]]) -> None:
        """Report ``stats()`` = (depth, oldest received_at) as gauges at every scrape."""
        self.registry.register(_QueueCollector(stats))
