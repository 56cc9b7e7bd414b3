"""Topology: frozen models of sites, data centers, services, instances and links."""

from harness.topology.model import FrontDoor, FrontDoorRoute, Instance, Link, Service, Site, Topology
from harness.topology.reference import ALL_SERVICES, DEFAULT_SERVICES, DEPENDS_ON, FRONT_DOOR, reference_topology

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
    "reference_topology",
]
