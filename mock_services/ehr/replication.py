"""The replication state machine of one EHR instance: roles, epochs, heartbeats, shipping,
promotion, step-down and resync (the protocol itself is described in the package docstring).

Concurrency model: everything runs on the server's one asyncio event loop. Handlers of
incoming messages (:meth:`Node.on_heartbeat`, :meth:`Node.on_append`) and the write path's
:meth:`Node.write` are synchronous, so each is atomic with respect to the others; only the
background task (:meth:`Node.run`) and :meth:`Node.replicate` await, and they re-check the
role after every await. One background task does all outgoing peer traffic, so requests to
the peer are strictly sequential and answers are never applied out of order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from mock_services.ehr.config import Config, ConfiguredRole, ReplicationMode
from mock_services.ehr.eventlog import log_event, logger
from mock_services.ehr.peer import PeerClient, PeerUnavailable
from mock_services.ehr.protocol import AppendRequest, Heartbeat, LogPage, NodeStatus, Reply, Role
from mock_services.ehr.resync import ResyncError, fetch_full_log
from mock_services.ehr.store import LogEntry, Store, StoreError

MAX_BATCH = 256  # entries per append; halves after a failed append (slow link), doubles back
MAX_BATCHES_PER_ROUND = 64  # so catch-up never starves the heartbeat
DISCARDED_LISTED = 20  # discarded entries named one by one in the resync log line
RESYNC_RETRY = 0.5  # seconds between resync attempts while the source does not answer


class WriteOutcome(Enum):
    """What :meth:`Node.replicate` decided for a locally committed write."""

    ACKNOWLEDGED = "acknowledged"
    NOT_CONFIRMED = "not-confirmed"  # sync-strict: the standby did not confirm in time
    STEPPED_DOWN = "stepped-down"  # we lost the primary role while waiting


class NotPrimary(Exception):
    """A write reached an instance that is not (or not yet) the primary."""

    def __init__(self, role: Role, epoch: int) -> None:
        super().__init__(f"role is {role.value} (epoch {epoch}); writes are accepted only by the primary")
        self.role = role


@dataclass
class PeerView:
    """What a primary knows about its standby, from the latest answer."""

    reachable: bool | None = None  # None until the first attempt
    status: NodeStatus | None = None
    matched_lsn: int = 0  # the peer's log is identical to ours up to here
    diverged: bool = False  # the peer holds entries that are not in our log


class Node:
    """One instance's replication role and the logic that changes it. See the module docs."""

    def __init__(
        self,
        config: Config,
        store: Store,
        peer: PeerClient | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.store = store
        self._peer_client = peer
        self._clock = clock
        if config.role is ConfiguredRole.STANDBY:
            self._role = Role.STANDBY
        else:
            # A configured primary with a peer must first ask who is primary (see run()).
            self._role = Role.STARTING if peer is not None else Role.PRIMARY
        self._needs_resync = False
        self._resyncing = False
        self._next_resync = 0.0
        self._resync_failures = 0
        # Promotion counts from our own start: a standby whose primary never shows up promotes.
        self._last_contact = clock()
        self._contact: bool | None = None  # standby: are heartbeats arriving (None = never were)
        self._peer = PeerView()
        self._in_sync = True  # sync mode: optimistic, so the very first write already waits
        self._failures = 0  # link failures so far; sync waiters compare before/after
        self._ship_requested = False
        self._next_heartbeat = 0.0
        self._batch = MAX_BATCH
        self._wake = asyncio.Event()  # wakes the background task early (a write happened)
        self._changed = asyncio.Event()  # replaced on every peer-state change (see _notify)
        log_event(
            "start",
            role=self._role.value,
            configured=config.role.value,
            epoch=store.epoch,
            lsn=store.last_lsn,
            replication=config.replication.value,
            strict=config.sync_strict,
            peer=config.peer_url or "none",
        )

    # -- state -----------------------------------------------------------------------------

    @property
    def role(self) -> Role:
        return self._role

    @property
    def epoch(self) -> int:
        return self.store.epoch

    @property
    def in_sync(self) -> bool:
        return self._in_sync

    def status(self) -> NodeStatus:
        lsn = self.store.last_lsn
        return NodeStatus(
            self.config.name,
            self.config.datacenter,
            self._role,
            self.epoch,
            lsn,
            self.store.epoch_at(lsn) or 0,
            self._resyncing or self._needs_resync,
        )

    def status_document(self) -> dict[str, object]:
        """``GET /_replication/status``: a ``NodeStatus`` plus diagnostics for people and tests."""
        peer = self._peer
        return {
            **self.status().to_json(),
            "replication": self.config.replication.value,
            "sync_strict": self.config.sync_strict,
            "in_sync": self._in_sync,
            "since_primary_contact": (
                None if self._role is Role.PRIMARY else round(self._clock() - self._last_contact, 3)
            ),
            "peer": {
                "url": self.config.peer_url,
                "reachable": peer.reachable,
                "role": peer.status.role.value if peer.status else None,
                "epoch": peer.status.epoch if peer.status else None,
                "lsn": peer.status.lsn if peer.status else None,
                "matched_lsn": peer.matched_lsn,
                "diverged": peer.diverged,
            },
        }

    def log_page(self, after: int, limit: int) -> LogPage:
        return LogPage(self.status(), tuple(self.store.entries_after(after, limit)))

    # -- the write path ------------------------------------------------------------------

    def write(
        self, resource_type: str, resource_id: str, version_id: str, last_updated: str, body: str
    ) -> LogEntry:
        """Commit a write locally in the current epoch; raises :class:`NotPrimary` unless primary."""
        if self._role is not Role.PRIMARY:
            raise NotPrimary(self._role, self.epoch)
        return self.store.append(resource_type, resource_id, version_id, last_updated, body)

    async def replicate(self, lsn: int) -> WriteOutcome:
        """Decide when a committed write at ``lsn`` may be acknowledged (see package docs).

        Waits at most ``peer_timeout``, and only in sync mode while the standby is in sync
        (always in strict mode).
        """
        sync = self.config.replication is ReplicationMode.SYNC and self._peer_client is not None
        self._request_ship(contact=sync)
        if not sync or (not self.config.sync_strict and not self._in_sync):
            return WriteOutcome.ACKNOWLEDGED
        failures_before = self._failures
        deadline = self._clock() + self.config.peer_timeout
        while True:  # bounded: every path waits at most until the deadline
            if self._role is not Role.PRIMARY:
                return WriteOutcome.STEPPED_DOWN
            if self._peer.matched_lsn >= lsn and not self._peer.diverged:
                return WriteOutcome.ACKNOWLEDGED
            remaining = deadline - self._clock()
            if self._failures != failures_before or remaining <= 0:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
        if self.config.sync_strict:
            return WriteOutcome.NOT_CONFIRMED
        self._set_in_sync(False, f"write at lsn {lsn} not confirmed by the standby")
        return WriteOutcome.ACKNOWLEDGED

    # -- incoming replication messages (synchronous: atomic on the event loop) -------------

    def on_heartbeat(self, message: Heartbeat) -> Reply:
        """A primary's heartbeat. Accepted (200) by a standby of the same or a lower epoch."""
        refusal = self._refuse_from_primary(message.name, message.epoch, "heartbeat")
        if refusal is not None:
            return refusal
        return Reply(True, "", self.status())

    def on_append(self, message: AppendRequest) -> Reply:
        """Apply shipped entries idempotently; refuse with a reason the primary acts on."""
        refusal = self._refuse_from_primary(message.name, message.epoch, "append")
        if refusal is not None:
            return refusal
        if self._needs_resync or self._resyncing:
            return Reply(False, "resyncing", self.status())
        if message.prev_lsn > self.store.last_lsn:
            return Reply(False, "gap", self.status())  # the primary re-ships from our lsn
        if self.store.epoch_at(message.prev_lsn) != message.prev_epoch:
            return self._diverged(f"entry at lsn {message.prev_lsn} differs from {message.name}'s")
        fresh: list[LogEntry] = []
        for entry in message.entries:
            if entry.lsn > self.store.last_lsn:
                fresh.append(entry)
            elif self.store.epoch_at(entry.lsn) != entry.epoch:
                return self._diverged(f"entry at lsn {entry.lsn} differs from {message.name}'s")
            # else: already applied (a retried or late append) -- skipping makes it idempotent
        try:
            self.store.apply(fresh)
        except StoreError:
            return Reply(False, "gap", self.status())
        return Reply(True, "", self.status())

    def _refuse_from_primary(self, sender: str, epoch: int, what: str) -> Reply | None:
        """Common rules for a message from a peer that believes it is primary at ``epoch``.

        Returns the refusal to send back, or None when the caller should go on as a standby
        (after adopting a higher epoch and noting the contact).
        """
        if self._role is Role.PRIMARY:
            if not self._wins(sender, epoch):
                # It will step down when it reads our answer (see _observe).
                return Reply(False, "not-standby", self.status())
            self._step_down(sender, epoch, f"{what} from {sender}")
        if epoch < self.epoch:
            return Reply(False, "stale-epoch", self.status())  # not a valid primary: no contact
        if epoch > self.epoch:
            self.store.set_epoch(epoch)
            log_event("epoch-adopted", epoch=epoch, primary=sender)
        if self._role is Role.STARTING:
            # Same decision as the start-up status check: a primary at >= our epoch exists.
            self._set_role(Role.STANDBY, f"{sender} is primary at epoch {epoch}")
            self._needs_resync = True
        self._note_contact(sender)
        return None

    def _wins(self, sender: str, epoch: int) -> bool:
        """Whether a primary ``sender`` at ``epoch`` outranks us: higher epoch, or tie by name."""
        if epoch != self.epoch:
            return epoch > self.epoch
        if sender < self.config.name:
            log_event("tie-break", level=logging.WARNING, epoch=epoch, winner=sender, loser=self.config.name)
            return True
        return False

    def _diverged(self, detail: str) -> Reply:
        if not self._needs_resync:
            log_event("diverged", level=logging.WARNING, lsn=self.store.last_lsn, detail=detail)
        self._needs_resync = True
        return Reply(False, "diverged", self.status())

    def _note_contact(self, sender: str) -> None:
        self._last_contact = self._clock()
        if self._contact is not True:
            log_event("primary-reachable", primary=sender, epoch=self.epoch)
            self._contact = True

    # -- background task -----------------------------------------------------------------

    async def run(self) -> None:
        """The background task: decide the starting role, then act on the current role forever."""
        if self._peer_client is None:
            return  # a single instance keeps its configured role: nothing to watch
        if self._role is Role.STARTING:
            await self._decide_starting_role(self._peer_client)
        while True:
            try:
                if self._role is Role.PRIMARY:
                    await self._primary_round(self._peer_client)
                else:
                    await self._standby_round(self._peer_client)
            except Exception:
                # A bug must not silently stop heartbeats (a primary without them looks dead
                # to its standby): log it loudly and keep going after a pause.
                logger.exception("event=replication-error role=%s", self._role.value)
                await asyncio.sleep(self.config.heartbeat_interval)

    async def _decide_starting_role(self, peer: PeerClient) -> None:
        reason = "peer did not answer"
        try:
            status: NodeStatus | None = await peer.status()
        except PeerUnavailable as error:
            status = None
            reason = f"peer did not answer ({error})"
        if self._role is not Role.STARTING:
            return  # a heartbeat from a primary decided for us meanwhile
        if status is not None and status.role is Role.PRIMARY and status.epoch >= self.epoch:
            if status.epoch > self.epoch:
                self.store.set_epoch(status.epoch)
            self._needs_resync = True
            self._set_role(Role.STANDBY, f"{status.name} is already primary at epoch {status.epoch}")
            return
        if status is not None:
            reason = f"peer {status.name} is {status.role.value} at epoch {status.epoch}"
        self._set_role(Role.PRIMARY, reason)

    async def _primary_round(self, peer: PeerClient) -> None:
        now = self._clock()
        contact_needed, self._ship_requested = self._ship_requested, False
        known = self._peer.reachable and self._peer.status is not None
        if now >= self._next_heartbeat or (contact_needed and not known):
            self._next_heartbeat = now + self.config.heartbeat_interval
            await self._send_heartbeat(peer)
        await self._ship(peer)
        if self._role is not Role.PRIMARY:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), max(0.0, self._next_heartbeat - self._clock()))
        self._wake.clear()

    async def _send_heartbeat(self, peer: PeerClient) -> None:
        message = Heartbeat(self.config.name, self.epoch, self.store.last_lsn)
        try:
            reply = await peer.heartbeat(message)
        except PeerUnavailable as error:
            self._link_failed(str(error))
            return
        self._observe(reply)

    async def _ship(self, peer: PeerClient) -> None:
        """Send the peer what it lacks, batch by batch (bounded per round)."""
        for _ in range(MAX_BATCHES_PER_ROUND):
            status = self._peer.status
            if self._role is not Role.PRIMARY or not self._peer.reachable or status is None:
                return
            if status.role is not Role.STANDBY or status.resyncing or status.epoch > self.epoch:
                return
            if not self._peer.diverged and self._peer.matched_lsn >= self.store.last_lsn:
                return
            prev_epoch = self.store.epoch_at(status.lsn)
            # A diverged peer gets an empty append whose consistency check fails on purpose:
            # that is how it learns to resync.
            entries = (
                []
                if self._peer.diverged or prev_epoch is None
                else self.store.entries_after(status.lsn, self._batch)
            )
            message = AppendRequest(
                self.config.name,
                self.epoch,
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
        """Act on the peer's answer to our heartbeat or append (we believe we are primary)."""
        if self._role is not Role.PRIMARY:
            return  # we stepped down while the request was in flight
        status = reply.status
        self._set_reachable(True, "")
        if status.role is Role.PRIMARY and self._wins(status.name, status.epoch):
            self._step_down(status.name, status.epoch, f"answer from {status.name}")
            return
        self._peer.status = status
        # Only a standby's log follows ours; compare its last entry with ours at that lsn.
        following = status.role is Role.STANDBY
        self._peer.diverged = following and self.store.epoch_at(status.lsn) != status.last_epoch
        self._peer.matched_lsn = status.lsn if following and not self._peer.diverged else 0
        if not reply.accepted:
            if reply.reason == "stale-epoch":
                log_event(
                    "peer-has-higher-epoch", level=logging.WARNING, peer=status.name, epoch=status.epoch
                )
            self._link_failed(f"peer refused: {reply.reason}", reachable=True)
            return
        if (
            status.role is Role.STANDBY
            and not status.resyncing
            and self._peer.matched_lsn == self.store.last_lsn
        ):
            self._set_in_sync(True, f"{status.name} has applied lsn {status.lsn}")
        self._notify()

    def _link_failed(self, detail: str, *, reachable: bool = False) -> None:
        self._failures += 1
        if not reachable:
            self._set_reachable(False, detail)
        self._set_in_sync(False, detail)
        self._notify()

    async def _standby_round(self, peer: PeerClient) -> None:
        if self._needs_resync and not self._resyncing and self._clock() >= self._next_resync:
            await self._resync(peer)
        silence = self._clock() - self._last_contact
        if self._contact and silence > max(3 * self.config.heartbeat_interval, self.config.peer_timeout):
            log_event("primary-unreachable", level=logging.WARNING, silence=f"{silence:.2f}s")
            self._contact = False
        if silence >= self.config.promote_after:
            await self._maybe_promote(peer)
        if self._role is Role.STANDBY:
            # Poll well below promote_after so promotion is not late by a whole interval.
            await asyncio.sleep(min(self.config.heartbeat_interval, self.config.promote_after / 10, 0.1))

    async def _maybe_promote(self, peer: PeerClient) -> None:
        """Promote, unless the primary answers a direct status check (a pre-vote).

        The check travels the same link as heartbeats, so under a real partition it fails
        and we promote; it only vetoes promotions that would be pointless -- e.g. after this
        process was frozen (SIGSTOP) and its timer ran while heartbeats sat unread.
        """
        try:
            status: NodeStatus | None = await peer.status()
        except PeerUnavailable:
            status = None
        silence = self._clock() - self._last_contact
        if self._role is not Role.STANDBY or silence < self.config.promote_after:
            return  # a heartbeat arrived while we asked
        if status is not None and status.role is Role.PRIMARY and status.epoch >= self.epoch:
            log_event("promotion-vetoed", primary=status.name, epoch=status.epoch, silence=f"{silence:.2f}s")
            self._last_contact = self._clock()
            return
        epoch = self.epoch + 1
        self.store.set_epoch(epoch)
        if self._needs_resync:
            log_event(
                "promote-unsynchronised",
                level=logging.WARNING,
                lsn=self.store.last_lsn,
                detail="promoting with a log that was due for resync",
            )
        self._needs_resync = False
        self._peer = PeerView()
        self._in_sync = True
        self._next_heartbeat = 0.0
        self._set_role(Role.PRIMARY, f"no heartbeat from the primary for {silence:.2f}s (epoch now {epoch})")
        log_event("promote", level=logging.WARNING, epoch=epoch, lsn=self.store.last_lsn)

    async def _resync(self, peer: PeerClient) -> None:
        self._resyncing = True
        started = self._clock()
        if self._resync_failures == 0:
            log_event("resync-start", source=peer.base_url, local_lsn=self.store.last_lsn, epoch=self.epoch)
        try:
            entries, peer_epoch = await fetch_full_log(peer)
            discarded = self.store.replace_log(entries, peer_epoch)
        except (PeerUnavailable, ResyncError, StoreError) as error:
            # Logged once per streak: a dead peer would otherwise produce a line per retry.
            if self._resync_failures == 0:
                log_event(
                    "resync-failed", level=logging.WARNING, error=str(error), retry_every=f"{RESYNC_RETRY}s"
                )
            self._resync_failures += 1
            self._next_resync = self._clock() + RESYNC_RETRY
            return  # still needs a resync: retried by a later round
        finally:
            self._resyncing = False
        self._needs_resync = False
        self._resync_failures = 0
        listed = ",".join(f"{e.lsn}:{e.resource_type}/{e.resource_id}" for e in discarded[:DISCARDED_LISTED])
        log_event(
            "resync-done",
            level=logging.WARNING if discarded else logging.INFO,
            lsn=self.store.last_lsn,
            epoch=self.epoch,
            discarded=len(discarded),
            discarded_entries=listed or "none",
            seconds=f"{self._clock() - started:.3f}",
        )

    # -- transitions ---------------------------------------------------------------------

    def _step_down(self, winner: str, epoch: int, via: str) -> None:
        if epoch > self.epoch:
            self.store.set_epoch(epoch)
        self._set_role(Role.STANDBY, f"{winner} is primary at epoch {epoch} ({via})")
        log_event(
            "step-down", level=logging.WARNING, winner=winner, epoch=self.epoch, lsn=self.store.last_lsn
        )
        self._needs_resync = True
        self._last_contact = self._clock()
        self._contact = None
        self._peer = PeerView()
        self._notify()  # sync waiters must see that we are no longer primary
        self._wake.set()

    def _set_role(self, role: Role, reason: str) -> None:
        if role is not self._role:
            log_event(
                "role-change",
                level=logging.WARNING,
                old=self._role.value,
                new=role.value,
                epoch=self.epoch,
                reason=reason,
            )
            self._role = role

    def _set_reachable(self, reachable: bool, detail: str) -> None:
        if reachable is not self._peer.reachable:
            if reachable:
                log_event("peer-reachable", peer=self.config.peer_url)
            else:
                log_event("peer-unreachable", level=logging.WARNING, peer=self.config.peer_url, detail=detail)
            self._peer.reachable = reachable

    def _set_in_sync(self, in_sync: bool, reason: str) -> None:
        if in_sync is self._in_sync:
            return
        self._in_sync = in_sync
        # Only meaningful in sync mode (it changes when writes are acknowledged).
        if self.config.replication is ReplicationMode.SYNC and self._peer_client is not None:
            if in_sync:
                log_event("standby-in-sync", detail=reason)
            else:
                log_event(
                    "standby-out-of-sync",
                    level=logging.WARNING,
                    strict=self.config.sync_strict,
                    detail=reason,
                )

    def _request_ship(self, *, contact: bool) -> None:
        self._ship_requested = self._ship_requested or contact
        self._wake.set()

    def _notify(self) -> None:
        """Wake every :meth:`replicate` waiter: swap in a fresh event and set the old one."""
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
