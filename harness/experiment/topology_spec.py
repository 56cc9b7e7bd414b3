"""The topology as YAML: sites, services with their instances, and the links between them.

This is the *shape* of a topology (inline under an experiment's ``topology:``, in its own
file, or a preset such as ``harness/topology/presets/reference.yaml``); turning it into a
:class:`~harness.topology.Topology` -- merging with the preset, deriving links, checking
every reference -- is :mod:`harness.topology.spec`'s job.

A service says how it runs (``builtin:`` for ours, ``command:`` for a process of yours;
``image:`` and ``url:`` are reserved for the container and staging backends), what it
speaks (its capabilities: what probes, load and checks may do with it), how readiness is
judged, how the front door routes to its instances and which services it depends on. Every
path between two parts is a link (a Toxiproxy proxy): links to the front door, from campus
and to dependencies are derived from these declarations; others (replication between two
instances) are written under ``links:``.
"""

from __future__ import annotations

import re
from typing import Final, Literal, TypeAlias

from pydantic import Field, model_validator

from harness.durations import PositiveDuration
from harness.experiment.base import NAME_MAX, FrozenModel, StrictInt

Capability: TypeAlias = Literal["fhir-r4", "hl7v2-mllp", "dicomweb", "http", "tcp"]
"""What a service speaks; probes, personas, read-back and checks choose their protocol from it."""

CAPABILITIES: Final[tuple[str, ...]] = ("fhir-r4", "hl7v2-mllp", "dicomweb", "http", "tcp")

HTTP_CAPABILITIES: Final[frozenset[str]] = frozenset({"fhir-r4", "dicomweb", "http"})
"""Capabilities carried over HTTP (served on the instance's ``http`` port, routable by the front door)."""

COMPONENT_PATTERN: Final = r"^[a-z0-9][a-z0-9-]*$"
TEMPLATE_PATTERN: Final = r"^[a-z0-9][a-z0-9{}-]*$"
PORT_NAME_PATTERN: Final = r"^[a-z][a-z0-9-]*$"
KNOB_PATTERN: Final = r"^[a-z_]+\.[a-z_]+$"

SiteKindName: TypeAlias = Literal["campus", "datacenter", "witness", "external"]
RouteModeName: TypeAlias = Literal["primary", "active-backup", "round-robin"]
LinkPurposeName: TypeAlias = Literal["client", "replication", "dependency", "witness", "notification"]
StartsWhen: TypeAlias = Literal["by-default", "when-listed", "when-needed"]


class SiteSpec(FrozenModel):
    """A physical place: a campus, a data center, a third (witness) site or an external one."""

    name: str = Field(pattern=COMPONENT_PATTERN, max_length=NAME_MAX)
    """The site's name (e.g. 'dc-a'); faults such as power_loss and partition name it."""

    kind: SiteKindName
    """campus (clients, the front door), datacenter, witness (a small third site) or external."""

    description: str = ""
    """What the site is, for reports."""


class InstanceSpec(FrozenModel):
    """One running copy of a service, placed in a site, with the role it starts in."""

    name: str = Field(pattern=TEMPLATE_PATTERN, max_length=NAME_MAX)
    """The instance's name (e.g. 'fhir-a'); with 'count', a template containing '{n}' (e.g. 'care-{n}')."""

    site: str = Field(pattern=COMPONENT_PATTERN, max_length=NAME_MAX)
    """The site it runs in."""

    role: str = Field(default="active", pattern=COMPONENT_PATTERN, max_length=NAME_MAX)
    """The role it starts in: primary, standby, active, backup (ours also know archive, replica,
    workstation, witness, sink). The front door's 'primary' routing expects one 'primary'."""

    count: StrictInt | str = 1
    """How many such instances (1 to 64; the name must then contain '{n}', numbered from 1), or
    the knob that says it (e.g. 'care.workstations')."""


class HttpCheck(FrozenModel):
    """Ready when an HTTP GET of ``path`` answers one of ``status``."""

    path: str = Field(default="/", pattern=r"^/", max_length=2000)
    """The path requested (e.g. '/metadata', '/health')."""

    status: tuple[StrictInt, ...] = (200,)
    """Statuses that mean ready (e.g. [200, 204])."""

    port: str = Field(default="http", pattern=PORT_NAME_PATTERN)
    """Which of the instance's ports to ask."""


class TcpCheck(FrozenModel):
    """Ready when a TCP connection to the port is accepted."""

    port: str | None = Field(default=None, pattern=PORT_NAME_PATTERN)
    """Which of the instance's ports (default: its first)."""


class ReadinessSpec(FrozenModel):
    """How to tell that an instance is ready: exactly one of http, tcp, log, all_of, any_of."""

    http: HttpCheck | None = None
    """An HTTP GET and the statuses that mean ready."""

    tcp: TcpCheck | None = None
    """A TCP connect."""

    log: str | None = Field(default=None, min_length=1, max_length=500)
    """A regular expression that a line of the instance's output must match (e.g. 'Orthanc has started')."""

    all_of: tuple[ReadinessSpec, ...] = ()
    """Ready when every one of these is."""

    any_of: tuple[ReadinessSpec, ...] = ()
    """Ready when one of these is."""

    timeout: PositiveDuration | None = None
    """How long to wait for it (default: the backend's start-up budget)."""

    @model_validator(mode="after")
    def _exactly_one(self) -> ReadinessSpec:
        given = [name for name in ("http", "tcp", "log", "all_of", "any_of") if getattr(self, name)]
        if len(given) != 1:
            found = ", ".join(given) if given else "none"
            raise ValueError(f"give exactly one of http, tcp, log, all_of, any_of (found: {found})")
        if self.log is not None:
            try:
                re.compile(self.log)
            except re.error as exc:
                raise ValueError(f"log: {self.log!r} is not a valid regular expression: {exc}") from None
        return self


class FrontDoorRouteSpec(FrozenModel):
    """How the front door (HAProxy) routes clients to the service's instances (HTTP services only)."""

    mode: RouteModeName = "active-backup"
    """primary: everything to whichever instance answers 'check' with 200 (a standby answers
    otherwise); active-backup: the first instance, the others only while it is down;
    round-robin: every instance that is up, in turn."""

    check: str = Field(default="/health", pattern=r"^/", max_length=2000)
    """The health-check path HAProxy asks each instance (200 = in service)."""


class DependencySpec(FrozenModel):
    """A service this one talks to; its traffic goes through a link, so it can be cut."""

    service: str = Field(pattern=COMPONENT_PATTERN, max_length=NAME_MAX)
    """The service depended on."""

    via: Literal["front-door", "direct"] = "front-door"
    """front-door: one link per instance to the front door (so it follows failover); direct: one
    link from each instance to each instance of the dependency."""

    optional: bool = False
    """Used only when that service runs (otherwise it is an error for it not to)."""

    purpose: Literal["dependency", "witness", "notification"] = "dependency"
    """What the links carry (reports and fault plans group links by it)."""

    when: str | None = Field(default=None, pattern=KNOB_PATTERN)
    """Only when this on/off knob is on (e.g. 'ehr.fencing')."""


class ServiceSpec(FrozenModel):
    """A service: how it runs, what it speaks, how readiness is judged, how clients reach it."""

    name: str = Field(pattern=COMPONENT_PATTERN, max_length=NAME_MAX)
    """The service's name (e.g. 'my-fhir'); probes, checks and faults name it."""

    description: str | None = None
    """What the service is, for reports."""

    builtin: str | None = Field(default=None, pattern=COMPONENT_PATTERN)
    """One of the harness's own services: ehr, messaging, imaging, labs, scheduling, care, witness, notify."""

    command: tuple[str, ...] | None = Field(default=None, min_length=1, max_length=200)
    """A process on this machine: its argv. Placeholders: {host}, {port}, {port.<name>}, {name},
    {site}, {role}, {data} (a directory of its own), and for each dependency {url.<service>},
    {host.<service>}, {port.<service>} -- its address *through the link*, so the traffic crosses
    Toxiproxy. '{{' and '}}' are literal braces."""

    image: str | None = Field(default=None, min_length=1, max_length=300)
    """A container image on this machine (the docker backend), e.g. 'orthancteam/orthanc:24.1'.
    With it, 'command' is the container's command (default: the image's own); 'ports' are the
    ports the image listens on inside its container; placeholders work as for a command."""

    url: str | None = None
    """A real endpoint the harness does not start (the external backend; not in the local backend)."""

    env: dict[str, str] = Field(default_factory=dict)
    """Extra environment variables for the command (placeholders allowed in values)."""

    workdir: str | None = None
    """Working directory of the command (relative: to the experiment file; default: the run folder)."""

    speaks: tuple[Capability, ...] | None = None
    """Capabilities: fhir-r4, hl7v2-mllp, dicomweb, http, tcp."""

    base_path: str | None = Field(default=None, pattern=r"^/", max_length=200)
    """Where its FHIR or DICOMweb API is served on its HTTP port (e.g. '/dicom-web' for Orthanc,
    '/fhir' for HAPI FHIR); default '/'."""

    ports: dict[str, StrictInt | Literal["auto"]] | None = None
    """Named ports of each instance and their number on 127.0.0.1 ('auto': a free one). Default:
    'http' for HTTP capabilities, 'mllp' for hl7v2-mllp, 'tcp' for tcp."""

    ready: ReadinessSpec | None = None
    """How readiness is judged (default: a TCP connect on the first port)."""

    instances: tuple[InstanceSpec, ...] | None = Field(default=None, min_length=1, max_length=400)
    """Where its instances run and in which role."""

    front_door: FrontDoorRouteSpec | None = None
    """How the front door routes to the instances (none: clients do not go through it)."""

    clients: Literal["front-door", "direct", "none"] | None = None
    """How campus clients reach it: front-door (needs front_door), direct (one link from campus to
    each instance: HL7 senders, workstations) or none. Default: front-door when it has a route."""

    depends_on: tuple[str | DependencySpec, ...] | None = None
    """Services it talks to ('ehr' or {service: ehr, via: direct, optional: true})."""

    starts: StartsWhen | None = None
    """For a preset's services: by-default (runs unless topology.services says otherwise),
    when-listed, or when-needed (when a running service depends on it)."""


class LinkSpec(FrozenModel):
    """A link written out (links to the front door, from campus and to dependencies are derived)."""

    name: str = Field(pattern=COMPONENT_PATTERN, max_length=NAME_MAX)
    """The link's name: faults name it."""

    source: str = Field(pattern=COMPONENT_PATTERN, max_length=NAME_MAX)
    """Where the traffic comes from: an instance, or 'campus'."""

    target: str = Field(pattern=COMPONENT_PATTERN, max_length=NAME_MAX)
    """The instance it reaches."""

    port: str = Field(default="http", pattern=PORT_NAME_PATTERN)
    """The target's port it forwards to."""

    purpose: LinkPurposeName = "replication"
    """What it carries."""

    description: str = ""
    """What the link is, for reports."""


ReadinessSpec.model_rebuild()
