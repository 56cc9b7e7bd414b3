"""What a probe is pointed at: a service's name, the protocol it speaks, and its address.

The protocol comes from the target service's capabilities (issue 11), never from its name:
the prober for ``labs`` speaks whatever ``labs`` declares, and files every request under
``service``. Which fields are needed depends on the protocol:

* ``fhir-r4``, ``http``, ``dicomweb`` -- ``base_url`` (``http``: ``path`` is GETted and a
  status in ``ok_status`` counts as ok);
* ``tcp``, ``hl7v2-mllp`` -- ``host`` and ``port``.

A target missing what its protocol needs raises :class:`ValueError` at construction (a
programming error: the experiment's validation refuses such a probe first, with a location).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, TypeAlias, get_args

ProbeProtocol: TypeAlias = Literal["fhir-r4", "http", "tcp", "hl7v2-mllp", "dicomweb"]
PROTOCOLS: tuple[ProbeProtocol, ...] = get_args(ProbeProtocol)
HTTP_PROTOCOLS: frozenset[ProbeProtocol] = frozenset({"fhir-r4", "http", "dicomweb"})
"""Protocols over HTTP: addressed by ``base_url``; the others by ``host`` and ``port``."""
PREFERENCE: tuple[ProbeProtocol, ...] = ("fhir-r4", "dicomweb", "hl7v2-mllp", "http", "tcp")
"""Most specific first: a probe of the service's own protocol says more than a GET or a connect."""


def choose_protocol(capabilities: Iterable[str]) -> ProbeProtocol | None:
    """The protocol to probe a service with among its ``capabilities`` (the first of
    :data:`PREFERENCE` it speaks), ``None`` when it speaks none the probers know (the caller
    reports that as a located error). The EHR (``fhir-r4``, ``http``) gets FHIR; the messaging
    engine (``hl7v2-mllp``, ``http``) gets MLLP."""
    spoken = set(capabilities)
    return next((protocol for protocol in PREFERENCE if protocol in spoken), None)


@dataclass(frozen=True)
class ProbeTarget:
    """One probe target (see the module docstring for which fields each protocol needs)."""

    service: str
    """The name recorded on every request (``RequestRecord.service``)."""
    protocol: ProbeProtocol
    base_url: str | None = None
    host: str | None = None
    port: int | None = None
    path: str = "/"
    """``http`` only: the path GETted, relative to ``base_url``."""
    ok_status: tuple[int, ...] = (200,)
    """``http`` only: the statuses that count as ok."""

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"probe target {self.service!r}: unknown protocol {self.protocol!r} "
                             f"(expected one of {', '.join(PROTOCOLS)})")
        if self.protocol in HTTP_PROTOCOLS:
            if not self.base_url:
                raise ValueError(f"probe target {self.service!r}: protocol {self.protocol} needs a base_url")
        elif not self.host or self.port is None:
            raise ValueError(f"probe target {self.service!r}: protocol {self.protocol} needs a host and a port")
        elif not 0 < self.port < 65536:
            raise ValueError(f"probe target {self.service!r}: port {self.port} is not in 1..65535")
        if not self.path.startswith("/"):
            raise ValueError(f"probe target {self.service!r}: path {self.path!r} must start with '/'")
        if not self.ok_status:
            raise ValueError(f"probe target {self.service!r}: ok_status is empty (no answer could be ok)")

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` of a ``tcp`` or ``hl7v2-mllp`` target."""
        if not self.host or self.port is None:
            raise ValueError(f"probe target {self.service!r} ({self.protocol}) has no host and port")
        return (self.host, self.port)
