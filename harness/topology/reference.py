"""The reference hospital, from its preset file (``presets/reference.yaml``): a campus, two
data centers, and the hospital's services. The topology itself is data; this module only
names its parts for code and tests that build it without an experiment file."""

from __future__ import annotations

from collections.abc import Collection

from harness.experiment.model import TopologyConfig
from harness.services import CareOptions, EhrOptions
from harness.topology.model import Topology
from harness.topology.spec import FRONT_DOOR, TopologyProblems, build_topology

__all__ = ["ALL_SERVICES", "DEFAULT_SERVICES", "DEPENDS_ON", "FRONT_DOOR", "reference_topology"]

ALL_SERVICES = ("ehr", "messaging", "imaging", "labs", "scheduling", "care")
"""Every service of the reference hospital an experiment can list, in the preset's order."""

DEFAULT_SERVICES = ("ehr", "messaging", "imaging", "labs", "scheduling")
"""What runs when an experiment does not say (the care application is opt-in)."""

DEPENDS_ON = {"messaging": ("ehr",), "labs": ("ehr",), "care": ("ehr",)}
"""Services that need another one to be useful (they forward to / read from the EHR)."""


def reference_topology(services: Collection[str] = DEFAULT_SERVICES, *, witness: bool = False,
                       workstations: int = 2) -> Topology:
    """The reference hospital with ``services``, its fencing witness when ``witness``, and
    ``workstations`` care instances (with ``care``). Raises ``ValueError`` (a
    :class:`~harness.topology.spec.TopologyProblems`) for an unknown service or a missing
    dependency (e.g. labs without the EHR); experiment validation reports those first."""
    if witness and "ehr" not in services:
        raise ValueError("a witness is only used by the EHR's fencing")
    try:
        config = TopologyConfig(services=tuple(services), ehr=EhrOptions(fencing=witness),
                                care=CareOptions(workstations=workstations))
    except ValueError as exc:
        raise ValueError(f"workstations must be 1..8: {exc}") from None
    try:
        return build_topology(config)
    except TopologyProblems as exc:
        raise ValueError("; ".join(p.message for p in exc.problems)) from None
