"""Topology: frozen models of sites, data centers, services, instances and links."""

from harness.topology.model import FrontDoor, Instance, Link, Service, Site, Topology
from harness.topology.reference import FRONT_DOOR, reference_topology

__all__ = [
    "FRONT_DOOR",
    "FrontDoor",
    "Instance",
    "Link",
    "Service",
    "Site",
    "Topology",
    "reference_topology",
]
