"""The state one imaging instance's endpoints share: config, store, metrics, replication.

:class:`Service` is built once by :func:`mock_services.imaging.app.create_app`; the route
factories of :mod:`.qido_api`, :mod:`.wado` and :mod:`.stow` close over it.
"""

from __future__ import annotations

import time

from mock_services.imaging.config import Config, Role
from mock_services.imaging.metrics import Metrics
from mock_services.imaging.replication import Shipper
from mock_services.imaging.store import Source, Store


class Service:
    """One instance's shared state. ``shipper`` exists on an archive with a replica URL."""

    def __init__(self, config: Config, store: Store, metrics: Metrics, shipper: Shipper | None) -> None:
        self.config = config
        self.store = store
        self.metrics = metrics
        self.shipper = shipper
        self.received_total = 0  # replica: instances newly stored from the archive
        self.last_received_at: float | None = None

    @property
    def writable(self) -> bool:
        """Whether clients may STOW here (only the archive accepts new images)."""
        return self.config.role is Role.ARCHIVE

    def stored(self, source: Source, count: int) -> None:
        """Account for ``count`` newly stored instances; wake the shipper for new STOWs."""
        if count <= 0:
            return
        self.metrics.stored.labels(source.value).inc(count)
        if source is Source.STOW and self.shipper is not None:
            self.shipper.wake()
        if source is Source.REPLICATION:
            self.received_total += count
            self.last_received_at = time.time()

    def health(self) -> dict[str, object]:
        """The ``/health`` document (see :mod:`.app`)."""
        counts = self.store.counts()
        replication: dict[str, object] = {"backlog": counts["backlog"]}
        if self.shipper is not None:
            replication.update(self.shipper.status())
        if self.config.role is Role.REPLICA:
            replication.update(received_total=self.received_total, last_received_at=self.last_received_at)
        return {
            "status": "ok",
            "name": self.config.name,
            "datacenter": self.config.datacenter,
            "role": self.config.role.value,
            "writable": self.writable,
            "studies": counts["studies"],
            "series": counts["series"],
            "instances": counts["instances"],
            "replication": replication,
        }
