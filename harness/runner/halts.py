"""Watching the experiment's halt conditions while it runs.

:class:`HaltMonitor` is fed every request as it completes (the prober's and the load's, from
their own threads) and asked, by the runner's loop several times a second, whether a
condition of the current phase is crossed. Figures are over each condition's own sliding
window of completed requests (by completion time). Display-independent: the live terminal
figures are :class:`~harness.probe.LiveStats`; these decide.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

from harness.experiment import HaltCondition


@dataclass(frozen=True)
class HaltReason:
    """Why the run stops: which condition, and what it measured against its bound."""

    condition: str
    service: str
    measured: str
    bound: str
    requests: int

    def describe(self) -> str:
        return (f"halt condition {self.condition!r}: {self.service} {self.measured} over the last "
                f"{self.requests} requests (bound {self.bound})")


class Halted(Exception):
    """Raised in the runner's loop when a halt condition is crossed."""

    def __init__(self, reason: HaltReason) -> None:
        super().__init__(reason.describe())
        self.reason = reason


class HaltMonitor:
    """See the module docstring. Thread-safe :meth:`observe`; :meth:`check` from one thread."""

    def __init__(self, conditions: tuple[HaltCondition, ...]) -> None:
        self.conditions = conditions
        self._lock = threading.Lock()
        self._longest = {c.service: 0.0 for c in conditions}
        for c in conditions:
            self._longest[c.service] = max(self._longest[c.service], c.window)
        # service -> (completed at, duration, ok), in completion order
        self._recent: dict[str, deque[tuple[float, float, bool]]] = {s: deque() for s in self._longest}

    def observe(self, service: str, t: float, duration: float, ok: bool) -> None:
        """One completed request (``t`` its wall-clock start)."""
        recent = self._recent.get(service)
        if recent is None:
            return
        with self._lock:
            recent.append((t + duration, duration, ok))
            # Forgotten here too, not only in check(): a condition of another phase is not
            # checked now, and its service's requests would pile up until its phase.
            self._forget(service, t + duration)

    def check(self, phase: str, now: float) -> HaltReason | None:
        """The first condition of ``phase`` crossed at wall-clock ``now``, if any."""
        for index, condition in enumerate(self.conditions):
            if phase not in condition.phases:
                continue
            window = self._window(condition.service, condition.window, now)
            if len(window) < condition.min_requests:
                continue
            label = condition.label_at(index)
            if condition.max_error_rate is not None:
                errors = sum(1 for _, ok in window if not ok) / len(window)
                if errors > condition.max_error_rate:
                    return HaltReason(label, condition.service, f"error rate {errors:.1%}",
                                      f"<= {condition.max_error_rate:.1%} over {condition.window:g}s", len(window))
            if condition.max_p95 is not None:
                durations = sorted(d for d, _ in window)
                p95 = durations[min(len(durations) - 1, int(0.95 * len(durations)))]
                if p95 > condition.max_p95:
                    return HaltReason(label, condition.service, f"p95 {p95 * 1000:.0f}ms",
                                      f"<= {condition.max_p95 * 1000:.0f}ms over {condition.window:g}s", len(window))
        return None

    def _window(self, service: str, seconds: float, now: float) -> list[tuple[float, bool]]:
        with self._lock:
            self._forget(service, now)
            return [(duration, ok) for done, duration, ok in self._recent[service] if done >= now - seconds]

    def _forget(self, service: str, now: float) -> None:
        """Under the lock: drop what completed before the longest window ending at ``now``."""
        recent = self._recent[service]
        while recent and recent[0][0] < now - self._longest[service]:
            recent.popleft()
