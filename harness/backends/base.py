"""What every backend provides: bring the topology up and down, and the process-level
faults (kill and restart everything in a site; kill, pause, resume, restart one instance).
Link faults (and partitions, which are link faults) never go through the backend: they go to
Toxiproxy, which every backend runs or points at.

Each backend declares the fault types it can carry out (:attr:`Backend.supported_faults`):
an experiment asking for another one is rejected at validation
(:mod:`harness.runner.fault_targets`), never half-run.

Backends: ``local`` (processes on 127.0.0.1, the embedded default) and ``docker`` (containers,
a network per site) exist now; ``compose`` and ``external`` follow the same protocol.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from harness.topology.model import Topology


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
    own_hosts: frozenset[str] = frozenset()
    """Addresses of the run's own containers (docker backend): safe targets like loopback."""

    @property
    def front_door_url(self) -> str | None:
        """The EHR's front-door URL, else the first service's, else None (nothing is routed
        through the front door): for display; probes and load use their service's own."""
        if "ehr" in self.front_door_urls:
            return self.front_door_urls["ehr"]
        return next(iter(self.front_door_urls.values()), None)

    def to_json(self) -> dict[str, object]:
        return {
            "front_door_urls": dict(self.front_door_urls),
            "toxiproxy_url": self.toxiproxy_url,
            "stats_url": self.stats_url,
            "instances": dict(self.instance_urls),
            "mllp": {name: f"{host}:{port}" for name, (host, port) in self.mllp.items()},
            "workstations": dict(self.workstation_urls),
            "own_hosts": sorted(self.own_hosts),
            "links": {n: {"listen": e.listen, "upstream": e.upstream} for n, e in self.links.items()},
        }


class Backend(Protocol):
    """Runs a topology. ``up`` either returns with everything ready or raises with nothing
    left running; ``down`` is idempotent and leaves nothing running, paused instances
    included.

    The instance methods take an instance name of the topology (``Instance.name``, e.g.
    ``ehr-a``); any other name raises. They act on that instance only and are what the
    nemesis calls for ``kill``, ``pause`` and ``restart`` faults.
    """

    name: str

    topology: Topology
    """What it runs."""

    endpoints: Endpoints | None
    """Where it runs, as the harness reaches it (None until ``up`` returned)."""

    supported_faults: frozenset[str]
    """Every fault ``type`` this backend can carry out (e.g. ``{"latency", "pause", ...}``)."""

    def up(self) -> Endpoints: ...

    def down(self) -> None: ...

    def kill_site(self, site: str) -> list[str]:
        """SIGKILL every process living in ``site``; returns their names."""
        ...

    def restart_site(self, site: str) -> list[str]:
        """Start again every process of ``site`` and wait until ready; returns their names."""
        ...

    def kill_instance(self, name: str) -> None:
        """SIGKILL the instance (its whole process group); returns once it is dead.
        Killing a dead instance is a no-op."""
        ...

    def start_instance(self, name: str) -> None:
        """Start again an instance that was killed, and wait until it is ready."""
        ...

    def pause_instance(self, name: str) -> None:
        """Freeze the instance (SIGSTOP of its process group) without waiting for anything:
        its sockets stay open, nothing is answered. Pausing a paused instance is a no-op."""
        ...

    def resume_instance(self, name: str) -> None:
        """Thaw a paused instance (SIGCONT); a no-op for an instance that is not paused."""
        ...

    def restart_instance(self, name: str) -> None:
        """Stop the instance gracefully (SIGTERM, SIGKILL after a grace period), start it
        again and wait until it is ready."""
        ...
