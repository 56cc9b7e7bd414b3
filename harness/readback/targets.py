"""Where a service's writes are read back, chosen from the topology (what each service speaks),
never from its name.

A write key is FHIR (``Type?identifier=...``) or DICOM (``dicom:instances?...``, :mod:`.keys`).
For the writes of a service:

* FHIR keys are searched in the FHIR server that holds them: the service itself when it speaks
  ``fhir-r4``; else (an ``hl7v2-mllp`` engine forwarding results, the care application, a lab
  portal) its first dependency, in ``depends_on`` order, that speaks ``fhir-r4``;
* DICOM keys at the service itself when it speaks ``dicomweb``.

Each at the holder's client address -- its front-door URL, else its first campus link (a
``clients: direct`` service) -- plus its ``base_path`` (where its FHIR or DICOMweb API lives).
A kind of key with no such holder has no base (``None``): those keys are read back as errors
(indeterminate), never looked up at a wrong server. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from harness.backends.base import Endpoints
from harness.readback.keys import is_dicom
from harness.topology import Topology
from harness.topology.model import Service


@dataclass(frozen=True)
class KeyBases:
    """The base URLs one service's write keys are read back at (``None``: nowhere), and which
    service holds each kind (for messages)."""

    fhir: str | None = None
    dicom: str | None = None
    fhir_holder: str | None = None
    dicom_holder: str | None = None

    def base_for(self, key: str) -> str | None:
        return self.dicom if is_dicom(key) else self.fhir


def fhir_holder(topology: Topology, service: str) -> Service | None:
    """The ``fhir-r4`` service holding the FHIR resources ``service`` writes (see the module
    docstring), or None."""
    own = topology.service(service)
    if own.speaks("fhir-r4"):
        return own
    names = set(topology.service_names)
    return next((topology.service(d) for d in own.depends_on if d in names and topology.service(d).speaks("fhir-r4")),
                None)


def client_url(topology: Topology, endpoints: Endpoints, service: str) -> str | None:
    """How a client reaches ``service`` (its front door, else its first campus link), without
    its ``base_path``; None when it has neither."""
    if topology.route_of(service) is not None and service in endpoints.front_door_urls:
        return endpoints.front_door_urls[service]
    for link in topology.campus_links_to(service):
        listen = endpoints.links.get(link.name)
        if listen is not None:
            return f"http://{listen.listen_host}:{listen.listen_port}"
    return None


def key_bases(topology: Topology, endpoints: Endpoints, service: str) -> KeyBases:
    """Where the write keys of ``service`` are read back."""
    fhir = fhir_holder(topology, service)
    own = topology.service(service)
    dicom = own if own.speaks("dicomweb") else None
    return KeyBases(fhir=_base(topology, endpoints, fhir), dicom=_base(topology, endpoints, dicom),
                    fhir_holder=fhir.name if fhir else None, dicom_holder=dicom.name if dicom else None)


def _base(topology: Topology, endpoints: Endpoints, holder: Service | None) -> str | None:
    if holder is None:
        return None
    url = client_url(topology, endpoints, holder.name)
    return None if url is None else url.rstrip("/") + holder.base_path


def key_locations(written: Iterable[tuple[str, str]], bases: Mapping[str, KeyBases]) -> dict[str, str | None]:
    """Each distinct key of ``written`` ((service, key) pairs, in order) with the base URL it is
    read back at: that of the first service that wrote it (two services writing one key share
    the server holding it, in any topology the harness builds)."""
    located: dict[str, str | None] = {}
    for service, key in written:
        if key not in located:
            located[key] = bases[service].base_for(key)
    return located
