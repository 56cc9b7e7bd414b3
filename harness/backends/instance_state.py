"""What a backend offers for the faults that change an instance's state rather than its
process: ``clock_skew`` and ``disk_full``.

Kept apart from :class:`harness.backends.base.Backend` so that a backend (or a test double)
without them still satisfies that protocol; the nemesis checks for these methods when a plan
needs them, and validation has already refused such faults for backends that do not declare
them in ``supported_faults``.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class InstanceStateFaults(Protocol):
    """Clock and disk faults on one instance. Each method is idempotent for its heal."""

    def skew_clock(self, name: str, offset: float, rate: float) -> str:
        """Make ``name``'s wall clock ``offset`` seconds off from now on, running at ``rate``;
        returns the setting applied (for the event log). Takes effect at its next clock call."""
        ...

    def reset_clock(self, name: str) -> None:
        """Make ``name``'s clock true again (no-op when it is not skewed)."""
        ...

    def fill_disk(self, name: str) -> int:
        """Fill ``name``'s data filesystem until writes fail with ENOSPC; the bytes written."""
        ...

    def free_disk(self, name: str) -> None:
        """Delete what :meth:`fill_disk` wrote (no-op when nothing is there)."""
        ...
