"""The primary's side of replication: heartbeats, shipping, and when a write may be acknowledged.

A :class:`Shipper` lives for one primary term: the :class:`~.replication.Node` creates one
when it becomes primary and closes it when it steps down, so nothing learned about the peer
in one term leaks into the next. It is driven by the node's background task
(:meth:`Shipper.round`) and by the write path (:meth:`Shipper.acknowledge`).

What it knows of the standby comes only from the standby's own answers (``NodeStatus``):
``matched_lsn`` is the highest lsn up to which the standby's log is known to equal ours (its
last entry's epoch matches ours at that lsn). A standby whose last entry is not in our log
has *diverged*: it is sent an append whose consistency check fails on purpose, which makes it
resync.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from mock_services.ehr.config import Config, ReplicationMode
from mock_services.ehr.eventlog import log_event
from mock_services.ehr.peer import PeerClient, PeerUnavailable
from mock_services.ehr.protocol import AppendRequest, Heartbeat, NodeStatus, Reply, Role
from mock_services.ehr.store import Store

MAX_BATCH = 256  # entries per append; halves after a failed append (slow link), doubles back
MAX_BATCHES_PER_ROUND = 64  # so catch-up never starves the heartbeat


class Term(Protocol):
    """What a :class:`Shipper` needs of the node whose primary term it serves (the node,
    :class:`~.replication.Node`, satisfies it). A protocol, not the class: ``replication``
    creates shippers, so ``shipping`` importing ``replication`` back was an import cycle."""

    config: Config
    store: Store

    @property
    def role(self) -> Role: ...

    @property
    def epoch(self) -> int: ...

    def outranked_by(self, sender: str, epoch: int) -> bool:
        """Whether a primary ``sender`` at ``epoch`` outranks this node."""
        ...

    def step_down(self, winner: str, epoch: int, via: str) -> None:
        """``winner`` is primary and outranks this node: become its standby."""
        ...


class WriteOutcome(Enum):
    """What :meth:`Shipper.acknowledge` decided for a locally committed write."""

    ACKNOWLEDGED = "acknowledged"
    NOT_CONFIRMED = "not-confirmed"  # sync-strict: the standby did not confirm in time
    STEPPED_DOWN = "stepped-down"  # we lost the primary role while waiting


@dataclass
class PeerView:
    """What a primary knows about its standby, from the latest answer."""

    reachable: bool | None = None  # None until the first attempt
    status: NodeStatus | None = None
    matched_lsn: int = 0  # the peer's log is identical to ours up to here
    diverged: bool = False  # the peer holds entries that are not in our log


class Shipper:
    """One primary term's link to the standby (``peer`` None: a single instance)."""

    def __init__(self, node: Term, peer: PeerClient | None, clock: Callable[[], float] = time.monotonic) -> None:
        self._node = node
        self._config = node.config
        self._store = node.store
        self._peer_client = peer
        self._clock = clock
        self._sync = self._config.replication is ReplicationMode.SYNC and peer is not None
        self.peer = PeerView()
        self._in_sync = True  # optimistic, so the very first write of the term already waits
        self._failures = 0  # link failures so far; acknowledge() compares before/after
        self._closed = False
        self._contact_requested = False
        self._next_heartbeat = 0.0
        self._batch = MAX_BATCH
        self._warned_epoch: int | None = None
        self._warned_base = False
        self._wake = asyncio.Event()  # wakes round() early: a write is waiting to be shipped
        self._changed = asyncio.Event()  # replaced on every peer-state change (see _notify)

    @property
    def in_sync(self) -> bool:
        """Sync mode: whether writes currently wait for the standby. Async: whether it is level."""
        return self._in_sync

    def peer_document(self) -> dict[str, object]:
        peer, status = self.peer, self.peer.status
        return {
            "url": self._config.peer_url,
            "reachable": peer.reachable,
            "role": status.role.value if status else None,
            "epoch": status.epoch if status else None,
            "lsn": status.lsn if status else None,
            "matched_lsn": peer.matched_lsn,
            "diverged": peer.diverged,
        }

    def close(self) -> None:
        """The term is over (step-down): release every waiting write."""
        self._closed = True
        self._notify()
        self._wake.set()

    # -- the write path ------------------------------------------------------------------

    async def acknowledge(self, lsn: int) -> WriteOutcome:
        """Decide when a write committed locally at ``lsn`` may be acknowledged.

        async mode (or no peer): at once (shipping is triggered). sync mode: once the standby
        has applied it, waiting at most ``peer_timeout``; on failure, strict -> NOT_CONFIRMED,
        non-strict -> mark the standby out of sync and acknowledge. While out of sync
        (non-strict) writes do not wait until catch-up makes the standby level again.
        """
        self._contact_requested = self._contact_requested or self._sync
        self._wake.set()
        if not self._sync or (not self._config.sync_strict and not self._in_sync):
            return WriteOutcome.ACKNOWLEDGED
        failures_before = self._failures
        deadline = self._clock() + self._config.peer_timeout
        while True:  # bounded: every path waits at most until the deadline
            if self._closed or self._node.role is not Role.PRIMARY:
                return WriteOutcome.STEPPED_DOWN
            if self.peer.matched_lsn >= lsn and not self.peer.diverged:
                return WriteOutcome.ACKNOWLEDGED
            remaining = deadline - self._clock()
            if self._failures != failures_before or remaining <= 0:
                break
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation
            # that lands as the wait completes (CPython gh-86296), and the imaging archive's
            # shutdown hung for ever on that very pattern.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._changed.wait()
        if self._config.sync_strict:
            return WriteOutcome.NOT_CONFIRMED
        self._set_in_sync(False, f"write at lsn {lsn} not confirmed by the standby")
        return WriteOutcome.ACKNOWLEDGED

    # -- the background task's primary round -------------------------------------------------

    async def round(self) -> None:
        """Heartbeat if due (or if a sync write needs a peer we have not heard from), ship what
        the standby lacks, then sleep until the next heartbeat or a write wakes us."""
        peer = self._peer_client
        if peer is None:
            await self._wake.wait()  # nothing to do without a peer but wait to be stopped
            self._wake.clear()
            return
        now = self._clock()
        contact_needed, self._contact_requested = self._contact_requested, False
        known = self.peer.reachable and self.peer.status is not None
        if now >= self._next_heartbeat or (contact_needed and not known):
            self._next_heartbeat = now + self._config.heartbeat_interval
            await self._send_heartbeat(peer)
        await self._ship(peer)
        if self._closed:
            return
        with contextlib.suppress(TimeoutError):  # asyncio.timeout, not wait_for: see acknowledge()
            async with asyncio.timeout(max(0.0, self._next_heartbeat - self._clock())):
                await self._wake.wait()
        self._wake.clear()

    async def _send_heartbeat(self, peer: PeerClient) -> None:
        message = Heartbeat(self._config.name, self._node.epoch, self._store.last_lsn)
        try:
            reply = await peer.heartbeat(message)
        except PeerUnavailable as error:
            self._link_failed(str(error))
            return
        self._observe(reply)

    async def _ship(self, peer: PeerClient) -> None:
        """Send the standby what it lacks, batch by batch (bounded per round)."""
        for _ in range(MAX_BATCHES_PER_ROUND):
            status = self.peer.status
            if self._closed or not self.peer.reachable or status is None:
                return
            if status.role is not Role.STANDBY or status.resyncing or status.epoch > self._node.epoch:
                return
            if not self.peer.diverged and self.peer.matched_lsn >= self._store.last_lsn:
                return
            prev_epoch = self._store.epoch_at(status.lsn)
            # A diverged peer gets an empty append whose consistency check fails on purpose.
            entries = (
                [] if self.peer.diverged or prev_epoch is None else self._store.entries_after(status.lsn, self._batch)
            )
            message = AppendRequest(
                self._config.name,
                self._node.epoch,
                status.lsn,
                -1 if prev_epoch is None else prev_epoch,
                tuple(entries),
            )
            try:
                reply = await peer.append(message)
            except PeerUnavailable as error:
                self._batch = max(1, self._batch // 2)
                self._link_failed(str(error))
                return
            self._batch = min(MAX_BATCH, self._batch * 2)
            self._observe(reply)
            if not reply.accepted:
                return

    def _observe(self, reply: Reply) -> None:
        """Act on the peer's answer to our heartbeat or append."""
        if self._closed:
            return  # we stepped down while the request was in flight
        status = reply.status
        self._set_reachable(True, "")
        if status.role is Role.PRIMARY and self._node.outranked_by(status.name, status.epoch):
            self._node.step_down(status.name, status.epoch, f"answer from {status.name}")
            return
        self.peer.status = status
        if status.base != (self._store.base or "") and not self._warned_base:
            self._warned_base = True  # a deployment error: both sides must load the same base snapshot
            log_event(
                "base-mismatch",
                level=logging.ERROR,
                peer=status.name,
                ours=self._store.base or "none",
                theirs=status.base or "none",
            )
        # Only a standby's log follows ours; compare its last entry with ours at that lsn.
        following = status.role is Role.STANDBY
        self.peer.diverged = following and self._store.epoch_at(status.lsn) != status.last_epoch
        self.peer.matched_lsn = status.lsn if following and not self.peer.diverged else 0
        if not reply.accepted:
            if reply.reason == "stale-epoch" and status.epoch != self._warned_epoch:
                self._warned_epoch = status.epoch  # once per epoch, not once per heartbeat
                log_event("peer-has-higher-epoch", level=logging.WARNING, peer=status.name, epoch=status.epoch)
            self._link_failed(f"peer refused: {reply.reason}", reachable=True)
            return
        if following and not status.resyncing and self.peer.matched_lsn == self._store.last_lsn:
            self._set_in_sync(True, f"{status.name} has applied lsn {status.lsn}")
        self._notify()

    def _link_failed(self, detail: str, *, reachable: bool = False) -> None:
        self._failures += 1
        if not reachable:
            self._set_reachable(False, detail)
        self._set_in_sync(False, detail)
        self._notify()

    def _set_reachable(self, reachable: bool, detail: str) -> None:
        if reachable is not self.peer.reachable:
            if reachable:
                log_event("peer-reachable", peer=self._config.peer_url)
            else:
                log_event("peer-unreachable", level=logging.WARNING, peer=self._config.peer_url, detail=detail)
            self.peer.reachable = reachable

    def _set_in_sync(self, in_sync: bool, reason: str) -> None:
        if in_sync is self._in_sync:
            return
        self._in_sync = in_sync
        if self._sync:  # only logged where it changes when writes are acknowledged
            if in_sync:
                log_event("standby-in-sync", detail=reason)
            else:
                log_event("standby-out-of-sync", level=logging.WARNING, strict=self._config.sync_strict, detail=reason)

    def _notify(self) -> None:
        """Wake every :meth:`acknowledge` waiter: swap in a fresh event and set the old one."""
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
