"""The load only ever hits this machine unless the plan says otherwise -- checked again
inside every Locust process, whatever started it.

The harness checks the targets when it builds the plan (:mod:`harness.load.safety`); a
worker started by hand on another machine with a plan file gets the same check here, at
import, before any request: a target whose host is neither loopback (127.0.0.0/8, ``::1``,
``localhost``) nor in the plan's ``extra["allow_hosts"]`` raises :class:`UnsafeTarget`.
Pure Python.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from harness.load.plan import LoadPlan
from harness.load.safety import is_loopback, refused_hosts

__all__ = ["UnsafeTarget", "check_targets", "is_loopback", "target_hosts"]


class UnsafeTarget(ValueError):
    """The plan names a target this load refuses to hit."""


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
    permitted = plan.extra.get("allow_hosts", []) if allowed is None else allowed
    if isinstance(permitted, str):
        permitted = [permitted]
    permitted = [str(host).strip("[]") for host in permitted]
    for what, host in target_hosts(plan):
        if refused_hosts([host], permitted):
            raise UnsafeTarget(
                f"refusing to send load to {what}: {host!r} is not a loopback address; "
                "list it in the plan's extra.allow_hosts if this machine really may load it"
            )
