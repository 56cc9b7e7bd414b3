"""Which backends exist and what each can do, known without starting (or importing) them:
validation refuses a fault a backend cannot apply before anything runs.

Two layers: :data:`SUPPORTED_FAULTS` is what a backend implements at all;
:func:`machine_problem` is why *this machine* cannot carry out one of them (a fault that
needs a library or a privilege the machine lacks), asked only for the faults an experiment
actually schedules, so a missing libfaketime never bothers a run without a ``clock_skew``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

LINK_FAULTS: Final = frozenset({"latency", "bandwidth", "blackhole", "reset_peer", "link_down", "partition"})
"""Faults Toxiproxy applies: every backend has them (each runs or points at a Toxiproxy)."""

COMMAND_FAULTS: Final = frozenset({"action"})
"""Faults the user's own commands apply (``type: action``): any backend runs them."""

SUPPORTED_FAULTS: Final[dict[str, frozenset[str]]] = {
    # Each instance is a process of its own: it can be killed, paused and restarted, started
    # under libfaketime (clock_skew) and given a size-limited data filesystem (disk_full).
    "local": LINK_FAULTS | COMMAND_FAULTS | {"power_loss", "kill", "pause", "restart", "clock_skew", "disk_full"},
    # Each instance is a container of its own: killed (SIGKILL from the engine), frozen
    # (the freezer cgroup) and restarted; clock and disk faults are not built for containers yet.
    "docker": LINK_FAULTS | COMMAND_FAULTS | {"power_loss", "kill", "pause", "restart"},
    # The same containers, started by Compose instead of by the run.
    "compose": LINK_FAULTS | COMMAND_FAULTS | {"power_loss", "kill", "pause", "restart"},
}
"""Fault types each backend supports, by backend name (the experiment's ``backend:``)."""


def supported_faults(backend: str) -> frozenset[str]:
    """The fault types ``backend`` can apply (validation has checked that it exists)."""
    return SUPPORTED_FAULTS[backend]


def _local_clock_skew() -> str | None:
    from harness.errors import ToolMissing
    from harness.tools import find_libfaketime

    try:
        find_libfaketime()
    except ToolMissing as exc:
        return f"{exc.message} ({exc.hint})" if exc.hint else exc.message
    return None


def _local_disk_full() -> str | None:
    from harness.backends.local.disks import mount_problem

    problem = mount_problem()
    return None if problem is None else f"it mounts a size-limited tmpfs per instance, and {problem}"


_MACHINE_CHECKS: Final[dict[tuple[str, str], Callable[[], str | None]]] = {
    ("local", "clock_skew"): _local_clock_skew,
    ("local", "disk_full"): _local_disk_full,
}


def machine_problem(backend: str, fault_type: str) -> str | None:
    """Why ``backend`` cannot apply ``fault_type`` on this machine (``None``: it can, or the
    fault needs nothing from the machine). Cheap enough for validation: a file lookup, or one
    tmpfs mount tried once per process."""
    check = _MACHINE_CHECKS.get((backend, fault_type))
    return None if check is None else check()
