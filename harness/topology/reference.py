"""The reference topology (DESIGN.md): campus -> front door -> EHR in dc-a and dc-b.

::

    campus --campus-frontdoor--> front-door (HAProxy)
                                   |--frontdoor-ehr-a--> ehr-a (dc-a, primary)
                                   '--frontdoor-ehr-b--> ehr-b (dc-b, standby)
    ehr-a --repl-ehr-a-b--> ehr-b      ehr-b --repl-ehr-b-a--> ehr-a

Replication runs both ways so that a promoted dc-b can ship to dc-a when it comes back.
The front door lives on campus: a data-center power loss never takes it down, which is
what lets it route around the lost data center. Later services (messaging, imaging, labs,
scheduling) are added here as their issues land.
"""

from __future__ import annotations

from harness.topology.model import FrontDoor, Instance, Link, Service, Site, Topology

FRONT_DOOR = "front-door"


def reference_topology() -> Topology:
    """Build the reference two-data-center topology (pure data, no side effects)."""
    sites = (
        Site("campus", "campus", "workstations, probes and load generators; hosts the front door"),
        Site("dc-a", "datacenter", "primary data center"),
        Site("dc-b", "datacenter", "secondary data center"),
    )
    services = (Service("ehr", "patient records (FHIR R4)"),)
    instances = (
        Instance("ehr-a", "ehr", "dc-a", "primary"),
        Instance("ehr-b", "ehr", "dc-b", "standby"),
    )
    links = (
        Link("campus-frontdoor", "campus", "campus", FRONT_DOOR, "campus", "client",
             "clients on campus to the front door"),
        Link("frontdoor-ehr-a", FRONT_DOOR, "campus", "ehr-a", "dc-a", "client",
             "front door to the EHR in dc-a"),
        Link("frontdoor-ehr-b", FRONT_DOOR, "campus", "ehr-b", "dc-b", "client",
             "front door to the EHR in dc-b"),
        Link("repl-ehr-a-b", "ehr-a", "dc-a", "ehr-b", "dc-b", "replication",
             "EHR replication dc-a -> dc-b"),
        Link("repl-ehr-b-a", "ehr-b", "dc-b", "ehr-a", "dc-a", "replication",
             "EHR replication dc-b -> dc-a"),
    )
    front_door = FrontDoor(FRONT_DOOR, "campus", "ehr", "campus-frontdoor",
                           ("frontdoor-ehr-a", "frontdoor-ehr-b"))
    return Topology("reference", sites, services, instances, links, front_door)
