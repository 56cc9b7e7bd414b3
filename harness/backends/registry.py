"""Which backends exist and what each can do, known without starting (or importing) them:
validation refuses a fault a backend cannot apply before anything runs."""

from __future__ import annotations

from typing import Final

LINK_FAULTS: Final = frozenset({"latency", "bandwidth", "blackhole", "reset_peer", "link_down", "partition"})
"""Faults Toxiproxy applies: every backend has them (each runs or points at a Toxiproxy)."""

SUPPORTED_FAULTS: Final[dict[str, frozenset[str]]] = {
    # Each instance is a process of its own: it can be killed, paused and restarted.
    "local": LINK_FAULTS | {"power_loss", "kill", "pause", "restart"},
}
"""Fault types each backend supports, by backend name (the experiment's ``backend:``)."""


def supported_faults(backend: str) -> frozenset[str]:
    """The fault types ``backend`` can apply (validation has checked that it exists)."""
    return SUPPORTED_FAULTS[backend]
