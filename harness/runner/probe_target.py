"""Which service the probe measures, which protocol it speaks there, and where it connects.

The protocol comes from what the service speaks (its capabilities), never from its name: a
``fhir-r4`` service gets FHIR reads, creates and searches; ``dicomweb`` QIDO-RS searches;
``hl7v2-mllp`` HL7 v2 messages over MLLP; ``http`` GETs of ``probe.path``; ``tcp`` connects.
A service speaking several gets the one that exercises most (:func:`~harness.probe.choose_protocol`).

The probe enters where clients do: through the service's front-door route when it has one,
else through the campus link of its first instance (``campus-<instance>``), so its traffic
crosses Toxiproxy and HAProxy like the hospital's.
"""

from __future__ import annotations

from harness.backends import Endpoints
from harness.experiment import Experiment
from harness.experiment.base import Loc
from harness.probe.target import ProbeProtocol, ProbeTarget, choose_protocol
from harness.topology import Topology


def probed_service(exp: Experiment, topology: Topology) -> str:
    """The service probed: ``probe.service``, else the EHR when it runs, else the first service."""
    if exp.probe.service is not None:
        return exp.probe.service
    names = topology.service_names
    return "ehr" if "ehr" in names else names[0]


def probe_protocol(topology: Topology, service: str) -> ProbeProtocol | None:
    """The protocol the probe speaks to ``service`` (None: it speaks nothing the probe knows)."""
    return choose_protocol(topology.service(service).capabilities)


def probe_problems(exp: Experiment, topology: Topology) -> list[tuple[Loc, str]]:
    """Located problems of the probe line against the topology (unknown services are reported
    with the other unknown names)."""
    service = probed_service(exp, topology)
    if service not in topology.service_names:
        return []
    loc: Loc = ("probe", "service") if exp.probe.service is not None else ("probe",)
    protocol = probe_protocol(topology, service)
    if protocol is None:
        return [(loc, f"the probe cannot speak to {service!r}: it speaks "
                      f"{', '.join(topology.service(service).capabilities) or 'nothing declared'}")]
    if topology.route_of(service) is None and not topology.campus_links_to(service):
        return [(loc, f"{service!r} has no client path: no front-door route and no campus link "
                      "(give it 'front_door:' or 'clients: direct'), so the probe cannot reach it")]
    if protocol != "http" and "path" in exp.probe.model_fields_set:
        return [(("probe", "path"), f"'path' is for http services; {service!r} is probed with {protocol}")]
    return []


def probe_target(exp: Experiment, topology: Topology, endpoints: Endpoints) -> ProbeTarget:
    """Where and how to probe (validated by :func:`probe_problems` first)."""
    service = probed_service(exp, topology)
    protocol = probe_protocol(topology, service)
    assert protocol is not None
    route = topology.route_of(service)
    # FHIR and DICOMweb requests are relative to where the API lives; an http probe's path is
    # from the root, like the front door's health check.
    base_path = topology.service(service).base_path if protocol != "http" else ""
    if route is not None:
        return ProbeTarget(service, protocol, base_url=endpoints.front_door_urls[service] + base_path,
                           path=_path(exp, route.check_path), ok_status=exp.probe.ok_status)
    link = topology.campus_links_to(service)[0]
    listen = endpoints.links[link.name]
    if protocol in ("tcp", "hl7v2-mllp"):
        return ProbeTarget(service, protocol, host=listen.listen_host, port=listen.listen_port)
    return ProbeTarget(service, protocol,
                       base_url=f"http://{listen.listen_host}:{listen.listen_port}{base_path}",
                       path=_path(exp, topology.service(service).health_path), ok_status=exp.probe.ok_status)


def _path(exp: Experiment, default: str) -> str:
    """``probe.path`` as written, else the service's health-check path."""
    return exp.probe.path if "path" in exp.probe.model_fields_set else default

