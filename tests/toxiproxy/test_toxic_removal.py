"""Removing a latency toxic from a real Toxiproxy 2.12.0 when clients have gone away (upstream
issue #558), and the heal that avoids the slow path: :func:`harness.faults.toxic_heal.heal_data_toxic`, which
the nemesis uses (figures: bench/bench_toxic_heal.py).

What the server does (v2.12.0 source):

* ``DELETE`` holds the proxy's toxic-collection lock while, in every link, it interrupts the
  toxic and flushes the chunks queued in front of it with ``WriteOutput(chunk, 5 s)``. A link
  whose writer has just failed on a client that left waits for that same lock instead of
  reading, so each queued chunk costs 5 s; meanwhile ``GET /proxies...`` and every new
  connection through the proxy wait as well.
* ``PATCH {"toxicity": 0}`` takes the lock too but flushes nothing: the stub restarts and
  ``ToxicStub.Run`` picks the no-op pipe whenever ``rand < toxicity`` is false -- always for 0 --
  for open connections and new ones alike. Data the toxic held goes through at once.
* A toxic stuck on a bare channel send, because its writer is stuck writing to a client that
  stopped reading, cannot be interrupted at all: any call that takes the lock (PATCH, DELETE,
  adding a toxic) then waits until that client reads, and for ever if it disconnects instead.
  Nothing on the API can undo that; only ``GET /version`` still answers.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from harness.faults.toxic_heal import heal_data_toxic
from harness.toxiproxy import (
    ProxySpec,
    ToxicSpec,
    ToxiproxyClient,
)
from tests.toxiproxy.traffic import PART, REQUEST, PartsUpstream, read_answer, reset_close

pytestmark = pytest.mark.integration

FLUSH_SIGNATURE = "Could not write last packets after interrupt to Output"
"""What toxiproxy-server logs each time a removal's 5 s flush of one chunk times out."""

@dataclass
class ProxyUnderTest:
    """One proxy on the real Toxiproxy server (by ``name``, listening on ``port``), the client
    that drives it and the server's log, where the flush timeouts show."""

    client: ToxiproxyClient
    name: str
    port: int
    log: Any  # Path of the server's log

    def connect(self, timeout: float = 5.0) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def clients_leave_while_answers_are_held(self, count: int) -> None:
        """``count`` clients ask, then reset before the toxic lets their answers through (as
        probes that time out do): the answers sit in the toxic, their writers do not know."""
        socks = [self.connect() for _ in range(count)]
        for sock in socks:
            sock.sendall(REQUEST)
        time.sleep(0.5)
        for sock in socks:
            reset_close(sock)

    def flush_timeouts(self) -> int:
        return str(self.log.read_text(errors="replace")).count(FLUSH_SIGNATURE)


@pytest.fixture
def link_factory(real_client: ToxiproxyClient, toxiproxy_server: Any) -> Iterator[Any]:
    upstreams: list[PartsUpstream] = []

    def make(parts: int) -> ProxyUnderTest:
        upstream = PartsUpstream(parts)
        upstreams.append(upstream)
        proxy = real_client.create_proxy(ProxySpec("ehr", "127.0.0.1:0", upstream.address))
        return ProxyUnderTest(real_client, "ehr", proxy.listen_host_port[1], toxiproxy_server.log)

    yield make
    for upstream in upstreams:
        upstream.close()


def latency(ms: int) -> ToxicSpec:
    return ToxicSpec("latency", name="slow", stream="downstream", attributes={"latency": ms, "jitter": 0})


# -- tests -------------------------------------------------------------------------------------

def test_plain_delete_flushes_for_5s_per_chunk_held_for_a_client_that_left(
        link_factory: Any, toxiproxy_server: Any) -> None:
    link = link_factory(parts=2)
    link.client.add_toxic(link.name, latency(2000))
    link.clients_leave_while_answers_are_held(3)

    with ToxiproxyClient(toxiproxy_server.url, timeout=30) as patient:
        started = time.monotonic()
        patient.remove_toxic(link.name, "slow")
        took = time.monotonic() - started

    # Each answer was two chunks: one held by the toxic (written, and the writer failed on
    # it), one queued in front of it, flushed for Toxiproxy's fixed 5 s with nobody reading.
    # A lower bound set by the server's own constant: a slow machine only makes it longer.
    assert took >= 4.5, f"DELETE took {took:.2f}s: did Toxiproxy stop flushing for dead clients (#558)?"
    assert link.flush_timeouts() >= 1
    assert link.client.toxics(link.name) == []


def test_heal_data_toxic_neutralises_at_once_keeps_live_connections_and_removes_the_toxic(
        link_factory: Any) -> None:
    link = link_factory(parts=2)
    survivor = link.connect()
    survivor.sendall(REQUEST)
    read_answer(survivor)  # a healthy keep-alive connection from before the fault
    link.client.add_toxic(link.name, latency(10_000))
    survivor.sendall(REQUEST)  # its answer is held for 10 s ...
    link.clients_leave_while_answers_are_held(3)  # ... and so are theirs

    before = time.time()
    heal = heal_data_toxic(link.client, link.name, "slow")

    assert heal.removed and heal.problem is None
    assert heal.inert_at is not None and heal.inert_at >= before
    assert link.flush_timeouts() == 0  # the slow path was never taken
    assert link.client.toxics(link.name) == []
    # The held answer was let through by the heal: well before the toxic's 10 s.
    survivor.settimeout(3.0)
    assert read_answer(survivor) == PART * 2
    survivor.sendall(REQUEST)  # and the connection was kept
    assert read_answer(survivor) == PART * 2
    with link.connect(timeout=3.0) as fresh:
        fresh.settimeout(3.0)
        fresh.sendall(REQUEST)
        assert read_answer(fresh) == PART * 2
    survivor.close()


def test_heal_data_toxic_is_idempotent(link_factory: Any) -> None:
    link = link_factory(parts=1)
    link.client.add_toxic(link.name, latency(1000))
    assert heal_data_toxic(link.client, link.name, "slow").removed
    again = heal_data_toxic(link.client, link.name, "slow")
    assert again.removed and again.inert_at is not None and again.problem is None
    assert heal_data_toxic(link.client, "no-such-proxy", "slow").removed


def test_heal_data_toxic_reports_a_client_that_stopped_reading_instead_of_hanging(
        link_factory: Any, toxiproxy_server: Any) -> None:
    # The case no API call can heal: a client stops reading (its buffers fill, the toxic is
    # stuck handing data to a writer stuck writing to it), the heal starts, the client goes.
    link = link_factory(parts=1)
    link.client.add_toxic(link.name, latency(200))
    stalled = link.connect()
    stalled.sendall(b"GET /stream HTTP/1.1\r\n\r\n")
    time.sleep(1.0)  # never read: every buffer on the way fills up
    threading.Timer(0.3, reset_close, args=(stalled,)).start()

    with ToxiproxyClient(toxiproxy_server.url, timeout=2.0) as impatient:
        heal = heal_data_toxic(impatient, link.name, "slow", settle=2.0)

    assert heal.inert_at is None and not heal.removed
    assert heal.problem is not None and "stopped reading" in heal.problem and "#558" in heal.problem
    assert link.client.version()  # the API itself still answers
    toxiproxy_server.process.kill()  # wedged for good: a graceful stop would wait 30 s
    toxiproxy_server.process.wait()


def test_the_nemesis_heals_a_latency_fault_without_the_flush_and_stamps_when_it_stopped_acting(
        link_factory: Any, toxiproxy_server: Any, tmp_path: Any) -> None:
    """The timeline once said a latency fault ended 30 s before its toxic went: the nemesis now
    makes the toxic inert first, and its heal record's ``ended`` is that moment."""
    from harness.backends.base import Endpoints
    from harness.backends.fake import NoProcessesBackend
    from harness.faults import FaultPlan, Nemesis, ToxicAction
    from harness.run.journal import Journal
    from harness.timeline import FaultRecord, TimelineWriter, read_timeline

    link = link_factory(parts=2)
    timeline = TimelineWriter(tmp_path / "timeline.jsonl")
    journal = Journal(tmp_path, "t")
    endpoints = Endpoints(front_door_urls={}, toxiproxy_url=toxiproxy_server.url, links={}, instance_urls={})
    nemesis = Nemesis(endpoints, NoProcessesBackend(), journal, timeline)
    plan = FaultPlan("slow", "latency", link.name, 0.0, 1.0, toxics=(ToxicAction(link.name, latency(2000)),))
    try:
        nemesis.inject(plan)
        link.clients_leave_while_answers_are_held(3)
        nemesis.heal(plan)
    finally:
        nemesis.close()
        timeline.close()
        journal.close()
    assert link.flush_timeouts() == 0  # the slow path (5 s per held chunk) was never taken
    assert link.client.toxics(link.name) == []
    heal = [r for r in read_timeline(tmp_path / "timeline.jsonl") if isinstance(r, FaultRecord)][-1]
    assert heal.action == "heal" and heal.ended is not None and heal.t <= heal.ended
    with link.connect() as fresh:  # new connections go through again
        fresh.sendall(REQUEST)
        assert read_answer(fresh)
