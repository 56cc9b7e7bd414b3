"""Checking an experiment against its topology, before anything starts.

The experiment loader knows the file's shape; only the topology knows which sites, services,
instances and links exist, and what each service speaks. This module builds the topology
(every problem of the topology itself, located in the experiment or its topology file) and
then checks every name and every capability the experiment relies on: a probe, check or
persona that cannot apply to its service is refused here (exit 2), never measured wrongly.
"""

from __future__ import annotations

import difflib
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from harness.backends.registry import supported_faults
from harness.experiment import Experiment, LoadedExperiment, raise_issues
from harness.experiment.base import Loc, Problem
from harness.experiment.faults import ActionFault
from harness.faults.plan import action_cwd
from harness.load.planner import persona_problems
from harness.runner.fault_targets import fault_target_problems
from harness.runner.probe_target import probe_problems, probed_service
from harness.safety.allowlist import parse_entry
from harness.topology import Topology, TopologyProblems, build_topology

LEDGER_CAPABILITIES = ("fhir-r4", "hl7v2-mllp", "dicomweb")
"""What the ledger can read writes back from: FHIR resources, HL7 results (from the FHIR
server the engine forwards to), DICOM instances."""

BUILTIN_CHECKS = {"split_brain": ("ehr",), "time_to_degraded": ("care",), "staleness": ("care",),
                  "downtime_orders": ("care",), "patient_identity": ("care",), "schedule_staleness": ("care",),
                  "lab_turnaround": ("messaging",)}
"""Checks that read what only our own services record (which data center acknowledged a write,
the care application's downtime state, the engines' delivery times): the built-in they need."""


def topology_for(experiment: Experiment) -> Topology:
    """The topology an experiment runs on. Call :func:`validate_topology` first: a problem
    raises :class:`~harness.topology.TopologyProblems` here."""
    return build_topology(experiment.topology)


def validate_topology(loaded: LoadedExperiment) -> Topology:
    """The experiment's topology, or the loader's located ``ExperimentError`` listing every
    problem of it (in the experiment file or in its topology file)."""
    try:
        topology = build_topology(loaded.experiment.topology)
    except TopologyProblems as exc:
        raise_issues(loaded, [Problem(("topology", *p.loc), p.message, p.expected, p.found) for p in exc.problems])
    problems = _command_problems(loaded, topology)
    if problems:
        raise_issues(loaded, problems)
    return topology


def _command_problems(loaded: LoadedExperiment, topology: Topology) -> list[tuple[Loc, str]]:
    """A user command whose working directory does not exist or whose program is not found (a
    bare name on PATH; a path from its working directory, as the process will be started)."""
    problems: list[tuple[Loc, str]] = []
    written = list(loaded.experiment.topology.services)
    backend = loaded.experiment.backend
    for service in topology.services:
        if service.command is None and service.image is None:
            continue
        index = next((i for i, s in enumerate(written) if not isinstance(s, str) and s.name == service.name), None)
        at: Loc = ("topology", "services", index) if index is not None else ("topology", "services")
        if service.image is not None:
            if backend != "docker":
                problems.append(((*at, "image") if index is not None else at,
                                 f"service {service.name!r} runs as a container image; the {backend} backend runs "
                                 "processes (use backend: docker, or --backend docker)"))
            continue
        if backend != "local":
            problems.append(((*at, "command") if index is not None else at,
                             f"service {service.name!r} runs as a command, a process on this machine; the "
                             f"{loaded.experiment.backend} backend runs containers (use backend: local for it)"))
            continue
        workdir = service.working_dir(loaded.services_dir)
        if not workdir.is_dir():
            problems.append(((*at, "workdir") if index is not None else at,
                             f"service {service.name!r}: workdir {str(workdir)!r} is not a directory"))
            continue
        assert service.command is not None  # no image: a command service
        program = service.command[0]
        if _find_program(program, workdir) is None:
            where = "on PATH" if os.sep not in program else f"(from {workdir})"
            problems.append(((*at, "command", 0) if index is not None else at,
                             f"service {service.name!r}: program {program!r} not found {where}"))
    return problems


def _action_problems(loaded: LoadedExperiment) -> list[tuple[Loc, str]]:
    """An action fault whose workdir is not a directory, whose program is not found (a bare
    name on PATH, a path from its workdir), or whose declared host is not a host."""
    problems: list[tuple[Loc, str]] = []
    for index, fault in enumerate(loaded.experiment.faults):
        if not isinstance(fault, ActionFault):
            continue
        workdir = action_cwd(fault, loaded.path.resolve().parent)
        if not workdir.is_dir():
            problems.append((("faults", index, "workdir"), f"workdir {str(workdir)!r} is not a directory"))
            continue
        for key, command in (("inject", fault.inject), ("heal", fault.heal)):
            program = command[0]
            if _find_program(program, workdir) is None:
                where = "on PATH" if os.sep not in program else f"(from {workdir}), or not executable"
                problems.append((("faults", index, key, 0), f"program {program!r} not found {where}"))
        for h, host in enumerate(fault.hosts):
            try:
                parsed = parse_entry(host)
            except ValueError as exc:
                problems.append((("faults", index, "hosts", h), str(exc)))
                continue
            if not isinstance(parsed, str) and parsed.num_addresses > 1:
                problems.append((("faults", index, "hosts", h),
                                 f"{host!r} is a network; list the hosts the commands contact (networks go in allow:)"))
    return problems


def _find_program(program: str, workdir: Path) -> str | None:
    """Where ``program`` is, as it will be started from ``workdir``: a bare name on PATH, a path
    from ``workdir`` (an executable file: os.access(X_OK) alone is true for a directory too)."""
    if os.sep not in program:
        return shutil.which(program)
    path = workdir / program
    return str(path) if path.is_file() and os.access(path, os.X_OK) else None


def _unknown(kind: str, name: str, valid: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, valid, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown {kind} {name!r}{hint}; valid {kind}s: {', '.join(valid)}"


def validate_targets(loaded: LoadedExperiment, topology: Topology) -> None:
    """Raise the loader's located ``ExperimentError`` listing every unknown name and every
    probe, check or persona that cannot apply to its service."""
    exp = loaded.experiment
    names = topology.service_names
    problems: list[tuple[Loc, str]] = []
    probed = probed_service(exp, topology)
    if probed not in names:
        problems.append((("probe", "service"), _unknown("service", probed, names)))
    problems += probe_problems(exp, topology)
    problems += fault_target_problems(exp, topology, supported_faults(exp.backend))
    problems += _action_problems(loaded)
    for index, check in enumerate(exp.checks):
        loc: Loc = ("checks", index, "service")
        if check.service not in names:
            default = "" if "service" in check.model_fields_set else " (the default of 'service')"
            problems.append((loc, _unknown("service", check.service, names) + default))
            continue
        problems += _capability_problems(check.type, check.service, topology, loc)
        if check.type == "recovery_order":
            for position, service in enumerate(check.order):
                if service not in names:
                    problems.append((("checks", index, "order", position), _unknown("service", service, names)))
            for service in check.objectives:
                if service not in check.order:
                    problems.append((("checks", index, "objectives", service),
                                     f"{service!r} has an objective but is not in 'order'"))
    for index, halt in enumerate(exp.halt):
        if halt.service not in names:
            problems.append((("halt", index, "service"), _unknown("service", halt.service, names)))
    if exp.load is not None:
        # Personas drive our own services' APIs: a service of that name that is yours is not theirs.
        ours = [s.name for s in topology.services if s.builtin == s.name]
        problems += persona_problems(exp.load, ours)
    if problems:
        raise_issues(loaded, problems)


def _capability_problems(check_type: str, service_name: str, topology: Topology,
                         loc: Loc) -> list[tuple[Loc, str]]:
    service = topology.service(service_name)
    needs = BUILTIN_CHECKS.get(check_type)
    if needs is not None and service.builtin not in needs:
        return [(loc, f"a {check_type} check reads what only the harness's own {' or '.join(needs)} records; "
                      f"{service_name!r} is {'a service of yours' if service.builtin is None else service.builtin}")]
    if check_type != "ledger":
        return []
    if not any(service.speaks(c) for c in LEDGER_CAPABILITIES) and service.builtin != "care":
        return [(loc, f"the ledger reads writes back from a fhir-r4, hl7v2-mllp or dicomweb service; "
                      f"{service_name!r} speaks {', '.join(service.capabilities) or 'nothing declared'}")]
    if service.speaks("hl7v2-mllp") and not any(topology.service(d).speaks("fhir-r4") for d in service.depends_on):
        return [(loc, f"the ledger finds HL7 results again in the FHIR server the engine forwards them to; "
                      f"{service_name!r} depends on no fhir-r4 service")]
    return []
