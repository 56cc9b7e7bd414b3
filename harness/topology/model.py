"""Frozen models of what runs where: sites, data centers, services, instances and links.

A topology is pure data. Backends decide *how* each piece runs (a local process, a
container, a real endpoint); faults decide *what* to break, by name. Every network path
between two parts of the topology is a :class:`Link`, and every link is one Toxiproxy
proxy, so any path can be cut, slowed or reset.

Contract: a :class:`Topology` is immutable and internally consistent (``__post_init__``
checks that every reference resolves), so code that receives one never has to re-check.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from harness.experiment.topology_spec import ReadinessSpec

SiteKind = Literal["campus", "datacenter", "witness", "external"]
LinkPurpose = Literal["client", "replication", "dependency", "witness", "notification"]
PortName = str
"""A named port of an instance: ``http`` (health, metrics, HTTP protocols), ``mllp``, ``tcp``, or
any name a user service declares."""
RouteMode = Literal["primary", "active-backup", "round-robin"]


@dataclass(frozen=True)
class Site:
    """A physical place: the campus (clients), a data center, a small witness site, or an
    external one (the out-of-band notification channel)."""

    name: str
    kind: SiteKind
    description: str = ""


@dataclass(frozen=True)
class Service:
    """A hospital service as clients see it (e.g. ``ehr``: patient records over FHIR).

    ``ports`` are the named ports each instance listens on (ours: ``http`` always, for health
    and metrics; ``mllp`` for HL7 engines); ``fixed_ports`` pins some of them on 127.0.0.1.
    ``capabilities`` say what it speaks (what probes, load and checks may do with it).
    It runs as ``builtin`` (one of the harness's services), as ``command`` (a user's process,
    with placeholders, :mod:`harness.backends.local.user_services`) or as ``image`` (a user's
    container, docker backend); ``readiness`` None means a
    built-in's own (its ``health_path`` answers 200) or, for a command, a TCP connect on its
    first port. ``depends_on`` lists the services it talks to (through links).
    """

    name: str
    description: str
    ports: tuple[PortName, ...] = ("http",)
    health_path: str = "/health"
    capabilities: tuple[str, ...] = ()
    builtin: str | None = None
    command: tuple[str, ...] | None = None
    image: str | None = None
    """A container image (docker backend); ``command`` is then the container's command, if any."""
    env: tuple[tuple[str, str], ...] = ()
    workdir: str | None = None
    fixed_ports: tuple[tuple[PortName, int], ...] = ()
    readiness: ReadinessSpec | None = field(default=None, compare=False)
    depends_on: tuple[str, ...] = ()
    base_path: str = ""
    """Where its FHIR or DICOMweb API is served ('' = the root; never a trailing '/')."""

    def speaks(self, capability: str) -> bool:
        return capability in self.capabilities

    def working_dir(self, base: Path) -> Path:
        """Where a ``command`` runs: ``base`` (the folder of the file that declares the service),
        or ``workdir`` relative to it. Its program, when written with a '/', is found from there."""
        if self.workdir is None:
            return base
        path = Path(self.workdir)
        return path if path.is_absolute() else base / path


@dataclass(frozen=True)
class Instance:
    """One running copy of a service in one site, with the role it is configured to start
    in (``primary``/``standby`` for the EHR, ``archive``/``replica`` for imaging,
    ``active`` for independent copies, ``witness``)."""

    name: str
    service: str
    site: str
    role: str


@dataclass(frozen=True)
class Link:
    """A directed network path from ``source`` (a component) to ``target`` (an instance or
    the front door), carried by one Toxiproxy proxy named like the link.

    ``port`` is the target instance's port the link forwards to; for links into the front
    door, ``service`` names the front-door route (HAProxy frontend) they reach.
    ``source_site`` / ``target_site`` say where each end lives; a data-center power loss
    cuts every link with an end in that data center.
    """

    name: str
    source: str
    source_site: str
    target: str
    target_site: str
    purpose: LinkPurpose
    description: str = ""
    port: PortName = "http"
    service: str | None = None

    def touches(self, site: str) -> bool:
        """True when either end of the link lives in ``site``."""
        return site in (self.source_site, self.target_site)


@dataclass(frozen=True)
class FrontDoorRoute:
    """How the front door routes one service: clients enter through ``entry_link``, and
    HAProxy reaches each instance through one of ``backend_links``.

    ``primary`` mode sends everything to whichever backend answers ``check_path`` with 200
    (Patroni-style, for the EHR). ``active-backup`` mode prefers the first backend and
    uses the others only while it is down (imaging archive then replica; lab portals).
    """

    service: str
    entry_link: str
    backend_links: tuple[str, ...]
    check_path: str
    mode: RouteMode


@dataclass(frozen=True)
class FrontDoor:
    """The load balancer clients talk to (HAProxy): one route per HTTP service."""

    name: str
    site: str
    routes: tuple[FrontDoorRoute, ...]

    def route(self, service: str) -> FrontDoorRoute:
        for route in self.routes:
            if route.service == service:
                return route
        raise KeyError(service)

    @property
    def services(self) -> tuple[str, ...]:
        return tuple(r.service for r in self.routes)


@dataclass(frozen=True)
class Topology:
    """The whole system under test. Lookups raise ``KeyError`` only for names that the
    experiment validation has not already rejected, i.e. programming errors. The front door
    exists when some service is routed through it (``front_door.routes`` may be empty)."""

    name: str
    sites: tuple[Site, ...]
    services: tuple[Service, ...]
    instances: tuple[Instance, ...]
    links: tuple[Link, ...]
    front_door: FrontDoor

    def __post_init__(self) -> None:
        site_names = {s.name for s in self.sites}
        service_names = {s.name for s in self.services}
        ports = {s.name: s.ports for s in self.services}
        component_names = {i.name for i in self.instances} | {self.front_door.name, "campus"}
        problems: list[str] = []
        for inst in self.instances:
            if inst.site not in site_names:
                problems.append(f"instance {inst.name!r}: unknown site {inst.site!r}")
            if inst.service not in service_names:
                problems.append(f"instance {inst.name!r}: unknown service {inst.service!r}")
        instance_service = {i.name: i.service for i in self.instances}
        for link in self.links:
            for end_site in (link.source_site, link.target_site):
                if end_site not in site_names:
                    problems.append(f"link {link.name!r}: unknown site {end_site!r}")
            for end in (link.source, link.target):
                if end not in component_names:
                    problems.append(f"link {link.name!r}: unknown component {end!r}")
            if link.target == self.front_door.name:
                if link.service not in self.front_door.services:
                    problems.append(f"link {link.name!r}: the front door has no route {link.service!r}")
            elif link.target in instance_service and link.port not in ports.get(instance_service[link.target], ()):
                problems.append(f"link {link.name!r}: {link.target!r} has no {link.port!r} port")
        link_names = [link.name for link in self.links]
        if len(set(link_names)) != len(link_names):
            problems.append("link names are not unique")
        for route in self.front_door.routes:
            if route.service not in service_names:
                problems.append(f"front door: unknown service {route.service!r}")
            for name in (route.entry_link, *route.backend_links):
                if name not in link_names:
                    problems.append(f"front door route {route.service!r}: unknown link {name!r}")
        if problems:
            raise ValueError(f"inconsistent topology {self.name!r}: " + "; ".join(problems))

    # -- lookups -------------------------------------------------------------------------

    @property
    def datacenters(self) -> tuple[Site, ...]:
        return tuple(s for s in self.sites if s.kind == "datacenter")

    def service(self, name: str) -> Service:
        for service in self.services:
            if service.name == name:
                return service
        raise KeyError(name)

    def link(self, name: str) -> Link:
        for link in self.links:
            if link.name == name:
                return link
        raise KeyError(name)

    def instance(self, name: str) -> Instance:
        for inst in self.instances:
            if inst.name == name:
                return inst
        raise KeyError(name)

    def route_of(self, service: str) -> FrontDoorRoute | None:
        """The front-door route of ``service``, or None when clients do not go through it."""
        for route in self.front_door.routes:
            if route.service == service:
                return route
        return None

    def campus_links_to(self, service: str) -> tuple[Link, ...]:
        """Links from campus straight to an instance of ``service`` (HL7 senders, workstations)."""
        names = {i.name for i in self.instances_of(service)}
        return tuple(link for link in self.links if link.source == "campus" and link.target in names)

    def instances_in(self, site: str) -> tuple[Instance, ...]:
        return tuple(i for i in self.instances if i.site == site)

    def instances_of(self, service: str) -> tuple[Instance, ...]:
        return tuple(i for i in self.instances if i.service == service)

    def links_touching(self, site: str) -> tuple[Link, ...]:
        return tuple(link for link in self.links if link.touches(site))

    def links_from(self, source: str) -> tuple[Link, ...]:
        """Links whose traffic originates at component ``source``."""
        return tuple(link for link in self.links if link.source == source)

    def replication_link(self, source: str, target: str) -> Link:
        """The replication link carrying traffic from instance ``source`` to ``target``."""
        for link in self.links:
            if link.purpose == "replication" and link.source == source and link.target == target:
                return link
        raise KeyError(f"{source}->{target}")

    def peers(self, instance: str) -> Iterator[Instance]:
        """Other instances of the same service (replication partners)."""
        service = self.instance(instance).service
        return (i for i in self.instances if i.service == service and i.name != instance)

    # -- names, for validating experiment targets ------------------------------------------

    @property
    def link_names(self) -> tuple[str, ...]:
        return tuple(link.name for link in self.links)

    @property
    def datacenter_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.datacenters)

    @property
    def service_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.services)
