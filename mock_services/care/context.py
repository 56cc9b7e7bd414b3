"""Everything one care application instance holds, built from its :class:`~.config.Config`.

:func:`build` opens the state directory (``queue.sqlite``, ``outbox.sqlite``, the snapshot
files), loads the snapshot from disk, and makes one :class:`~.dependencies.Dependency` per
configured service, each with its own breaker whose transitions go to the downtime
controller. ``transports`` (tests) maps a dependency name (or ``"notify"``) to an httpx
transport.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from prometheus_client import Counter, Gauge

from mock_services.care.breaker import CircuitBreaker, State
from mock_services.care.collect import RecentPatients, Snapshotter
from mock_services.care.config import DEPENDENCIES, Config
from mock_services.care.dependencies import Dependency
from mock_services.care.documents import Printer
from mock_services.care.downtime import DowntimeController, Mode
from mock_services.care.fetch import Reader, ScheduleMirror
from mock_services.care.notify import Notifier
from mock_services.care.queue import Queue
from mock_services.care.reconcile import Reconciler
from mock_services.care.snapshot import SnapshotStore
from mock_services.common.service import Metrics

_STATE_VALUE = {State.CLOSED: 0, State.HALF_OPEN: 1, State.OPEN: 2}


@dataclass
class Care:
    config: Config
    deps: dict[str, Dependency]
    controller: DowntimeController
    snapshots: SnapshotStore
    snapshotter: Snapshotter
    mirror: ScheduleMirror
    recent: RecentPatients
    queue: Queue
    reconciler: Reconciler
    notifier: Notifier
    printer: Printer
    reader: Reader
    metrics: Metrics
    requests: Counter  # orders and registrations by kind and outcome
    started: float

    @property
    def downtime(self) -> bool:
        return self.controller.mode is Mode.DOWNTIME

    async def aclose(self) -> None:
        for dependency in self.deps.values():
            await dependency.aclose()
        await self.notifier.aclose()
        self.queue.close()


def _metrics(care: Care) -> None:
    registry = care.metrics.registry
    Gauge("care_downtime_mode", "1 while in downtime mode", registry=registry).set_function(
        lambda: 1.0 if care.downtime else 0.0
    )
    Gauge("care_queue_depth", "downtime entries waiting", registry=registry).set_function(
        lambda: float(care.queue.depth())
    )

    def age() -> float:
        current = care.snapshots.current
        return -1.0 if current is None else time.time() - current.as_of

    Gauge("care_snapshot_age_seconds", "age of the snapshot (-1: none usable)", registry=registry).set_function(age)
    breakers = Gauge("care_breaker_state", "0 closed, 1 half-open, 2 open", ["dependency"], registry=registry)
    for name, dependency in care.deps.items():
        breakers.labels(name).set_function(_breaker_reader(dependency))


def _breaker_reader(dependency: Dependency) -> Callable[[], float]:
    return lambda: float(_STATE_VALUE[dependency.breaker.state])


def build(config: Config, transports: dict[str, httpx.AsyncBaseTransport] | None = None) -> Care:
    transports = transports or {}
    config.state_dir.mkdir(parents=True, exist_ok=True)
    snapshots = SnapshotStore(config.state_dir)
    snapshots.load()
    notifier = Notifier(config.state_dir / "outbox.sqlite", config.notify_url, config.name, config.datacenter,
                        timeout=config.dependency_timeout, transport=transports.get("notify"))  # fmt: skip
    controller = DowntimeController(config, snapshots, notifier)
    deps: dict[str, Dependency] = {}
    for name in DEPENDENCIES:
        url = config.urls[name]
        if url is None:
            continue
        breaker = CircuitBreaker(name, config.breaker_failures, config.breaker_window, config.breaker_reset)
        deps[name] = Dependency(name, url, config.dependency_timeout, breaker, transport=transports.get(name),
                                on_transition=controller.on_transition)  # fmt: skip
    queue = Queue.open(config.state_dir / "queue.sqlite", config.queue_capacity, config.id_prefix, config.name)
    mirror, recent = ScheduleMirror(), RecentPatients()
    metrics = Metrics()
    requests = Counter("care_requests_total", "orders and registrations", ["kind", "outcome"],
                       registry=metrics.registry)  # fmt: skip
    care = Care(
        config=config, deps=deps, controller=controller, snapshots=snapshots,
        snapshotter=Snapshotter(config, deps, snapshots, mirror, recent), mirror=mirror, recent=recent, queue=queue,
        reconciler=Reconciler(queue, deps.get("ehr"), config.id_prefix), notifier=notifier,
        printer=Printer(config.name, failing=config.printer_failing), reader=Reader(deps), metrics=metrics,
        requests=requests, started=time.time(),
    )  # fmt: skip
    _metrics(care)
    return care


def breaker_status(care: Care) -> dict[str, Any]:
    return {name: dependency.breaker.status() for name, dependency in care.deps.items()}
