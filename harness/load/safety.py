"""Where the load may go: the topology's own endpoints on loopback, or hosts the experiment
explicitly allow-lists (``load.allow_hosts``, for staging). Checked before Locust starts,
and again inside Locust's processes."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and the usual names of loopback."""
    host = host.strip("[]").lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def refused_hosts(hosts: Iterable[str], allow_hosts: Iterable[str]) -> list[str]:
    """The hosts among ``hosts`` that are neither loopback nor allow-listed, sorted."""
    allowed = {h.lower() for h in allow_hosts}
    return sorted({h for h in hosts if not is_loopback(h) and h.lower() not in allowed})
