"""Topology: frozen models of sites, data centers, services, instances and links, built from
YAML (an experiment's ``topology:``, a topology file, a preset) by :mod:`harness.topology.spec`."""

from harness.topology.model import FrontDoor, FrontDoorRoute, Instance, Link, Service, Site, Topology
from harness.topology.reference import ALL_SERVICES, DEFAULT_SERVICES, DEPENDS_ON, FRONT_DOOR, reference_topology
from harness.topology.spec import TopologyProblems, build_topology

__all__ = [
    "ALL_SERVICES",
    "DEFAULT_SERVICES",
    "DEPENDS_ON",
    "FRONT_DOOR",
    "FrontDoor",
    "FrontDoorRoute",
    "Instance",
    "Link",
    "Service",
    "Site",
    "Topology",
    "TopologyProblems",
    "build_topology",
    "reference_topology",
]
