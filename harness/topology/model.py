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
from dataclasses import dataclass
from typing import Literal

SiteKind = Literal["campus", "datacenter", "witness"]
LinkPurpose = Literal["client", "replication"]
Role = Literal["primary", "standby"]


@dataclass(frozen=True)
class Site:
    """A physical place: the campus (clients), a data center, or a small witness site."""

    name: str
    kind: SiteKind
    description: str = ""


@dataclass(frozen=True)
class Service:
    """A hospital service as clients see it (e.g. ``ehr``: patient records over FHIR).

    ``health_path`` answers 200 whenever the process is up; ``primary_check_path`` answers
    200 only on the instance currently accepting writes (the front door routes on it).
    """

    name: str
    description: str
    health_path: str = "/health"
    primary_check_path: str = "/primary"


@dataclass(frozen=True)
class Instance:
    """One running copy of a service in one site, with the role it is configured to start in."""

    name: str
    service: str
    site: str
    role: Role


@dataclass(frozen=True)
class Link:
    """A directed network path from ``source`` (a component) to ``target`` (an instance or
    the front door), carried by one Toxiproxy proxy named like the link.

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

    def touches(self, site: str) -> bool:
        """True when either end of the link lives in ``site``."""
        return site in (self.source_site, self.target_site)


@dataclass(frozen=True)
class FrontDoor:
    """The load balancer clients talk to (HAProxy), with one backend link per instance."""

    name: str
    site: str
    service: str
    entry_link: str
    backend_links: tuple[str, ...]


@dataclass(frozen=True)
class Topology:
    """The whole system under test. Lookups raise ``KeyError`` only for names that the
    experiment validation has not already rejected, i.e. programming errors."""

    name: str
    sites: tuple[Site, ...]
    services: tuple[Service, ...]
    instances: tuple[Instance, ...]
    links: tuple[Link, ...]
    front_door: FrontDoor

    def __post_init__(self) -> None:
        site_names = {s.name for s in self.sites}
        service_names = {s.name for s in self.services}
        component_names = {i.name for i in self.instances} | {self.front_door.name, "campus"}
        problems: list[str] = []
        for inst in self.instances:
            if inst.site not in site_names:
                problems.append(f"instance {inst.name!r}: unknown site {inst.site!r}")
            if inst.service not in service_names:
                problems.append(f"instance {inst.name!r}: unknown service {inst.service!r}")
        for link in self.links:
            for end_site in (link.source_site, link.target_site):
                if end_site not in site_names:
                    problems.append(f"link {link.name!r}: unknown site {end_site!r}")
            for end in (link.source, link.target):
                if end not in component_names:
                    problems.append(f"link {link.name!r}: unknown component {end!r}")
        link_names = [link.name for link in self.links]
        if len(set(link_names)) != len(link_names):
            problems.append("link names are not unique")
        for name in (self.front_door.entry_link, *self.front_door.backend_links):
            if name not in link_names:
                problems.append(f"front door: unknown link {name!r}")
        if problems:
            raise ValueError(f"inconsistent topology {self.name!r}: " + "; ".join(problems))

    # -- lookups -------------------------------------------------------------------------

    @property
    def datacenters(self) -> tuple[Site, ...]:
        return tuple(s for s in self.sites if s.kind == "datacenter")

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

    def instances_in(self, site: str) -> tuple[Instance, ...]:
        return tuple(i for i in self.instances if i.site == site)

    def instances_of(self, service: str) -> tuple[Instance, ...]:
        return tuple(i for i in self.instances if i.service == service)

    def links_touching(self, site: str) -> tuple[Link, ...]:
        return tuple(link for link in self.links if link.touches(site))

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
