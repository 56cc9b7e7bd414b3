"""Checking an experiment's names against its topology, before anything starts.

The experiment loader knows the file's shape; only the topology knows which links, data
centers and services exist. Every unknown name becomes a located error (file, line, YAML
path) listing the valid names and, when one is close, a did-you-mean.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from harness.experiment import Experiment, LoadedExperiment, raise_issues
from harness.load.planner import persona_problems
from harness.topology import DEPENDS_ON, Topology, reference_topology

YamlPath = tuple[str | int, ...]

LEDGER_SERVICES = ("ehr", "messaging", "imaging", "care")
"""Services whose writes the ledger can find again (HL7 results and the care application's
orders in the EHR)."""


def topology_for(experiment: Experiment) -> Topology:
    """The topology an experiment runs on (only the reference preset exists so far): its
    services, plus the witness site when the EHR fences. Call :func:`validate_services`
    first: a missing dependency raises ``ValueError`` here."""
    config = experiment.topology
    return reference_topology(config.services, witness=config.ehr.fencing and "ehr" in config.services,
                              workstations=config.care.workstations)


def validate_services(loaded: LoadedExperiment) -> None:
    """Located errors for services that need one that is not in ``topology.services``."""
    services = loaded.experiment.topology.services
    problems: list[tuple[YamlPath, str]] = []
    for index, service in enumerate(services):
        missing = [dep for dep in DEPENDS_ON.get(service, ()) if dep not in services]
        if missing:
            problems.append((("topology", "services", index),
                             f"service {service!r} needs {', '.join(missing)}; add it to topology.services"))
    if len(set(services)) != len(services):
        problems.append((("topology", "services"), "a service is listed twice"))
    if problems:
        raise_issues(loaded, problems)


def _unknown(kind: str, name: str, valid: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, valid, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown {kind} {name!r}{hint}; valid {kind}s: {', '.join(valid)}"


def validate_targets(loaded: LoadedExperiment, topology: Topology) -> None:
    """Raise the loader's located ``ExperimentError`` listing every unknown name."""
    exp = loaded.experiment
    problems: list[tuple[YamlPath, str]] = []
    if exp.probe.service not in topology.service_names:
        problems.append((("probe", "service"), _unknown("service", exp.probe.service, topology.service_names)))
    for index, fault in enumerate(exp.faults):
        if fault.type == "power_loss":
            if fault.target not in topology.datacenter_names:
                problems.append((("faults", index, "target"),
                                 _unknown("data center", fault.target, topology.datacenter_names)))
        elif fault.target not in topology.link_names:
            problems.append((("faults", index, "target"), _unknown("link", fault.target, topology.link_names)))
    for index, check in enumerate(exp.checks):
        if check.service not in topology.service_names:
            problems.append((("checks", index, "service"),
                             _unknown("service", check.service, topology.service_names)))
    for index, check in enumerate(exp.checks):
        if check.type == "recovery_order":
            for position, service in enumerate(check.order):
                if service not in topology.service_names:
                    problems.append((("checks", index, "order", position),
                                     _unknown("service", service, topology.service_names)))
            for service in check.objectives:
                if service not in check.order:
                    problems.append((("checks", index, "objectives", service),
                                     f"{service!r} has an objective but is not in 'order'"))
        if check.type == "ledger" and check.service not in LEDGER_SERVICES:
            problems.append((("checks", index, "service"),
                             f"the ledger reads back writes of 'ehr' (FHIR creates), 'messaging' (HL7 results, "
                             f"from the EHR) or 'imaging' (STOW-RS), not {check.service!r}"))
    for index, halt in enumerate(exp.halt):
        if halt.service not in topology.service_names:
            problems.append((("halt", index, "service"), _unknown("service", halt.service, topology.service_names)))
    if exp.load is not None:
        problems += persona_problems(exp.load, exp.topology.services)
    if problems:
        raise_issues(loaded, problems)
