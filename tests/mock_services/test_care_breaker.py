"""The care application's circuit breaker: pure logic on a fake clock."""

from __future__ import annotations

import pytest

from mock_services.care.breaker import CircuitBreaker, State


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def breaker(clock: Clock, failures: int = 3, window: float = 10.0, reset: float = 2.0) -> CircuitBreaker:
    return CircuitBreaker("ehr", failures, window, reset, clock=clock)


def test_opens_after_the_threshold_of_failures_within_the_window(clock: Clock) -> None:
    b = breaker(clock)
    assert b.record_failure("one") is None and b.record_failure("two") is None
    assert b.state is State.CLOSED and b.allow()
    transition = b.record_failure("three: refused")
    assert transition is not None and (transition.before, transition.after) == (State.CLOSED, State.OPEN)
    assert "3 failures within 10 s" in transition.reason and "three: refused" in transition.reason
    assert b.state is State.OPEN and not b.allow()
    assert b.status()["total_refused"] == 1


def test_failures_older_than_the_window_are_forgotten_but_successes_do_not_reset_them(clock: Clock) -> None:
    b = breaker(clock)
    b.record_failure("a")
    clock.now += 6
    b.record_failure("b")
    clock.now += 5  # "a" is now 11 s old: out of the window
    assert b.record_failure("c") is None and b.recent_failures() == 2
    assert b.record_success() is None  # a flapping link: one success in between does not forgive
    assert b.record_failure("d") is not None and b.state is State.OPEN


def test_half_open_lets_exactly_one_probe_through_and_its_success_closes(clock: Clock) -> None:
    b = breaker(clock, failures=1, reset=2.0)
    b.record_failure("down")
    clock.now += 1.9
    assert not b.allow() and b.state is State.OPEN
    clock.now += 0.2
    assert b.state is State.HALF_OPEN
    assert b.allow() is True  # the probe
    assert b.allow() is False  # everyone else waits for its outcome
    transition = b.record_success()
    assert transition is not None and (transition.before, transition.after) == (State.HALF_OPEN, State.CLOSED)
    assert b.state is State.CLOSED and b.recent_failures() == 0 and b.allow()


def test_a_failed_probe_opens_again_for_a_full_reset_period(clock: Clock) -> None:
    b = breaker(clock, failures=1, reset=2.0)
    b.record_failure("down")
    clock.now += 2.0
    assert b.allow()
    transition = b.record_failure("still down")
    assert transition is not None and transition.after is State.OPEN and "probe failed" in transition.reason
    clock.now += 1.0
    assert b.state is State.OPEN and not b.allow()
    clock.now += 1.0
    assert b.state is State.HALF_OPEN


def test_a_cancelled_probe_gives_its_slot_back(clock: Clock) -> None:
    b = breaker(clock, failures=1, reset=1.0)
    b.record_failure("down")
    clock.now += 1.0
    assert b.allow() and not b.allow()
    b.release()
    assert b.allow()


def test_a_late_success_while_open_does_not_close(clock: Clock) -> None:
    b = breaker(clock, failures=1, reset=5.0)
    b.record_failure("down")
    assert b.record_success() is None  # a straggler sent before the breaker opened
    assert b.state is State.OPEN


def test_rejects_nonsense_settings(clock: Clock) -> None:
    for failures, window, reset in ((0, 1.0, 1.0), (1, 0.0, 1.0), (1, 1.0, 0.0)):
        with pytest.raises(ValueError):
            CircuitBreaker("x", failures, window, reset, clock=clock)
