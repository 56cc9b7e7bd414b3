"""A circuit breaker per dependency: pure logic over an injectable clock.

States (the classic three):

* ``closed`` -- calls go through. A failure is remembered with its time; when ``failures``
  failures fall within the last ``window`` seconds the breaker *opens*. A success does not
  erase earlier failures (a flapping link that fails 3 times in 10 s still opens it), but
  failures older than ``window`` are forgotten.
* ``open`` -- calls are refused at once (no waiting on a dead dependency). After ``reset``
  seconds it becomes *half-open*.
* ``half-open`` -- exactly one call (the probe) is let through; every other call is refused
  while it runs. Its success closes the breaker (failures forgotten); its failure opens it
  again for another ``reset`` seconds. A probe that ends without an outcome (cancelled)
  gives its slot back (:meth:`CircuitBreaker.release`).

What counts as a failure is the caller's business (:mod:`.dependencies`: no connection, a
timeout, a 5xx -- never a 4xx, which is a dependency that is up and answering).

Every state change is returned as a :class:`Transition` (and kept as :attr:`last_change`),
so the owner can act on it -- the care application enters downtime mode when the EHR's breaker
opens and leaves it when it closes. Not thread-safe: one event loop.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


class State(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


@dataclass(frozen=True)
class Transition:
    """A state change: from, to, when (clock time) and why (the last failure's text, or "probe succeeded")."""

    name: str
    before: State
    after: State
    at: float
    reason: str


class CircuitBreaker:
    """See the module docstring. ``clock``: seconds, monotonic (``time.monotonic`` by default)."""

    def __init__(
        self, name: str, failures: int, window: float, reset: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if failures < 1 or window <= 0 or reset <= 0:
            raise ValueError("failures must be >= 1, window and reset > 0")
        self.name = name
        self.threshold, self.window, self.reset = failures, window, reset
        self.clock = clock
        self._state = State.CLOSED
        self._failures: deque[float] = deque()
        self._opened_at: float | None = None
        self._probe_in_flight = False
        self.last_failure: str | None = None
        self.last_change: Transition | None = None
        self.total_failures = 0
        self.total_refused = 0

    # -- reading -----------------------------------------------------------------------------

    @property
    def state(self) -> State:
        """The state now (an open breaker whose ``reset`` has elapsed reads as half-open)."""
        self._tick()
        return self._state

    def recent_failures(self) -> int:
        self._forget_old(self.clock())
        return len(self._failures)

    def status(self) -> dict[str, object]:
        """A JSON-able view for ``/downtime/status``."""
        state = self.state
        return {
            "state": state.value,
            "recent_failures": self.recent_failures(),
            "threshold": self.threshold,
            "window": self.window,
            "reset": self.reset,
            "opened_for": None if self._opened_at is None else round(self.clock() - self._opened_at, 3),
            "last_failure": self.last_failure,
            "total_failures": self.total_failures,
            "total_refused": self.total_refused,
        }

    # -- calls -------------------------------------------------------------------------------

    def allow(self) -> bool:
        """May a call go out now? In half-open, True once (the probe) until its outcome is recorded."""
        self._tick()
        if self._state is State.CLOSED:
            return True
        if self._state is State.HALF_OPEN and not self._probe_in_flight:
            self._probe_in_flight = True
            return True
        self.total_refused += 1
        return False

    def record_success(self) -> Transition | None:
        self._probe_in_flight = False
        self._tick()
        if self._state is not State.HALF_OPEN:
            # Closed: nothing to do. Open: a straggler let out before the breaker opened answered
            # late; only the probe decides, so a flapping link cannot flip the mode back and forth.
            return None
        self._failures.clear()
        self._opened_at = None
        return self._move(State.CLOSED, "probe succeeded")

    def record_failure(self, reason: str) -> Transition | None:
        now = self.clock()
        self._probe_in_flight = False
        self.last_failure = reason
        self.total_failures += 1
        self._tick()
        if self._state is State.HALF_OPEN:
            self._opened_at = now
            return self._move(State.OPEN, f"probe failed: {reason}")
        if self._state is State.OPEN:
            return None  # a straggler that was let out before the breaker opened
        self._failures.append(now)
        self._forget_old(now)
        if len(self._failures) >= self.threshold:
            self._opened_at = now
            detail = f"{len(self._failures)} failures within {self.window:g} s, last: {reason}"
            return self._move(State.OPEN, detail)
        return None

    def release(self) -> None:
        """A call let through ended without an outcome (cancelled): free the half-open probe slot."""
        self._probe_in_flight = False

    # -- internals ---------------------------------------------------------------------------

    def _forget_old(self, now: float) -> None:
        while self._failures and self._failures[0] <= now - self.window:
            self._failures.popleft()

    def _tick(self) -> None:
        if self._state is State.OPEN and self._opened_at is not None and self.clock() - self._opened_at >= self.reset:
            self._move(State.HALF_OPEN, f"{self.reset:g} s open: one probe allowed")

    def _move(self, state: State, reason: str) -> Transition:
        transition = Transition(self.name, self._state, state, self.clock(), reason)
        self._state = state
        self.last_change = transition
        return transition
