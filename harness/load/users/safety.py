"""The load only ever hits this machine unless the plan says otherwise.

A load generator pointed at a real hospital system by a typo would be an incident, so the
Locust processes refuse, at import, any target whose host is not loopback (127.0.0.0/8,
``::1``, ``localhost``) and not listed in the plan's ``extra["allow_hosts"]``. Pure Python.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

from harness.load.plan import LoadPlan


class UnsafeTarget(ValueError):
    """The plan names a target this load refuses to hit."""


def is_loopback(host: str) -> bool:
    host = host.strip().strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def target_hosts(plan: LoadPlan) -> list[tuple[str, str]]:
    """Every ``(what, host)`` the plan would send requests to."""
    hosts: list[tuple[str, str]] = []
    for service, url in plan.http_targets.items():
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UnsafeTarget(f"http target {service!r}: {url!r} is not an http(s) URL with a host")
        hosts.append((f"http target {service!r} ({url})", parts.hostname))
    for host, port in plan.mllp_targets:
        hosts.append((f"MLLP target {host}:{port}", host))
    return hosts


def check_targets(plan: LoadPlan, allowed: Iterable[str] | None = None) -> None:
    """Raise :class:`UnsafeTarget` naming the first target that is neither loopback nor in
    ``allowed`` (default: the plan's ``extra["allow_hosts"]``)."""
    extra_allowed = plan.extra.get("allow_hosts", []) if allowed is None else allowed
    if isinstance(extra_allowed, str):
        extra_allowed = [extra_allowed]
    permitted = {str(host).strip().strip("[]").lower() for host in extra_allowed}
    for what, host in target_hosts(plan):
        if not is_loopback(host) and host.strip("[]").lower() not in permitted:
            raise UnsafeTarget(
                f"refusing to send load to {what}: {host!r} is not a loopback address; "
                "list it in the plan's extra.allow_hosts if this machine really may load it"
            )
