"""Live statistics for the terminal: requests/s, error rate and p95 over a sliding window.

Only for display; verdicts are computed from the timeline, never from these numbers.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from dataclasses import dataclass


@dataclass(frozen=True)
class StatsSnapshot:
    total: int
    errors: int
    rate: float
    error_rate: float
    p95: float | None
    served_by: str


class LiveStats:
    """Thread-safe sliding-window counters over the last ``window`` seconds."""

    def __init__(self, window: float = 2.0) -> None:
        self.window = window
        self._lock = threading.Lock()
        self._recent: deque[tuple[float, float, bool, str | None]] = deque()
        self.total = 0
        self.errors = 0

    def add(self, t: float, duration: float, ok: bool, served_by: str | None) -> None:
        with self._lock:
            self._recent.append((t + duration, duration, ok, served_by))
            self.total += 1
            self.errors += not ok
            # Also forgotten here, not only in snapshot(): nobody may be reading (no terminal,
            # a library caller), and the window must stay a window.
            self._forget(t + duration)

    def snapshot(self) -> StatsSnapshot:
        now = time.time()
        with self._lock:
            self._forget(now)
            recent = list(self._recent)
        durations = sorted(d for _, d, _, _ in recent)
        errors = sum(1 for _, _, ok, _ in recent if not ok)
        p95 = durations[min(len(durations) - 1, int(0.95 * len(durations)))] if durations else None
        servers = Counter(s for _, _, ok, s in recent if ok and s)
        served = ", ".join(f"{name}" for name, _ in servers.most_common(2)) or "-"
        return StatsSnapshot(self.total, self.errors, len(recent) / self.window,
                             errors / len(recent) if recent else 0.0, p95, served)

    def _forget(self, now: float) -> None:
        """Under the lock: drop what completed before the window ending at ``now``."""
        while self._recent and self._recent[0][0] < now - self.window:
            self._recent.popleft()
