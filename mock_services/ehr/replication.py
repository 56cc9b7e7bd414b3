"""The replication state machine of one EHR instance: roles, epochs, incoming messages,
promotion, step-down and resync (the protocol itself is described in the package docstring;
the primary's outgoing side -- heartbeats, shipping, acknowledging writes -- is
:mod:`.shipping`).

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

from mock_services.ehr.config import Config, ConfiguredRole
from mock_services.ehr.eventlog import log_event, logger
from mock_services.ehr.lease import Lease
from mock_services.ehr.peer import PeerClient, PeerUnavailable
from mock_services.ehr.protocol import AppendRequest, Heartbeat, LogPage, NodeStatus, Reply, Role
from mock_services.ehr.resync import ResyncError, fetch_full_log
from mock_services.ehr.shipping import Shipper, WriteOutcome
from mock_services.ehr.store import LogEntry, Store, StoreError

__all__ = ["Node", "NotPrimary", "WriteOutcome"]

DISCARDED_LISTED = 20  # discarded entries named one by one in the resync log line
DISCARDED_IN_STATUS = 50  # most recent discarded entries listed in /_replication/status
RESYNC_RETRY = 0.5  # seconds between resync attempts while the source does not answer


class NotPrimary(Exception):
    """A write reached an instance that is not (or not yet) the primary."""

    def __init__(self, role: Role, epoch: int) -> None:
        super().__init__(f"role is {role.value} (epoch {epoch}); writes are accepted only by the primary")
        self.role = role


class Node:
    """One instance's replication role and the logic that changes it. See the module docs."""

    def __init__(
        self,
        config: Config,
        store: Store,
        peer: PeerClient | None,
        clock: Callable[[], float] = time.monotonic,
        lease: Lease | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self._peer_client = peer
        self._clock = clock
        self._lease = lease  # fencing on: no valid lease, no primary role
        self.promotions = 0  # counters for /metrics
        self.step_downs = 0
        self.primary_lsn = 0  # standby: the primary's lsn in its latest accepted heartbeat
        if config.role is ConfiguredRole.STANDBY:
            self._role = Role.STANDBY
        else:
            # A configured primary with a peer must first ask who is primary (see run()).
            self._role = Role.STARTING if peer is not None else Role.PRIMARY
        # The primary's link to its standby, one per primary term (None unless primary).
        self._shipper = Shipper(self, peer, clock) if self._role is Role.PRIMARY else None
        self._needs_resync = False
        self._resyncing = False
        self._next_resync = 0.0
        self._resync_failures = 0
        # Promotion counts from our own start: a standby whose primary never shows up promotes.
        self._last_contact = clock()
        self._contact: bool | None = None  # standby: are heartbeats arriving (None = never were)
        self._vetoed = False  # a promotion was vetoed since the last contact (logged once)
        self._blocked = False  # the witness refused a promotion since the last contact (logged once)
        log_event(
            "start",
            role=self._role.value,
            configured=config.role.value,
            epoch=store.epoch,
            lsn=store.last_lsn,
            replication=config.replication.value,
            strict=config.sync_strict,
            peer=config.peer_url or "none",
            fencing="on" if lease is not None else "off",
            base=store.base or "none",
        )

    # -- state -----------------------------------------------------------------------------

    @property
    def role(self) -> Role:
        return self._role

    @property
    def epoch(self) -> int:
        return self.store.epoch

    @property
    def lease(self) -> Lease | None:
        """The fencing lease (None with fencing off)."""
        return self._lease

    @property
    def in_sync(self) -> bool:
        """Primary: whether the standby is level (sync mode: whether writes wait). Else False."""
        return self._shipper is not None and self._shipper.in_sync

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
            self.store.base or "",
        )

    def status_document(self) -> dict[str, object]:
        """``GET /_replication/status``: a ``NodeStatus`` plus diagnostics for people and tests."""
        shipper = self._shipper
        return {
            **self.status().to_json(),
            "replication": self.config.replication.value,
            "sync_strict": self.config.sync_strict,
            "in_sync": self.in_sync,
            "since_primary_contact": (
                None if self._role is Role.PRIMARY else round(self._clock() - self._last_contact, 3)
            ),
            "peer": shipper.peer_document() if shipper else {"url": self.config.peer_url},
            "fencing": self._lease.document() if self._lease is not None else None,
            "replication_lag": self.replication_lag(),
            "promotions": self.promotions,
            "step_downs": self.step_downs,
            "discarded": {
                "total": self.store.discarded_total,
                "recent": [
                    entry.to_json()
                    for entry in self.store.discarded(max(0, self.store.discarded_total - DISCARDED_IN_STATUS))
                ],
            },
        }

    def replication_lag(self) -> int | None:
        """Entries the standby is behind: the primary's view of its standby, or the standby's view
        of the primary's last heartbeat; None when unknown (no peer, never heard of it)."""
        if self._shipper is not None:
            status = self._shipper.peer.status
            if self._peer_client is None or status is None:
                return None
            return max(0, self.store.last_lsn - self._shipper.peer.matched_lsn)
        if self._contact is None:
            return None
        return max(0, self.primary_lsn - self.store.last_lsn)

    def log_page(self, after: int, limit: int) -> LogPage:
        return LogPage(self.status(), tuple(self.store.entries_after(after, limit)))

    # -- the write path ------------------------------------------------------------------

    def writable(self) -> bool:
        """Whether a write may be accepted now: primary and, with fencing, a lease still valid.

        Checked synchronously on every write, so a primary whose lease ran out -- even one
        that was frozen and has not run its renewal loop yet -- refuses at once (and steps
        down here and now).
        """
        if self._role is not Role.PRIMARY:
            return False
        if self._lease is not None and not self._lease.held():
            self._lose_lease("the lease expired before it could be renewed")
            return False
        return True

    def write(self, resource_type: str, resource_id: str, version_id: str, last_updated: str, body: str) -> LogEntry:
        """Commit a write locally in the current epoch; raises :class:`NotPrimary` unless writable."""
        if not self.writable():
            raise NotPrimary(self._role, self.epoch)
        return self.store.append(resource_type, resource_id, version_id, last_updated, body)

    async def replicate(self, lsn: int) -> WriteOutcome:
        """When a write committed at ``lsn`` may be acknowledged: see :meth:`Shipper.acknowledge`.

        With fencing, also only while the lease is valid: a write acknowledged after it
        expired could overlap with a successor's writes.
        """
        if self._shipper is None:
            return WriteOutcome.STEPPED_DOWN  # only possible if we stepped down meanwhile
        outcome = await self._shipper.acknowledge(lsn)
        if outcome is WriteOutcome.ACKNOWLEDGED and not self.writable():
            return WriteOutcome.STEPPED_DOWN
        return outcome

    # -- incoming replication messages (synchronous: atomic on the event loop) -------------

    def on_heartbeat(self, message: Heartbeat) -> Reply:
        """A primary's heartbeat. Accepted (200) by a standby of the same or a lower epoch."""
        refusal = self._refuse_from_primary(message.name, message.epoch, "heartbeat")
        if refusal is not None:
            return refusal
        self.primary_lsn = message.lsn
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
            if not self.outranked_by(sender, epoch):
                # It will step down when it reads our answer (see Shipper._observe).
                return Reply(False, "not-standby", self.status())
            self.step_down(sender, epoch, f"{what} from {sender}")
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

    def outranked_by(self, sender: str, epoch: int) -> bool:
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
        self._vetoed = False
        self._blocked = False
        if self._contact is not True:
            log_event("primary-reachable", primary=sender, epoch=self.epoch)
            self._contact = True

    # -- background task -----------------------------------------------------------------

    async def run(self) -> None:
        """The background task: decide the starting role, then act on the current role forever."""
        if self._peer_client is None:
            return  # a single instance keeps its configured role: nothing to watch
        renewals = asyncio.create_task(self._lease_loop(), name="ehr-lease") if self._lease is not None else None
        try:
            if self._role is Role.STARTING:
                await self._decide_starting_role(self._peer_client)
            await self._rounds(self._peer_client)
        finally:
            if renewals is not None:
                renewals.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await renewals

    async def _rounds(self, peer: PeerClient) -> None:
        while True:
            try:
                if self._shipper is not None:
                    await self._shipper.round()
                else:
                    await self._standby_round(peer)
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
        if self._lease is not None:
            answer = await self._lease.request(self.epoch)
            if self._role is not Role.STARTING:
                return
            if answer is None or not answer.granted:
                refused = "no answer" if answer is None else f"held by {answer.holder} at epoch {answer.epoch}"
                self._last_contact = self._clock()  # wait promote_after, like any standby, before trying again
                self._set_role(Role.STANDBY, f"{reason}, but the witness did not grant the lease ({refused})")
                return
            reason += f"; lease granted at epoch {self.epoch}"
        self._become_primary(reason)

    async def _lease_loop(self) -> None:
        """Fencing on: renew the lease every heartbeat while primary; step down when it is lost."""
        lease = self._lease
        assert lease is not None
        while True:
            try:
                await self._lease_round(lease)
            except Exception:
                # Like the main loop: a bug must not silently stop renewals (writes would still
                # be refused once the lease runs out, as every write checks it).
                logger.exception("event=lease-error role=%s", self._role.value)
                await asyncio.sleep(self.config.heartbeat_interval)

    async def _lease_round(self, lease: Lease) -> None:
        if self._role is not Role.PRIMARY:
            await asyncio.sleep(self.config.heartbeat_interval)
            return
        if not lease.held():
            self._lose_lease("the lease expired: the witness did not renew it in time")
            return
        answer = await lease.request(self.epoch)
        if self._role is Role.PRIMARY:
            if answer is not None and not answer.granted:
                self._lose_lease(f"the witness refused the renewal: held by {answer.holder} at epoch {answer.epoch}")
                return
            if not lease.held():
                self._lose_lease("the lease expired: the witness did not renew it in time")
                return
        # Renew every heartbeat, and wake up when the lease would run out.
        await asyncio.sleep(max(0.005, min(self.config.heartbeat_interval, lease.remaining())))

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
            if not self._vetoed:  # once per streak of lost heartbeats
                log_event("promotion-vetoed", primary=status.name, epoch=status.epoch, silence=f"{silence:.2f}s")
                self._vetoed = True
            self._last_contact = self._clock()
            return
        epoch = self.epoch + 1
        if self._lease is not None:
            epoch = max(self.epoch, self._lease.known_epoch) + 1
            answer = await self._lease.request(epoch)
            if self._role is not Role.STANDBY:
                return
            if answer is None or not answer.granted:
                if not self._blocked:  # once per streak of lost heartbeats
                    refused = "no answer" if answer is None else f"held by {answer.holder} at epoch {answer.epoch}"
                    log_event("promotion-blocked", level=logging.WARNING, epoch=epoch, witness=refused)
                    self._blocked = True
                return
            if epoch <= self.epoch:
                return  # a primary of a higher epoch reached us while we asked: not ours to take
            silence = self._clock() - self._last_contact
        self.store.set_epoch(epoch)
        if self._needs_resync:
            log_event(
                "promote-unsynchronised",
                level=logging.WARNING,
                lsn=self.store.last_lsn,
                detail="promoting with a log that was due for resync",
            )
        self._needs_resync = False
        self._become_primary(f"no heartbeat from the primary for {silence:.2f}s (epoch now {epoch})")
        self.promotions += 1
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
                log_event("resync-failed", level=logging.WARNING, error=str(error), retry_every=f"{RESYNC_RETRY}s")
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

    def step_down(self, winner: str, epoch: int, via: str) -> None:
        """``winner`` is primary and outranks us: become a standby of its epoch and resync."""
        if epoch > self.epoch:
            self.store.set_epoch(epoch)
        self._set_role(Role.STANDBY, f"{winner} is primary at epoch {epoch} ({via})")
        log_event("step-down", level=logging.WARNING, winner=winner, epoch=self.epoch, lsn=self.store.last_lsn)
        self._end_term()

    def _lose_lease(self, reason: str) -> None:
        """Fencing: the lease is gone, so stop being primary now; resync from the next primary.

        The instance waits for a heartbeat from a new primary (its resync attempts fail until
        the peer is primary), or promotes again itself through the witness after
        ``promote_after`` if nobody else does.
        """
        if self._role is not Role.PRIMARY:
            return
        self._set_role(Role.STANDBY, reason)
        log_event("lease-lost", level=logging.WARNING, epoch=self.epoch, lsn=self.store.last_lsn, reason=reason)
        self._end_term()

    def _end_term(self) -> None:
        """Common to every way of leaving the primary role."""
        self.step_downs += 1
        self._needs_resync = True
        self._last_contact = self._clock()
        self._contact = None
        if self._lease is not None:
            self._lease.drop()
        if self._shipper is not None:
            self._shipper.close()  # waiting writes learn they were not acknowledged
            self._shipper = None

    def _become_primary(self, reason: str) -> None:
        self._shipper = Shipper(self, self._peer_client, self._clock)
        self._set_role(Role.PRIMARY, reason)

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
