"""Healing a toxic that forwards data (latency, bandwidth, slicer) without Toxiproxy's slow
removal path (its issue #558), and knowing when the toxic stopped acting.

What Toxiproxy 2.12.0 does (its source, confirmed on the binary by bench/bench_toxic_heal.py
and tests/toxiproxy/test_toxic_removal.py):

* ``DELETE`` holds the proxy's toxic-collection lock while, in every link, it interrupts the
  toxic and flushes the chunks queued in front of it with a 5 s timeout per chunk. A link
  whose writer just failed on a client that left waits for that same lock instead of
  reading, so each queued chunk costs 5 s (measured: 10 s median for probe-like clients that
  timed out, 30 s and a 503 from Toxiproxy's own 25 s API timeout with more data queued);
  meanwhile ``GET /proxies...`` and every *new* connection through the proxy wait too -- a
  front door's health checks included.
* ``PATCH {"toxicity": 0}`` takes the lock but flushes nothing: every stub restarts on the
  no-op pipe (``ToxicStub.Run`` picks it whenever ``rand < toxicity`` is false: always for 0),
  for open and new connections alike, and the data the toxic held goes through at once
  (measured: 4-8 ms). Its answer is the moment the toxic stopped acting.
* Neutralising by setting ``latency: 0`` is *not* the same: it restarts the latency pipe,
  whose interrupt path does a bare channel send and wedged Toxiproxy for good in the bench.
* A toxic stuck on a bare channel send because a client stopped reading cannot be
  interrupted at all; any call that takes the lock waits until that client reads, and for
  ever if it disconnects. Nothing on the API undoes that (disabling or deleting the proxy
  then hangs too, the latter for the whole API): :func:`heal_data_toxic` reports it.

Other toxics (``timeout``, ``reset_peer``) are removed with a plain DELETE: fast for them
(``timeout``'s Cleanup closes its stub, nothing is flushed), and it keeps their meaning
(removing a ``timeout`` toxic closes the connections it black-holed; toxicity 0 would revive
them).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

from harness.toxiproxy import ToxiproxyClient, ToxiproxyError, ToxiproxyNotFound, ToxiproxyUnreachable

DATA_TOXICS = frozenset({"latency", "bandwidth", "slicer"})
"""Toxic types that forward data and so can be stuck flushing it; the others (``timeout``,
``reset_peer``...) are removed with a plain DELETE, which is fast for them (``timeout``'s
Cleanup closes the stub: nothing is flushed) and keeps their semantics (removing a
``timeout`` toxic closes the connections it black-holed; toxicity 0 would revive them)."""

GRACE = 0.5
"""Seconds between neutralising and removing. A writer that fails on the data the PATCH
released (its client left) leaves the link table as soon as the PATCH lets go of the lock;
a DELETE that gets the lock first finds that link with nobody reading it and can wait for
ever (the bench: 4 of 120 racy rounds with no grace, none of 120 with 0.5 s)."""


@dataclass(frozen=True)
class ToxicHeal:
    """What :func:`heal_data_toxic` did.

    ``inert_at``: wall-clock time (``time.time()``) by which the toxic had stopped acting on
    every connection, open or new -- the heal's "ended" stamp; ``None`` if unknown (it may
    still act). ``removed``: the toxic is gone from the proxy. ``problem``: why not, in words
    for an event; ``None`` when both are done. ``was_there``: False when the toxic (or its
    proxy) was already gone before this heal touched it."""

    inert_at: float | None
    removed: bool
    problem: str | None = None
    was_there: bool = True


def heal_data_toxic(client: ToxiproxyClient, proxy: str, toxic: str, *, grace: float = GRACE,
                    settle: float = 20.0, poller: ToxiproxyClient | None = None) -> ToxicHeal:
    """Heal toxic ``toxic`` of ``proxy`` without Toxiproxy's slow flush path. Idempotent.

    1. ``PATCH toxicity 0`` (``client``'s timeout; keep it >= 10 s: a bandwidth toxic's own
       interrupt may take 5 s). Its answer is the moment the toxic stopped acting.
    2. If that PATCH got no answer, the lock is held -- a client of the proxy is not reading,
       or an earlier removal is flushing. Nothing else is sent that takes the lock, and the
       proxy is left alone: disabling it closes that client's socket, which makes the wait
       permanent (and the disable itself hangs); deleting it while a new connection waits
       for the lock hangs the whole API, every proxy. Instead ``GET /proxies/<p>/toxics``
       (which needs the lock) is polled with ``poller`` (default: a client of the same
       server, 1 s timeout) for at most ``settle`` seconds, until it shows the toxic inert
       (the queued PATCH landed) or gone.
    3. Wait ``grace``, then ``DELETE``. A DELETE without an answer leaves an inert toxic:
       the fault is healed, the removal is reported in ``problem`` (a later DELETE, e.g. at
       the end of the run, is safe to repeat).

    Returns at the latest after about ``client.timeout + settle + grace + client.timeout``.
    Raises :class:`ToxiproxyError` only for an answer that is not a timeout (e.g. HTTP 400).
    """
    try:
        client.update_toxic(proxy, toxic, toxicity=0)
        inert_at: float | None = time.time()
    except ToxiproxyNotFound:  # toxic or proxy gone already: healed
        return ToxicHeal(time.time(), removed=True, was_there=False)
    except ToxiproxyError as exc:
        if not _lock_busy(exc):
            raise
        with contextlib.ExitStack() as stack:
            if poller is None:
                poller = stack.enter_context(ToxiproxyClient(client.base_url, timeout=1.0))
            inert_at, gone = _wait_until_inert(poller, proxy, toxic, settle)
        if inert_at is None:
            return ToxicHeal(None, removed=False, problem=(
                f"Toxiproxy did not neutralise toxic {toxic!r} of proxy {proxy!r} within "
                f"{client.timeout + settle:.0f}s: a client of that proxy stopped reading, and "
                f"the proxy is wedged for good if that client disconnected (Toxiproxy issue "
                f"#558); the toxic may still act and new connections through {proxy!r} hang "
                f"until toxiproxy-server is restarted"))
        if gone:
            return ToxicHeal(inert_at, removed=True)
    time.sleep(grace)
    try:
        client.remove_toxic(proxy, toxic, missing_ok=True)
    except ToxiproxyError as exc:
        if not _lock_busy(exc):
            raise
        return ToxicHeal(inert_at, removed=False, problem=(
            f"toxic {toxic!r} of proxy {proxy!r} is inert (toxicity 0) but Toxiproxy did not "
            f"remove it within {client.timeout:.0f}s (issue #558); removing it again later is safe"))
    return ToxicHeal(inert_at, removed=True)


def _lock_busy(exc: ToxiproxyError) -> bool:
    # No answer within our timeout, or the server's own 25 s http.TimeoutHandler (503).
    return isinstance(exc, ToxiproxyUnreachable) or exc.status == 503


def _wait_until_inert(poller: ToxiproxyClient, proxy: str, toxic: str,
                      settle: float) -> tuple[float | None, bool]:
    """(time the toxic was seen inert or gone, whether gone); (None, False) after ``settle``."""
    deadline = time.monotonic() + settle
    while time.monotonic() < deadline:
        try:
            found = [t for t in poller.toxics(proxy) if t.name == toxic]
            if not found:
                return time.time(), True
            if found[0].toxicity != 0:
                # This GET got the lock before our queued PATCH did: neutralise now.
                poller.update_toxic(proxy, toxic, toxicity=0)
            return time.time(), False
        except ToxiproxyNotFound:
            return time.time(), True
        except ToxiproxyError as exc:
            if not _lock_busy(exc):
                raise
    return None, False
