"""The EHR as real processes: two instances on free ports, peers of each other.

Timings: heartbeat 0.1 s, peer timeout 0.5 s, promote after 1.0 s. Every wait is bounded;
every process is SIGKILLed at teardown (after SIGCONT, in case a test froze it). Process logs
are printed at teardown, so a failing test shows them. Links with latency or cuts go through
:class:`~mock_services.ehr.tcpproxy.TcpProxy`.
"""

from __future__ import annotations

import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mock_services.ehr.tcpproxy import TcpProxy
from mock_services.ehr.testing_processes import Cluster, free_port, wait_until

pytestmark = pytest.mark.integration

PROMOTE_AFTER = 1.0
HEARTBEAT = 0.1
PEER_TIMEOUT = 0.5


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    with httpx.Client(timeout=2.0, trust_env=False) as http:
        running = Cluster(tmp_path, http, promote_after=PROMOTE_AFTER, heartbeat=HEARTBEAT, peer_timeout=PEER_TIMEOUT)
        try:
            yield running
        finally:
            running.close()


def test_sync_write_is_readable_on_the_standby_right_after_201(cluster: Cluster) -> None:
    a, b = cluster.pair("--replication", "sync")

    created = cluster.create(a, "sync-1")

    assert created.status_code == 201
    patient_id = created.json()["id"]
    read = cluster.http.get(f"{b.url}/Patient/{patient_id}")  # no wait: sync means applied
    assert read.status_code == 200 and read.json() == created.json()
    assert read.headers["x-served-by"] == "ehr-b"
    found = cluster.http.get(f"{b.url}/Patient", params={"identifier": "urn:mrn|sync-1"}).json()
    assert found["total"] == 1


def test_async_write_reaches_the_standby_within_a_bounded_wait(cluster: Cluster) -> None:
    a, b = cluster.pair("--replication", "async")

    created = cluster.create(a, "async-1")

    assert created.status_code == 201
    took = wait_until(lambda: cluster.has(b, created.json()["id"]), 2.0, "async write shipped to ehr-b")
    assert took < 2.0


def test_sigkilled_primary_is_replaced_and_rejoins_as_standby_with_the_new_writes(cluster: Cluster) -> None:
    a, b = cluster.pair("--replication", "sync")
    before = cluster.create(a, "before-crash").json()["id"]

    killed_at = time.monotonic()
    a.kill()
    wait_until(lambda: cluster.http.get(f"{b.url}/primary").status_code == 200, PROMOTE_AFTER + 3.0, "ehr-b promoted")
    failover = time.monotonic() - killed_at
    health = cluster.http.get(f"{b.url}/health").json()
    during = cluster.create(b, "during-outage")

    # It waited for promote-after (minus at most one heartbeat interval) before promoting.
    assert PROMOTE_AFTER - 2 * HEARTBEAT <= failover <= PROMOTE_AFTER + 3.0
    assert (health["role"], health["epoch"]) == ("primary", 2)
    assert during.status_code == 201 and cluster.has(b, before)

    cluster.restart(a)  # same command line: configured primary, same db
    cluster.wait_healthy(a)
    wait_until(lambda: cluster.has(a, during.json()["id"]), 5.0, "ehr-a resynced the write made during its absence")
    rejoined = cluster.http.get(f"{a.url}/health").json()
    assert (rejoined["role"], rejoined["epoch"]) == ("standby", 2)
    assert cluster.http.get(f"{a.url}/primary").status_code == 503
    assert cluster.http.get(f"{b.url}/primary").status_code == 200
    assert cluster.has(a, before)
    refused = cluster.create(a, "to-old-primary")
    assert refused.status_code == 503 and refused.json()["issue"][0]["code"] == "transient"


def test_async_writes_are_absent_from_a_frozen_standby_until_it_resumes(cluster: Cluster) -> None:
    a, b = cluster.pair("--replication", "async")
    assert b.popen is not None

    b.signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        created = [cluster.create(a, f"frozen-{i}") for i in range(3)]
        ack_time = time.monotonic() - started
        ids = [response.json()["id"] for response in created]
        assert all(response.status_code == 201 for response in created)
        assert ack_time < PEER_TIMEOUT  # async: acknowledged without waiting for the standby
        # The frozen process cannot answer HTTP, so look at its database file directly.
        with sqlite3.connect(f"file:{b.db}?mode=ro", uri=True) as db:
            present = db.execute("SELECT COUNT(*) FROM log WHERE resource_id IN (?, ?, ?)", ids).fetchone()[0]
        assert present == 0
        wait_until(lambda: not cluster.standby_level(a), 2.0, "ehr-a sees ehr-b behind")
        # Stay frozen past promote-after: on resuming, ehr-b must not promote (its pre-vote
        # finds ehr-a alive) but catch up.
        time.sleep(max(0.0, PROMOTE_AFTER + 0.3 - (time.monotonic() - started)))
    finally:
        b.signal(signal.SIGCONT)

    wait_until(lambda: all(cluster.has(b, i) for i in ids), 3.0, "ehr-b caught up after SIGCONT")
    health = cluster.http.get(f"{b.url}/health").json()
    assert (health["role"], health["epoch"]) == ("standby", 1)
    assert cluster.http.get(f"{a.url}/primary").status_code == 200


def test_single_instance_survives_sigkill_and_exits_0_on_sigterm(cluster: Cluster) -> None:
    solo = cluster.spawn("ehr-s", "primary", free_port(), None)
    startup = cluster.wait_healthy(solo)
    written = cluster.create(solo, "durable")
    assert written.status_code == 201

    solo.kill()
    cluster.restart(solo)
    cluster.wait_healthy(solo)
    assert cluster.has(solo, written.json()["id"])  # acknowledged => committed before the kill

    solo.signal(signal.SIGTERM)
    assert solo.popen is not None
    assert solo.popen.wait(timeout=5) == 0
    assert startup < 2.0  # loose bound for a busy CI box; typically ~0.3 s


@pytest.mark.parametrize(
    ("mode", "loses_tail"), [(("async",), True), (("sync", "--sync-strict"), False)], ids=["async", "sync-strict"]
)
def test_power_cut_of_the_primary_loses_the_unshipped_tail_only_in_async_mode(
    cluster: Cluster, mode: tuple[str, ...], loses_tail: bool
) -> None:
    """The replication link has 0.15 s latency each way; right after the last 201, the link is
    cut (dropping what is in flight) and the primary SIGKILLed: a data-center power loss.

    Sync mode is strict here, so "acknowledged" always means "on the standby"; a write the
    standby could not confirm in time would get a 503, not a 201 (non-strict sync would
    acknowledge it and lose it too -- Patroni's non-strict trade-off, see the package docs).
    """
    port_b = free_port()
    with TcpProxy(port_b) as link:
        cluster.peer_timeout = 1.5  # >> the 0.3 s round trip (a heartbeat and a ship may queue)
        a, b = cluster.pair("--replication", *mode, a_peer_url=f"http://127.0.0.1:{link.port}", b_port=port_b)
        link.latency = 0.15
        acked = []
        for i in range(3):
            response = cluster.create(a, f"tail-{i}")
            assert response.status_code in (201, 503), response.text
            if response.status_code == 201:
                acked.append(response.json()["id"])
        link.cut()
        a.kill()

        wait_until(lambda: cluster.http.get(f"{b.url}/primary").status_code == 200, 5.0, "ehr-b promoted")
        present = [resource_id for resource_id in acked if cluster.has(b, resource_id)]

    assert acked, "no write was acknowledged at all"
    if loses_tail:
        assert present != acked, "async: the acknowledged tail was still in flight when the power went"
    else:
        assert present == acked, "sync: every acknowledged write was on the standby before its 201"


def test_fencing_on_a_frozen_primary_refuses_writes_the_moment_it_wakes(cluster: Cluster) -> None:
    """SIGSTOP (a long GC pause, a hung VM) outlasts the lease: the standby promotes through the
    witness, and the old primary -- before it has heard of the new epoch -- refuses writes."""
    witness = cluster.spawn_witness()
    fencing = ("--fencing", "on", "--witness-url", witness.url, "--lease-ttl", "1.0")
    a, b = cluster.pair("--replication", "sync", *fencing)
    before = cluster.create(a, "before-freeze")
    assert before.status_code == 201

    a.signal(signal.SIGSTOP)
    try:
        wait_until(lambda: cluster.http.get(f"{b.url}/primary").status_code == 200, 5.0, "ehr-b promoted")
        lease = cluster.http.get(f"{witness.url}/lease/ehr").json()
        assert (lease["holder"], lease["epoch"]) == ("ehr-b", 2)
    finally:
        a.signal(signal.SIGCONT)
    stale = cluster.create(a, "after-thaw")

    assert stale.status_code == 503, stale.text
    assert stale.headers["x-served-by"] == "ehr-a"
    wait_until(lambda: cluster.has(a, before.json()["id"]), 5.0, "ehr-a still has the acknowledged write")
    wait_until(
        lambda: (
            cluster.http.get(f"{a.url}/health").json()["role"] == "standby"
            and cluster.http.get(f"{a.url}/health").json()["epoch"] == 2
        ),
        5.0,
        "ehr-a follows ehr-b at epoch 2",
    )
    assert cluster.http.get(f"{b.url}/Patient", params={"identifier": "urn:mrn|after-thaw"}).json()["total"] == 0
