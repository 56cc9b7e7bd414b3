"""ToxiproxyFleet: several servers, calls fired together, failures collected not lost."""

from __future__ import annotations

import functools
import threading
import time
from typing import Any

import pytest

from harness.errors import InvalidInput
from harness.toxiproxy import (
    FakeToxiproxy,
    ProxySpec,
    ToxiproxyBatchError,
    ToxiproxyClient,
    ToxiproxyFleet,
    ToxiproxyNotFound,
    ToxiproxyUnreachable,
)

UPSTREAM = "127.0.0.1:9"


def fake_fleet(*fakes: FakeToxiproxy) -> ToxiproxyFleet:
    return ToxiproxyFleet(ToxiproxyClient(f"http://dc-{i}.test:8474", transport=fake.transport)
                          for i, fake in enumerate(fakes))


def test_calls_run_together_not_one_after_another() -> None:
    # Each request takes 0.1 s on the fake; ten in sequence would take >= 1 s.
    fake = FakeToxiproxy(delay=0.1)
    with fake_fleet(fake) as fleet:
        client = fleet.client("http://dc-0.test:8474")
        started = time.monotonic()
        versions = fleet.run_concurrently([client.version for _ in range(10)])
        elapsed = time.monotonic() - started
    assert versions == ["2.12.0"] * 10
    assert elapsed < 0.5


def test_results_come_back_in_call_order() -> None:
    with fake_fleet(FakeToxiproxy()) as fleet:
        def make(i: int) -> Any:
            def call() -> int:
                time.sleep(0.01 * (5 - i))  # later calls finish first
                return i
            return call
        assert fleet.run_concurrently([make(i) for i in range(5)]) == [0, 1, 2, 3, 4]


def test_partial_failure_completes_every_call_and_reports_every_failure() -> None:
    a, b = FakeToxiproxy(), FakeToxiproxy()
    with fake_fleet(a, b) as fleet:
        ca, cb = fleet.client("http://dc-0.test:8474"), fleet.client("http://dc-1.test:8474")
        ca.create_proxy(ProxySpec("ehr", "127.0.0.1:0", UPSTREAM))
        cb.create_proxy(ProxySpec("labs", "127.0.0.1:0", UPSTREAM))
        b.down = True
        with pytest.raises(ToxiproxyBatchError) as caught:
            fleet.run_concurrently([
                lambda: ca.disable("ehr"),
                lambda: ca.disable("ghost"),
                lambda: cb.disable("labs"),
            ])
        b.down = False
        err = caught.value
        assert [i for i, _ in err.failures] == [1, 2]
        assert isinstance(err.failures[0][1], ToxiproxyNotFound)
        assert isinstance(err.failures[1][1], ToxiproxyUnreachable)
        assert isinstance(err.__cause__, ToxiproxyNotFound)
        # The successful call's result is kept, and it really was applied.
        assert err.results[1:] == [None, None]
        assert getattr(err.results[0], "enabled", None) is False
        assert ca.proxy("ehr").enabled is False
        assert err.message.splitlines() == [
            "2 of 3 concurrent Toxiproxy calls failed:",
            "  call 1: toxiproxy at http://dc-0.test:8474: PATCH /proxies/ghost -> 404: "
            "proxy not found",
            "  call 2: toxiproxy at http://dc-1.test:8474: PATCH /proxies/labs -> connection "
            "failed: [Errno 111] Connection refused (fake server is down)",
        ]
        assert err.exit_code == 3


def test_non_toxiproxy_exceptions_are_collected_too() -> None:
    with fake_fleet(FakeToxiproxy()) as fleet:
        def boom() -> int:
            raise ValueError("bug in a fault")
        with pytest.raises(ToxiproxyBatchError) as caught:
            fleet.run_concurrently([lambda: 1, boom])
    assert caught.value.results == [1, None]
    assert "call 1: ValueError: bug in a fault" in caught.value.message


def test_the_pool_is_persistent() -> None:
    # A barrier forces four distinct workers per round; a persistent pool reuses them.
    def rendezvous(barrier: threading.Barrier) -> int:
        barrier.wait()
        return threading.get_ident()

    with fake_fleet(FakeToxiproxy()) as fleet:
        rounds: list[set[int]] = []
        for _ in range(3):
            barrier = threading.Barrier(4, timeout=2)
            call = functools.partial(rendezvous, barrier)
            rounds.append(set(fleet.run_concurrently([call] * 4)))
    assert len(rounds[0]) == 4
    assert rounds[0] == rounds[1] == rounds[2]
    assert threading.get_ident() not in rounds[0]


def test_nested_run_concurrently_is_refused_instead_of_deadlocking() -> None:
    with fake_fleet(FakeToxiproxy()) as fleet, pytest.raises(ToxiproxyBatchError) as caught:
        fleet.run_concurrently([lambda: fleet.run_concurrently([lambda: 1])])
    assert isinstance(caught.value.failures[0][1], RuntimeError)


def test_for_each_and_membership() -> None:
    a, b = FakeToxiproxy(version="2.12.0"), FakeToxiproxy(version="2.11.0")
    with fake_fleet(a, b) as fleet:
        assert fleet.for_each(lambda c: c.version()) == \
            {"http://dc-0.test:8474": "2.12.0", "http://dc-1.test:8474": "2.11.0"}
        assert len(fleet) == 2
        assert fleet["http://dc-1.test:8474/"] is fleet.client("http://dc-1.test:8474")
        with pytest.raises(InvalidInput) as caught:
            fleet.client("http://dc-9.test:8474")
        assert "http://dc-0.test:8474" in caught.value.message


def test_closed_fleet_refuses_work() -> None:
    fleet = fake_fleet(FakeToxiproxy())
    fleet.close()
    fleet.close()  # idempotent
    with pytest.raises(RuntimeError):
        fleet.run_concurrently([lambda: 1])


@pytest.mark.integration
def test_data_center_cut_over_two_real_servers_lands_within_50ms(
        toxiproxy_server: Any, toxiproxy_server_b: Any) -> None:
    with ToxiproxyFleet([toxiproxy_server.url, toxiproxy_server_b.url]) as fleet:
        a, b = fleet.client(toxiproxy_server.url), fleet.client(toxiproxy_server_b.url)
        a.populate([ProxySpec(f"a{i}", "127.0.0.1:0", UPSTREAM) for i in range(5)])
        b.populate([ProxySpec(f"b{i}", "127.0.0.1:0", UPSTREAM) for i in range(5)])
        cut = [*(lambda n=f"a{i}": a.disable(n) for i in range(5)),
               *(lambda n=f"b{i}": b.disable(n) for i in range(5))]
        heal = fleet.for_each  # reset both servers concurrently

        timings = []
        for _ in range(3):
            started = time.monotonic()
            proxies = fleet.run_concurrently(cut)
            timings.append(time.monotonic() - started)
            assert [p.enabled for p in proxies] == [False] * 10
            assert not any(p.enabled for p in [*a.proxies().values(), *b.proxies().values()])
            heal(lambda c: c.reset())
            assert all(p.enabled for p in [*a.proxies().values(), *b.proxies().values()])
        assert min(timings) <= 0.050, f"cut took {timings}"


@pytest.mark.integration
def test_fleet_with_one_dead_server_still_applies_the_rest(
        toxiproxy_server: Any, unused_port: int) -> None:
    dead = f"http://127.0.0.1:{unused_port}"
    with ToxiproxyFleet([toxiproxy_server.url, dead], timeout=1.0) as fleet:
        live = fleet.client(toxiproxy_server.url)
        live.create_proxy(ProxySpec("ehr", "127.0.0.1:0", UPSTREAM))
        with pytest.raises(ToxiproxyBatchError) as caught:
            fleet.run_concurrently([lambda: live.disable("ehr"),
                                    lambda: fleet.client(dead).disable("ehr")])
        assert live.proxy("ehr").enabled is False
    [(index, exc)] = caught.value.failures
    assert index == 1 and isinstance(exc, ToxiproxyUnreachable)
    assert dead in caught.value.message
