"""The testing seam: run EHR instances in-process over httpx's ASGI transport.

In-process apps run their lifespan (so the replication task runs) inside the caller's event
loop; two apps can be wired to each other through a :class:`~mock_services.common.testing.CuttableLink`,
which can be cut to simulate a partition of the replication link -- fast, deterministic tests of step-down,
tie-break and resync without processes or sockets. With ``fencing=True`` an in-process
witness (:mod:`mock_services.witness`) is wired in too, through one cuttable link per
instance. :class:`FakeDataset` is a tiny base snapshot with known values. Used by the
tests; usable by anyone who wants a fake EHR pair (the real one is ``python -m
mock_services.ehr``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.types import ASGIApp

from mock_services.common.testing import CuttableLink, eventually
from mock_services.common.testing import serving as common_serving
from mock_services.ehr.app import create_app
from mock_services.ehr.baseload import Dataset
from mock_services.ehr.config import Config, ConfiguredRole, ReplicationMode
from mock_services.ehr.replication import Node
from mock_services.witness.app import create_app as create_witness_app
from mock_services.witness.leases import LeaseTable

__all__ = [
    "MRN_SYSTEM", "CuttableLink", "FakeDataset", "InProcessPair", "app_with_link", "eventually", "make_config",
    "node_of", "running_pair", "serving",
]  # fmt: skip
MRN_SYSTEM = "urn:oid:1.2.250.1.213.1.4.8"
WITNESS_URL = "http://witness.test"


def make_config(directory: Path, name: str, role: ConfiguredRole, *, peer: bool, **overrides: Any) -> Config:
    """A config for in-process use: db ``<directory>/<name>.sqlite``, datacenter ``dc-<last
    letter of name>``, fast timings (heartbeat 0.05 s, peer timeout 0.2 s, promote after
    0.5 s), sync mode, and a placeholder peer URL when ``peer`` (the transport, not the URL,
    decides where peer traffic goes). ``overrides``: any other :class:`Config` field (with
    ``fencing=True`` also pass ``witness_url``; :func:`running_pair` does)."""
    config = Config(
        name=name,
        datacenter=f"dc-{name[-1]}",
        role=role,
        db_path=directory / f"{name}.sqlite",
        peer_url="http://peer.test" if peer else None,
        replication=ReplicationMode.SYNC,
        promote_after=0.5,
        heartbeat_interval=0.05,
        peer_timeout=0.2,
    )
    return dataclasses.replace(config, **overrides)


def node_of(app: Starlette) -> Node:
    """The replication node of an app made by :func:`create_app`."""
    node = app.state.node
    assert isinstance(node, Node)
    return node


def serving(app: Starlette, base_url: str = "http://ehr.test") -> AbstractAsyncContextManager[httpx.AsyncClient]:
    """Run ``app``'s lifespan and yield a client talking to it in-process
    (:func:`mock_services.common.testing.serving`, with the EHR's default base URL)."""
    return common_serving(app, base_url)


def app_with_link(
    config: Config, *, witness: ASGIApp | None = None, dataset: Dataset | None = None
) -> tuple[Starlette, CuttableLink, CuttableLink]:
    """An app whose peer traffic goes through a new :class:`CuttableLink` (point it at the peer), and
    whose witness traffic (fencing) goes through another, already pointing at ``witness``."""
    link, witness_link = CuttableLink(), CuttableLink()
    witness_link.target = witness
    app = create_app(
        config,
        peer_transport=httpx.ASGITransport(app=link),
        witness_transport=httpx.ASGITransport(app=witness_link),
        dataset=dataset,
    )
    return app, link, witness_link


@dataclass
class InProcessPair:
    """Two in-process instances wired to each other. ``a_to_b`` carries A's requests to B;
    ``a_to_witness`` / ``b_to_witness`` their lease requests (fencing on; ``leases`` is the
    witness's table, None with fencing off)."""

    a: httpx.AsyncClient
    b: httpx.AsyncClient
    node_a: Node
    node_b: Node
    a_to_b: CuttableLink
    b_to_a: CuttableLink
    a_to_witness: CuttableLink
    b_to_witness: CuttableLink
    leases: LeaseTable | None

    def partition(self, cut: bool = True) -> None:
        """Cut (or heal) the replication link in both directions."""
        self.a_to_b.cut = self.b_to_a.cut = cut


@asynccontextmanager
async def running_pair(
    directory: Path,
    *,
    role_a: ConfiguredRole = ConfiguredRole.PRIMARY,
    role_b: ConfiguredRole = ConfiguredRole.STANDBY,
    partitioned: bool = False,
    fencing: bool = False,
    dataset: Dataset | None = None,
    **overrides: Any,
) -> AsyncIterator[InProcessPair]:
    """Start ``ehr-a`` (dc-a) and ``ehr-b`` (dc-b) in-process, peers of each other.

    ``partitioned``: the link is cut before either starts (e.g. to make two primaries).
    ``fencing``: an in-process witness grants the lease (TTL 0.4 s unless overridden).
    ``dataset``: both load it as their base snapshot (pass ``patients=`` too).
    ``overrides`` go to both configs (see :func:`make_config` for the defaults).
    """
    leases = LeaseTable() if fencing else None
    witness = create_witness_app("witness", "witness", leases) if leases is not None else None
    if fencing:
        overrides = {"fencing": True, "witness_url": WITNESS_URL, "lease_ttl": 0.4, **overrides}
    app_a, a_to_b, a_to_w = app_with_link(
        make_config(directory, "ehr-a", role_a, peer=True, **overrides), witness=witness, dataset=dataset
    )
    app_b, b_to_a, b_to_w = app_with_link(
        make_config(directory, "ehr-b", role_b, peer=True, **overrides), witness=witness, dataset=dataset
    )
    a_to_b.target, b_to_a.target = app_b, app_a
    a_to_b.cut = b_to_a.cut = partitioned
    try:
        async with serving(app_a, "http://ehr-a.test") as a, serving(app_b, "http://ehr-b.test") as b:
            yield InProcessPair(a, b, node_of(app_a), node_of(app_b), a_to_b, b_to_a, a_to_w, b_to_w, leases)
    finally:
        if leases is not None:
            leases.close()


class FakeDataset:
    """A tiny deterministic base snapshot in the shape of :mod:`mock_services.synthetic`.

    Patient i (1-based): id ``p00000i``, MRN ``MRN0000000i`` in :data:`MRN_SYSTEM`, family
    ``FAMILY{i}``, given ``Amélie`` (odd i) or ``Pierre`` (even i), born ``1980-01-{i:02}``
    (i <= 28). Per patient: ``enc-{i}`` (Encounter, finished, period.start
    2024-0{1 + i % 2}-10T08:00:00Z), ``vs-{i}`` (Observation vital-signs, LOINC 8867-4, 2024-01-10T09:00:00Z),
    ``lab-{i}`` (Observation laboratory, LOINC 718-7, 2024-02-10T09:00:00Z), ``mr-{i}``
    (MedicationRequest, intent order, status active if i is odd else completed), ``dr-{i}``
    (DiagnosticReport, category LAB) and ``al-{i}`` (AllergyIntolerance). 7 resources each.
    """

    def __init__(self, patients: int = 3) -> None:
        self.count = patients

    def patients(self) -> Iterator[dict[str, Any]]:
        for i in range(1, self.count + 1):
            yield {
                "resourceType": "Patient",
                "id": f"p{i:06d}",
                "identifier": [{"system": MRN_SYSTEM, "value": f"MRN{i:08d}"}],
                "name": [{"use": "official", "family": f"FAMILY{i}", "given": ["Amélie" if i % 2 else "Pierre"]}],
                "gender": "female" if i % 2 else "male",
                "birthDate": f"1980-01-{i:02d}",
            }

    def clinical(self) -> Iterator[dict[str, Any]]:
        loinc = "http://loinc.org"
        for i in range(1, self.count + 1):
            subject = {"reference": f"Patient/p{i:06d}"}
            yield {
                "resourceType": "Encounter",
                "id": f"enc-{i}",
                "status": "finished",
                "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
                "subject": subject,
                "period": {"start": f"2024-0{1 + i % 2}-10T08:00:00Z"},
            }
            for kind, code, day in (("vital-signs", "8867-4", "2024-01-10"), ("laboratory", "718-7", "2024-02-10")):
                yield {
                    "resourceType": "Observation",
                    "id": f"{'vs' if kind == 'vital-signs' else 'lab'}-{i}",
                    "status": "final",
                    "category": [{"coding": [{"system": f"{loinc}/category", "code": kind}]}],
                    "code": {"coding": [{"system": loinc, "code": code}]},
                    "subject": subject,
                    "effectiveDateTime": f"{day}T09:00:00Z",
                    "valueQuantity": {"value": 70 + i},
                }
            yield {
                "resourceType": "MedicationRequest",
                "id": f"mr-{i}",
                "status": "active" if i % 2 else "completed",
                "intent": "order",
                "medicationCodeableConcept": {"text": "Paracétamol 1 g"},
                "subject": subject,
            }
            yield {
                "resourceType": "DiagnosticReport",
                "id": f"dr-{i}",
                "status": "final",
                "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "LAB"}]}],
                "code": {"coding": [{"system": loinc, "code": "58410-2"}]},
                "subject": subject,
                "effectiveDateTime": "2024-02-10T09:00:00Z",
            }
            yield {"resourceType": "AllergyIntolerance", "id": f"al-{i}", "patient": subject}
