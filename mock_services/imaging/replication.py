"""Asynchronous archive -> replica replication: the archive's outbox shipper.

Contract:

* Every instance STOWed to the archive gets an outbox row in the SAME transaction as its
  index row (:meth:`Store.store_batch`), so an acknowledged instance is durably either
  shipped or queued -- a SIGKILL cannot lose it, and a restart resumes shipping.
* :class:`Shipper` sends the oldest entries, in ``seq`` order, in batches of at most
  :data:`BATCH_INSTANCES` instances / :data:`BATCH_BYTES` bytes, as a ``multipart/related;
  type="application/dicom"`` POST to the replica's ``/_replication/instances`` (the replica's
  STOW path, open only to replication). It removes entries only after the replica answered
  with a Store Instances Response (200, 202, 409, or a 400 listing every part as failed):
  shipped entries are stored there (or
  were already: storage is idempotent per SOP Instance UID, so a batch re-sent after a lost
  answer is harmless); entries the replica *refused* are dropped with a ``replication-
  rejected`` warning naming them (they could never succeed, and must not block the queue).
* Anything else -- connection refused, timeout (``peer_timeout``; a SIGSTOPped replica),
  another status -- leaves the outbox untouched; the batch is retried every
  ``replication_interval``. A new STOW wakes the shipper at once, so lag is one round trip
  when the replica is healthy.
* Reachability changes are logged once per transition (``replica-unreachable`` /
  ``replica-reachable``), never per attempt.

The seed data is not shipped: both instances load it themselves (see :mod:`.seed`). An archive
started without ``--replica-url`` still queues every STOW (its ``/health`` backlog grows), so a
later start with a replica URL ships everything stored meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import httpx

from mock_services.imaging import multipart
from mock_services.imaging.config import Config
from mock_services.imaging.dicomjson import DICOM_JSON, failed_uids
from mock_services.imaging.eventlog import log_event
from mock_services.imaging.metrics import Metrics
from mock_services.imaging.store import Store

BATCH_INSTANCES = 50
BATCH_BYTES = 8 * 1024 * 1024
REPLICATION_PATH = "/_replication/instances"


class Shipper:
    """Ships the outbox of ``store`` to ``config.replica_url`` until cancelled."""

    def __init__(
        self, config: Config, store: Store, metrics: Metrics, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        assert config.replica_url is not None, "a shipper needs a replica URL"
        self.url = config.replica_url + REPLICATION_PATH
        self.config = config
        self.store = store
        self.metrics = metrics
        self.transport = transport
        self.reachable: bool | None = None  # None until the first attempt
        self.shipped_total = 0
        self.last_shipped_at: float | None = None
        self.last_error: str | None = None
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Ship now rather than at the next interval (call from the event loop's thread)."""
        self._wake.set()

    def status(self) -> dict[str, object]:
        return {
            "replica_url": self.config.replica_url,
            "replica_reachable": self.reachable,
            "shipped_total": self.shipped_total,
            "last_shipped_at": self.last_shipped_at,
            "last_error": self.last_error,
        }

    async def run(self) -> None:
        """Ship forever (cancel to stop). Never raises for a replica problem."""
        async with httpx.AsyncClient(transport=self.transport, timeout=self.config.peer_timeout) as client:
            while True:
                try:
                    progressed = await self.ship_once(client)
                except Exception as error:
                    # A local problem (unreadable file, database error, a bug): say so and keep
                    # going -- a shipper that died silently would stop replication for good.
                    log_event("replication-error", level=logging.ERROR, error=f"{type(error).__name__}: {error}")
                    progressed = False
                if progressed:
                    continue  # more may be queued: no sleep between full batches
                # asyncio.timeout, not wait_for: wait_for runs the wait in a task of its own,
                # and cancelling the shipper while that task was finishing hung the shutdown
                # (the archive's lifespan waited for the shipper forever).
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.config.replication_interval):
                        await self._wake.wait()
                self._wake.clear()

    def _batch(self) -> tuple[list[int], list[bytes]]:
        seqs: list[int] = []
        files: list[bytes] = []
        size = 0
        for seq, sop_uid in self.store.outbox_peek(BATCH_INSTANCES):
            instance = self.store.get(sop_uid)
            if instance is None:  # cannot happen: the rows commit together; never block on it
                log_event("outbox-orphan", level=logging.ERROR, seq=seq, sop=sop_uid)
                self.store.outbox_remove([seq])
                continue
            data = self.store.read_bytes(instance)
            if files and size + len(data) > BATCH_BYTES:
                break
            seqs.append(seq)
            files.append(data)
            size += len(data)
        return seqs, files

    async def ship_once(self, client: httpx.AsyncClient) -> bool:
        """Send one batch; True if the outbox shrank (so the caller should go on at once)."""
        seqs, files = self._batch()
        if not seqs:
            return False
        body, content_type = multipart.encode(files, "application/dicom")
        try:
            response = await client.post(
                self.url, content=body, headers={"content-type": content_type, "accept": DICOM_JSON}
            )
        except httpx.HTTPError as error:
            self._failed(f"{type(error).__name__}: {error}")
            return False
        if response.status_code not in (200, 202, 400, 409):
            self._failed(f"HTTP {response.status_code}: {response.text[:200]}")
            return False
        try:
            rejected = failed_uids(response.json())
        except (ValueError, AttributeError, TypeError, KeyError) as error:
            self._failed(f"unreadable store response ({error})")
            return False
        # A 400 answers for the batch only when it is a Store Instances Response listing every
        # part as failed (none was readable); any other 400 says nothing about the instances.
        if response.status_code == 400 and len(rejected) != len(seqs):
            self._failed(f"HTTP 400: {response.text[:200]}")
            return False
        self.store.outbox_remove(seqs)
        accepted = len(seqs) - len(rejected)
        self.shipped_total += accepted
        self.metrics.shipped.inc(accepted)
        self.last_shipped_at = time.time()
        if rejected:
            log_event(
                "replication-rejected",
                level=logging.WARNING,
                count=len(rejected),
                first_sop=rejected[0][0],
                reason=f"{rejected[0][1]:04X}",
            )
        if self.reachable is not True:
            log_event("replica-reachable", backlog=self.store.backlog())
        self.reachable = True
        self.last_error = None
        return True

    def _failed(self, error: str) -> None:
        self.last_error = error
        if self.reachable is not False:
            log_event("replica-unreachable", level=logging.WARNING, backlog=self.store.backlog(), error=error)
        self.reachable = False
