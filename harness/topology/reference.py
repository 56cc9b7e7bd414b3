"""The reference topology (DESIGN.md): a campus, two data centers, and the hospital's services.

::

    campus --campus-frontdoor-<svc>--> front-door (HAProxy, one route per HTTP service)
        ehr        primary-check routing   frontdoor-ehr-a  -> ehr-a  (dc-a, primary)
                                           frontdoor-ehr-b  -> ehr-b  (dc-b, standby)
        imaging    archive, then replica   frontdoor-pacs-a -> pacs-a (dc-a, archive)
                                           frontdoor-pacs-b -> pacs-b (dc-b, replica)
        labs       dc-a, then dc-b         frontdoor-labs-a -> labs-a / frontdoor-labs-b -> labs-b
        scheduling dc-a only (on purpose)  frontdoor-sched-a -> sched-a
    campus --campus-msg-a / campus-msg-b--> msg-a (dc-a) / msg-b (dc-b)   HL7 v2 over MLLP: the
        senders know a primary and a backup engine, as lab systems do; no front door.
    dependencies: msg-X --msg-X-frontdoor-ehr--> front door (ehr); labs-X --labs-X-frontdoor-ehr--> idem
    replication:  ehr-a <--repl-ehr-a-b / repl-ehr-b-a--> ehr-b;  pacs-a --repl-pacs-a-b--> pacs-b
    witness site: ehr-X --ehr-X-witness--> witness   (only when EHR fencing is on)
    care (workstations on campus): campus --campus-care-N--> care-N (the clinicians' care
        application, one instance per workstation group); care-N --care-N-frontdoor-<svc>-->
        front door (ehr, labs, imaging, scheduling: each dependency breakable on its own);
        care-N --care-N-notify--> notify (site "oob": the out-of-band channel, e.g. the
        on-call pager/SMS provider, outside both data centers)

Design choices: the front door lives on campus, so a data-center power loss never takes it
down; the services in a data center reach the EHR through the front door (the hospital's
service address), not their local instance, so they follow its failover; EHR replication
runs both ways so that a promoted dc-b can ship to dc-a when it returns.
"""

from __future__ import annotations

from collections.abc import Collection

from harness.topology.model import FrontDoor, FrontDoorRoute, Instance, Link, RouteMode, Service, Site, Topology

FRONT_DOOR = "front-door"

ALL_SERVICES = ("ehr", "messaging", "imaging", "labs", "scheduling", "care")
"""Every service of the reference topology, in start-up dependency order."""

DEFAULT_SERVICES = ("ehr", "messaging", "imaging", "labs", "scheduling")
"""What runs when an experiment does not say (the care application is opt-in)."""

DEPENDS_ON = {"messaging": ("ehr",), "labs": ("ehr",), "care": ("ehr",)}
"""Services that need another one to be useful (they forward to / read from the EHR)."""

_SERVICES = {
    "ehr": Service("ehr", "patient records (FHIR R4)"),
    "messaging": Service("messaging", "clinical messaging (HL7 v2 over MLLP)", ports=("http", "mllp")),
    "imaging": Service("imaging", "imaging archive (DICOMweb)"),
    "labs": Service("labs", "lab results portal"),
    "scheduling": Service("scheduling", "staff and OR/scanner schedules"),
    "witness": Service("witness", "fencing witness for the EHR's primary lease"),
    "care": Service("care", "the clinicians' care application (workstations), with a downtime mode"),
    "notify": Service("notify", "out-of-band notification sink (downtime / restored)"),
}

CARE_DEPENDENCIES = ("ehr", "labs", "imaging", "scheduling")
"""What the care application reads through the front door (those that run)."""

_INSTANCES = {
    "ehr": (Instance("ehr-a", "ehr", "dc-a", "primary"), Instance("ehr-b", "ehr", "dc-b", "standby")),
    "messaging": (Instance("msg-a", "messaging", "dc-a", "active"), Instance("msg-b", "messaging", "dc-b", "active")),
    "imaging": (Instance("pacs-a", "imaging", "dc-a", "archive"), Instance("pacs-b", "imaging", "dc-b", "replica")),
    "labs": (Instance("labs-a", "labs", "dc-a", "active"), Instance("labs-b", "labs", "dc-b", "active")),
    "scheduling": (Instance("sched-a", "scheduling", "dc-a", "active"),),
    "witness": (Instance("witness", "witness", "witness", "witness"),),
    "notify": (Instance("notify", "notify", "oob", "sink"),),
}


def care_instances(workstations: int) -> tuple[Instance, ...]:
    return tuple(Instance(f"care-{n}", "care", "campus", "workstation") for n in range(1, workstations + 1))

_ROUTE_MODE: dict[str, RouteMode] = {
    "ehr": "primary", "imaging": "active-backup", "labs": "active-backup", "scheduling": "active-backup"}
_CHECK_PATH = {"ehr": "/primary"}


def reference_topology(services: Collection[str] = DEFAULT_SERVICES, *, witness: bool = False,
                       workstations: int = 2) -> Topology:
    """Build the reference topology with ``services`` (pure data, no side effects).

    Raises ``ValueError`` for an unknown service or a missing dependency (e.g. labs
    without the EHR); experiment validation reports those to the user first. With ``care``,
    ``workstations`` care instances run on campus, and the notification sink on its own site.
    """
    unknown = [s for s in services if s not in ALL_SERVICES]
    if unknown:
        raise ValueError(f"unknown service(s) {unknown}; the reference topology has {', '.join(ALL_SERVICES)}")
    for service in services:
        missing = [dep for dep in DEPENDS_ON.get(service, ()) if dep not in services]
        if missing:
            raise ValueError(f"service {service!r} needs {', '.join(missing)}")
    if witness and "ehr" not in services:
        raise ValueError("a witness is only used by the EHR's fencing")
    if "care" in services and not 1 <= workstations <= 8:
        raise ValueError(f"workstations must be 1..8, got {workstations}")
    chosen = [s for s in ALL_SERVICES if s in services] + (["witness"] if witness else [])
    care = "care" in chosen
    if care:
        chosen.append("notify")
    groups = {**_INSTANCES, "care": care_instances(workstations)}

    sites = [
        Site("campus", "campus", "workstations, probes, load generators, lab systems; hosts the front door"),
        Site("dc-a", "datacenter", "primary data center"),
        Site("dc-b", "datacenter", "secondary data center"),
    ]
    if witness:
        sites.append(Site("witness", "witness", "third site holding the EHR's fencing witness"))
    if care:
        sites.append(Site("oob", "external", "out-of-band notification channel (pager/SMS provider), "
                                              "outside both data centers"))
    instances = [inst for name in chosen for inst in groups[name]]
    links: list[Link] = []
    routes: list[FrontDoorRoute] = []

    for service in (s for s in chosen if s in _ROUTE_MODE):
        entry = f"campus-frontdoor-{service}"
        links.append(Link(entry, "campus", "campus", FRONT_DOOR, "campus", "client",
                          f"clients on campus to the front door ({service})", service=service))
        backends = []
        for inst in _INSTANCES[service]:
            name = f"frontdoor-{inst.name}"
            backends.append(name)
            links.append(Link(name, FRONT_DOOR, "campus", inst.name, inst.site, "client",
                              f"front door to {inst.name} in {inst.site}"))
        routes.append(FrontDoorRoute(service, entry, tuple(backends), _CHECK_PATH.get(service, "/health"),
                                     _ROUTE_MODE[service]))

    if "ehr" in chosen:
        links += [
            Link("repl-ehr-a-b", "ehr-a", "dc-a", "ehr-b", "dc-b", "replication", "EHR replication dc-a -> dc-b"),
            Link("repl-ehr-b-a", "ehr-b", "dc-b", "ehr-a", "dc-a", "replication", "EHR replication dc-b -> dc-a"),
        ]
    if "imaging" in chosen:
        links.append(Link("repl-pacs-a-b", "pacs-a", "dc-a", "pacs-b", "dc-b", "replication",
                          "imaging archive -> replica (asynchronous)"))
    if "messaging" in chosen:
        for inst in _INSTANCES["messaging"]:
            links.append(Link(f"campus-{inst.name}", "campus", "campus", inst.name, inst.site, "client",
                              f"HL7 senders on campus to {inst.name} (MLLP)", port="mllp"))
    for service in ("messaging", "labs"):
        if service in chosen:
            for inst in _INSTANCES[service]:
                links.append(Link(f"{inst.name}-frontdoor-ehr", inst.name, inst.site, FRONT_DOOR, "campus",
                                  "dependency", f"{inst.name} to the EHR through the front door", service="ehr"))
    if witness:
        for inst in _INSTANCES["ehr"]:
            links.append(Link(f"{inst.name}-witness", inst.name, inst.site, "witness", "witness", "witness",
                              f"{inst.name} to the fencing witness"))
    if care:
        for inst in groups["care"]:
            links.append(Link(f"campus-{inst.name}", "campus", "campus", inst.name, "campus", "client",
                              f"clinicians on campus to their care application {inst.name}"))
            for service in (s for s in CARE_DEPENDENCIES if s in chosen):
                links.append(Link(f"{inst.name}-frontdoor-{service}", inst.name, "campus", FRONT_DOOR, "campus",
                                  "dependency", f"{inst.name} to {service} through the front door", service=service))
            links.append(Link(f"{inst.name}-notify", inst.name, "campus", "notify", "oob", "notification",
                              f"{inst.name} to the out-of-band notification sink"))

    return Topology("reference", tuple(sites), tuple(_SERVICES[s] for s in chosen), tuple(instances),
                    tuple(links), FrontDoor(FRONT_DOOR, "campus", tuple(routes)))
