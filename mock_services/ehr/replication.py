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
import logging
import time
from collections.abc import Callable

from mock_services.ehr.config import Config, ConfiguredRole
from mock_services.ehr.eventlog import log_event, logger
from mock_services.ehr.peer import PeerClient, PeerUnavailable
from mock_services.ehr.protocol import AppendRequest, Heartbeat, LogPage, NodeStatus, Reply, Role
from mock_services.ehr.resync import ResyncError, fetch_full_log
from mock_services.ehr.shipping import Shipper, WriteOutcome
from mock_services.ehr.store import LogEntry, Store, StoreError

__all__ = ["Node", "NotPrimary", "WriteOutcome"]

DISCARDED_LISTED = 20  # discarded entries named one by one in the resync log line
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
        }

    def log_page(self, after: int, limit: int) -> LogPage:
        return LogPage(self.status(), tuple(self.store.entries_after(after, limit)))

    # -- the write path ------------------------------------------------------------------

    def write(self, resource_type: str, resource_id: str, version_id: str, last_updated: str, body: str) -> LogEntry:
        """Commit a write locally in the current epoch; raises :class:`NotPrimary` unless primary."""
        if self._role is not Role.PRIMARY:
            raise NotPrimary(self._role, self.epoch)
        return self.store.append(resource_type, resource_id, version_id, last_updated, body)

    async def replicate(self, lsn: int) -> WriteOutcome:
        """When a write committed at ``lsn`` may be acknowledged: see :meth:`Shipper.acknowledge`."""
        if self._shipper is None:
            return WriteOutcome.STEPPED_DOWN  # only possible if we stepped down meanwhile
        return await self._shipper.acknowledge(lsn)

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
                if self._shipper is not None:
                    await self._shipper.round()
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
        self._become_primary(reason)

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
        self._needs_resync = True
        self._last_contact = self._clock()
        self._contact = None
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
