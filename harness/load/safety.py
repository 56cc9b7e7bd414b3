"""Where the load may go: the topology's own endpoints on loopback or in the run's own
containers, or hosts the experiment allow-lists (``allow:``, and ``load.allow_hosts`` for the
load alone; the rule: :mod:`harness.safety.allowlist`). Checked before Locust starts, and
again inside Locust's processes."""

from __future__ import annotations

from collections.abc import Iterable

from harness.safety.allowlist import AllowList, is_loopback

__all__ = ["is_loopback", "refused_hosts"]


def refused_hosts(hosts: Iterable[str], allow: Iterable[str]) -> list[str]:
    """The hosts among ``hosts`` that ``allow`` (allow-list entries: names, addresses,
    networks) does not permit, sorted."""
    allow_list = AllowList.parse(allow)
    return sorted({h for h in hosts if not allow_list.permits(h)})
