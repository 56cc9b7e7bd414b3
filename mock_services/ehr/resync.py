"""Copying the primary's whole log, page by page: the data half of a resync.

A resync is this instance's pg_rewind + base backup: fetch the peer's log from lsn 0, then
swap it in with :meth:`Store.replace_log` in one transaction (the caller does the swap and
reports what it discarded). Fetching before swapping means a failure part-way -- the peer
dies, the link drops, this process is killed -- leaves the old log intact and the resync is
simply retried.

Bounds: pages of ``PAGE_SIZE`` entries; the first page within the configured
``peer_timeout`` (it doubles as the "is the primary there at all" check, so a dead peer does
not delay promotion), later pages within :data:`peer.LOG_PAGE_TIMEOUT`; the whole copy within
``RESYNC_DEADLINE`` seconds. The peer keeps accepting writes while we copy; entries written
after the last page arrive through normal shipping.
"""

from __future__ import annotations

import time

from mock_services.ehr.peer import LOG_PAGE_TIMEOUT, PeerClient
from mock_services.ehr.protocol import Role
from mock_services.ehr.store import LogEntry

PAGE_SIZE = 1000
RESYNC_DEADLINE = 120.0


class ResyncError(Exception):
    """The peer's log could not be copied (it is not primary, or the copy took too long)."""


async def fetch_full_log(peer: PeerClient, *, deadline: float = RESYNC_DEADLINE) -> tuple[list[LogEntry], int]:
    """Return (every entry of the peer's log from lsn 1, the peer's epoch).

    Raises :class:`ResyncError` if the peer is not primary (its log is not authoritative) or
    the copy exceeds ``deadline`` seconds, and ``PeerUnavailable`` if a page cannot be fetched.
    """
    give_up = time.monotonic() + deadline
    entries: list[LogEntry] = []
    epoch = 0
    first = True
    while True:  # bounded by give_up (and each page by its timeout)
        page = await peer.fetch_log(len(entries), PAGE_SIZE, timeout=None if first else LOG_PAGE_TIMEOUT)
        first = False
        if page.status.role is not Role.PRIMARY:
            raise ResyncError(
                f"{page.status.name} is {page.status.role.value}, not primary: its log is not authoritative"
            )
        epoch = max(epoch, page.status.epoch)
        entries.extend(page.entries)
        if len(page.entries) < PAGE_SIZE:
            return entries, epoch
        if time.monotonic() > give_up:
            raise ResyncError(
                f"copying the peer's log took longer than {deadline:.0f} s ({len(entries)} entries so far)"
            )
