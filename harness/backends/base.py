"""What every backend provides: bring the topology up and down, and the process-level
faults (kill and restart everything in a site). Link faults never go through the backend:
they go to Toxiproxy, which every backend runs or points at.

Backends: ``local`` (processes on 127.0.0.1, the embedded default) exists now; ``docker``,
``compose`` and ``external`` follow the same protocol.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class LinkEndpoint:
    """Where a link's proxy listens and where it forwards to."""

    name: str
    listen_host: str
    listen_port: int
    upstream_host: str
    upstream_port: int

    @property
    def listen(self) -> str:
        return f"{self.listen_host}:{self.listen_port}"

    @property
    def upstream(self) -> str:
        return f"{self.upstream_host}:{self.upstream_port}"


@dataclass(frozen=True)
class Endpoints:
    """Addresses of a running topology.

    ``front_door_urls`` (by service) are what clients use: each enters through its
    ``campus-frontdoor-<service>`` link, so the whole client path is under Toxiproxy;
    ``mllp`` gives each HL7 engine's address through its campus link. ``workstation_urls``
    (by instance) reach applications that run on campus, such as the care application, through
    their ``campus-<instance>`` link. ``instance_urls`` reach instances directly (for end-state
    reads by checkers, never for load).
    """

    front_door_urls: Mapping[str, str]
    toxiproxy_url: str
    links: Mapping[str, LinkEndpoint]
    instance_urls: Mapping[str, str]
    mllp: Mapping[str, tuple[str, int]] = field(default_factory=dict)
    stats_url: str | None = None
    workstation_urls: Mapping[str, str] = field(default_factory=dict)

    @property
    def front_door_url(self) -> str:
        """The EHR's front-door URL (the service most probes and examples use)."""
        return self.front_door_urls["ehr"]

    def to_json(self) -> dict[str, object]:
        return {
            "front_door_urls": dict(self.front_door_urls),
            "toxiproxy_url": self.toxiproxy_url,
            "stats_url": self.stats_url,
            "instances": dict(self.instance_urls),
            "mllp": {name: f"{host}:{port}" for name, (host, port) in self.mllp.items()},
            "workstations": dict(self.workstation_urls),
            "links": {n: {"listen": e.listen, "upstream": e.upstream} for n, e in self.links.items()},
        }


class Backend(Protocol):
    """Runs a topology. ``up`` either returns with everything ready or raises with nothing
    left running; ``down`` is idempotent and leaves nothing running."""

    name: str

    def up(self) -> Endpoints: ...

    def down(self) -> None: ...

    def kill_site(self, site: str) -> list[str]:
        """SIGKILL every process living in ``site``; returns their names."""
        ...

    def restart_site(self, site: str) -> list[str]:
        """Start again every process of ``site`` and wait until ready; returns their names."""
        ...
