"""Several Toxiproxy servers driven together, with calls fired concurrently.

A site-level fault (a data center losing power) is a set of link faults on proxies that may
live on different Toxiproxy servers. They must land together -- a cut that trickles in over
half a second is a different experiment -- so :meth:`ToxiproxyFleet.run_concurrently` sends
all requests at once from a small *persistent* thread pool (no pool creation per call, no
sequential round trips): ten disables against local servers complete in a few ms.

Thread-safety: a fleet may be used from several threads; clients are thread-safe and the
pool is shared. One restriction: a call passed to :meth:`run_concurrently` must not itself
call ``run_concurrently`` on the same fleet (it would wait on the pool it occupies); that is
detected and refused with ``RuntimeError``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from types import TracebackType
from typing import TypeVar

from harness.errors import InvalidInput
from harness.toxiproxy.client import DEFAULT_TIMEOUT, ToxiproxyClient
from harness.toxiproxy.errors import ToxiproxyBatchError

T = TypeVar("T")

DEFAULT_WORKERS = 16
"""Enough to fire a data-center cut (~10 proxies) in one wave."""


class ToxiproxyFleet:
    """One :class:`ToxiproxyClient` per server URL, plus a shared pool for concurrent calls.

    ``servers`` are URLs (a client is created for each with ``timeout``) or ready clients
    (e.g. on a fake transport). The fleet owns its clients: :meth:`close` closes them and
    stops the pool. Clients are keyed by their normalised URL (no trailing slash).
    """

    def __init__(self, servers: Iterable[str | ToxiproxyClient] = (), *,
                 timeout: float = DEFAULT_TIMEOUT, max_workers: int = DEFAULT_WORKERS) -> None:
        if max_workers < 1:
            raise InvalidInput(f"a Toxiproxy fleet needs at least 1 worker, got {max_workers}")
        self._timeout = timeout
        self._clients: dict[str, ToxiproxyClient] = {}
        self._lock = threading.Lock()
        self._in_worker = threading.local()
        # Threads are started on demand and then kept: the first cut pays for thread creation
        # (~0.1 ms each), later ones do not.
        self._pool = ThreadPoolExecutor(max_workers=max_workers,
                                        thread_name_prefix="hchaos-toxiproxy",
                                        initializer=self._mark_worker)
        self._closed = False
        for server in servers:
            self.add(server)

    def _mark_worker(self) -> None:
        self._in_worker.active = True

    # -- membership --------------------------------------------------------------------------

    def add(self, server: str | ToxiproxyClient) -> ToxiproxyClient:
        """Add a server (URL or client) and return its client; adding a known URL again
        returns the existing client (a client passed in is then closed)."""
        client = server if isinstance(server, ToxiproxyClient) else \
            ToxiproxyClient(server, timeout=self._timeout)
        with self._lock:
            existing = self._clients.get(client.base_url)
            if existing is not None:
                if existing is not client:
                    client.close()
                return existing
            self._clients[client.base_url] = client
            return client

    def client(self, url: str) -> ToxiproxyClient:
        """The client for ``url``; ``InvalidInput`` naming the known servers if absent."""
        key = url.rstrip("/")
        with self._lock:
            try:
                return self._clients[key]
            except KeyError:
                known = ", ".join(self._clients) or "none"
                raise InvalidInput(f"no Toxiproxy server {key} in this fleet (known: {known})") \
                    from None

    __getitem__ = client

    @property
    def clients(self) -> Mapping[str, ToxiproxyClient]:
        """A snapshot of the clients by URL."""
        with self._lock:
            return dict(self._clients)

    def __iter__(self) -> Iterator[ToxiproxyClient]:
        return iter(self.clients.values())

    def __len__(self) -> int:
        with self._lock:
            return len(self._clients)

    # -- concurrency -------------------------------------------------------------------------

    def run_concurrently(self, calls: Sequence[Callable[[], T]]) -> list[T]:
        """Run every call at once on the fleet's pool; return their results in call order.

        All calls always run to completion (each is bounded by its client's timeout), even
        when some fail. If any failed, raises :class:`ToxiproxyBatchError` listing every
        failure, with the successful results on its ``results``. Calls beyond the pool size
        (``max_workers``) start as soon as a worker frees up.
        """
        if self._closed:
            raise RuntimeError("this ToxiproxyFleet is closed")
        if getattr(self._in_worker, "active", False):
            raise RuntimeError("run_concurrently() called from inside one of its own calls; "
                               "this would deadlock the fleet's pool")
        futures: list[Future[T]] = [self._pool.submit(call) for call in calls]
        wait(futures)
        failures: list[tuple[int, BaseException]] = []
        for index, future in enumerate(futures):
            exc = future.exception()
            if exc is not None:
                failures.append((index, exc))
        if failures:
            failed = {index for index, _ in failures}
            partial = [None if i in failed else f.result() for i, f in enumerate(futures)]
            raise ToxiproxyBatchError(partial, failures) from failures[0][1]
        return [future.result() for future in futures]

    def for_each(self, operation: Callable[[ToxiproxyClient], T]) -> dict[str, T]:
        """Apply ``operation`` to every server's client concurrently; results by URL.

        E.g. ``fleet.for_each(lambda c: c.reset())``. Failures as in :meth:`run_concurrently`.
        """
        clients = self.clients
        results = self.run_concurrently([_bind(operation, c) for c in clients.values()])
        return dict(zip(clients, results, strict=True))

    # -- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the pool (waiting for running calls) and close every client. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._pool.shutdown(wait=True)
        for client in self.clients.values():
            client.close()

    def __enter__(self) -> ToxiproxyFleet:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _bind(operation: Callable[[ToxiproxyClient], T], client: ToxiproxyClient) -> Callable[[], T]:
    # A helper rather than a lambda in a comprehension: each call must capture its own client.
    return lambda: operation(client)
