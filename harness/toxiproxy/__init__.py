"""Our Toxiproxy client: typed, with timeouts, PATCH updates, /populate, /reset, and several
servers driven concurrently.

Public API (everything else in the sub-modules is private):

* :class:`ToxiproxyClient` -- one server; thread-safe.
* :class:`ToxiproxyFleet` -- one client per server and ``run_concurrently`` for faults that
  must land together.
* Values: :class:`Proxy`, :class:`Toxic` (what the server reports), :class:`ProxySpec`,
  :class:`ToxicSpec` (what we ask for), :data:`Stream`.
* Errors: :class:`ToxiproxyError` and its subclasses :class:`ToxiproxyNotFound`,
  :class:`ToxiproxyConflict`, :class:`ToxiproxyUnreachable`; :class:`ToxiproxyBatchError`
  from the fleet.
* Testing seam: :class:`FakeToxiproxy` (an in-memory server behind ``httpx.MockTransport``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.lazy import lazy_exports

if TYPE_CHECKING:
    from harness.tools import TOXIPROXY_VERSION
    from harness.toxiproxy.client import DEFAULT_TIMEOUT, ToxiproxyClient
    from harness.toxiproxy.errors import (
        ToxiproxyBatchError,
        ToxiproxyConflict,
        ToxiproxyError,
        ToxiproxyNotFound,
        ToxiproxyUnreachable,
    )
    from harness.toxiproxy.fake import FakeToxiproxy
    from harness.toxiproxy.fleet import ToxiproxyFleet
    from harness.toxiproxy.models import AttributeValue, Proxy, ProxySpec, Stream, Toxic, ToxicSpec

# Imported on first use (PEP 562): planning a fault needs ToxicSpec, not httpx.
_WHERE = {
    "TOXIPROXY_VERSION": "harness.tools",
    "DEFAULT_TIMEOUT": "harness.toxiproxy.client",
    "ToxiproxyClient": "harness.toxiproxy.client",
    "ToxiproxyBatchError": "harness.toxiproxy.errors",
    "ToxiproxyConflict": "harness.toxiproxy.errors",
    "ToxiproxyError": "harness.toxiproxy.errors",
    "ToxiproxyNotFound": "harness.toxiproxy.errors",
    "ToxiproxyUnreachable": "harness.toxiproxy.errors",
    "FakeToxiproxy": "harness.toxiproxy.fake",
    "ToxiproxyFleet": "harness.toxiproxy.fleet",
    "AttributeValue": "harness.toxiproxy.models",
    "Proxy": "harness.toxiproxy.models",
    "ProxySpec": "harness.toxiproxy.models",
    "Stream": "harness.toxiproxy.models",
    "Toxic": "harness.toxiproxy.models",
    "ToxicSpec": "harness.toxiproxy.models",
}

__all__ = [
    "DEFAULT_TIMEOUT",
    "TOXIPROXY_VERSION",
    "AttributeValue",
    "FakeToxiproxy",
    "Proxy",
    "ProxySpec",
    "Stream",
    "Toxic",
    "ToxicSpec",
    "ToxiproxyBatchError",
    "ToxiproxyClient",
    "ToxiproxyConflict",
    "ToxiproxyError",
    "ToxiproxyFleet",
    "ToxiproxyNotFound",
    "ToxiproxyUnreachable",
]


__getattr__ = lazy_exports(__name__, _WHERE)
