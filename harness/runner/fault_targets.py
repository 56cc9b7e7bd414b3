"""Checking an experiment's faults against its topology and its backend, before anything starts.

One function, :func:`fault_target_problems`, for every fault type: it returns located
problems (YAML path, message) instead of raising, so the caller can add them to its own and
raise the loader's ``ExperimentError`` once (:func:`harness.experiment.raise_issues`).

What it rejects:

* a fault type the backend does not declare in ``supported_faults``
  ("the local backend cannot ..."), or one this machine cannot carry out
  (:func:`harness.backends.registry.machine_problem`: no libfaketime for ``clock_skew``, no
  permission to mount a tmpfs for ``disk_full``), with the reason;
* a ``power_loss`` target that is not a data center, a link fault's target that is not a
  link, an instance fault's (``kill``, ``pause``, ``restart``, ``clock_skew``,
  ``disk_full``) target that is not an instance the backend runs (the front door, ``campus``
  or a site are not) -- each with a did-you-mean and the valid names;
* a ``disk_full`` on an instance that keeps no data: a user service whose command and env
  never use ``{data}`` (every built-in keeps its files in its data directory);
* a ``partition`` member that is neither a site, an instance nor the front door; the same
  name in two groups (groups must not overlap); a partition that cuts no link.

A member listed twice in the *same* group is harmless and accepted.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from harness.backends.registry import machine_problem
from harness.experiment import Experiment
from harness.experiment.base import Loc
from harness.experiment.faults import INSTANCE_FAULT_TYPES, LINK_FAULT_TYPES, PartitionFault
from harness.faults.plan import partition_links
from harness.topology import Topology

Problems = list[tuple[Loc, str]]

_WHAT_IT_DOES = {
    "power_loss": "power off a data center",
    "latency": "add latency to a link",
    "bandwidth": "throttle a link",
    "blackhole": "black-hole a link",
    "reset_peer": "reset a link's connections",
    "link_down": "take a link down",
    "partition": "partition the network",
    "kill": "kill an instance",
    "pause": "pause an instance",
    "restart": "restart an instance",
    "clock_skew": "skew an instance's clock",
    "disk_full": "fill an instance's disk",
    "action": "run your own fault commands",
}

DATA_PLACEHOLDER = "{data}"
"""The placeholder of a user service's own data directory (:mod:`harness.topology.placeholders`)."""


def _keeps_no_data(name: str, topology: Topology) -> str | None:
    """Why a ``disk_full`` on instance ``name`` would test nothing, or ``None``."""
    service = topology.service(topology.instance(name).service)
    if service.builtin is not None:
        return None
    texts = [*(service.command or ()), *(value for _key, value in service.env)]
    if any(DATA_PLACEHOLDER in text for text in texts):
        return None
    return (f"{name!r} (service {service.name!r}) keeps no data the harness knows of: a disk_full fault fills the "
            f"instance's data directory, and the service's command and env never use {DATA_PLACEHOLDER}; "
            f"pass {DATA_PLACEHOLDER} to it (e.g. '--db={{data}}/app.db')")


def _unknown(kind: str, name: str, valid: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, valid, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown {kind} {name!r}{hint}; valid {kind}s: {', '.join(valid)}"


def _not_an_instance(name: str, topology: Topology, instances: Sequence[str]) -> str:
    """The message for an instance fault's target that is not an instance."""
    what = None
    if name in {site.name for site in topology.sites}:
        what = "a site"
    elif name == topology.front_door.name:
        what = "the front door (HAProxy), not an instance of a service"
    elif name in topology.link_names:
        what = "a link"
    if what is None:
        return _unknown("instance", name, instances)
    return f"{name!r} is {what}; an instance fault needs an instance; valid instances: {', '.join(instances)}"


def _partition_problems(index: int, fault: PartitionFault, topology: Topology) -> Problems:
    sites = [site.name for site in topology.sites]
    instances = [instance.name for instance in topology.instances]
    valid = sites + instances + [topology.front_door.name]
    problems: Problems = []
    first_group: dict[str, int] = {}
    for g, group in enumerate(fault.groups):
        for m, member in enumerate(group):
            where: Loc = ("faults", index, "groups", g, m)
            if member not in valid:
                close = difflib.get_close_matches(member, valid, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                problems.append((where, f"unknown site or instance {member!r}{hint}; valid sites: {', '.join(sites)}; "
                                        f"valid instances: {', '.join(instances)} (or {topology.front_door.name!r})"))
                continue
            seen = first_group.setdefault(member, g)
            if seen != g:
                problems.append((where, f"{member!r} is in group {seen} and group {g}: the groups of a partition "
                                        "must not overlap"))
    if not problems and not partition_links(fault, topology):
        direction = " from an earlier group to a later one (one_way)" if fault.one_way else ""
        problems.append((("faults", index, "groups"),
                         f"this partition cuts no link: no link goes between two of its groups{direction}; "
                         "list sites or instances that talk to each other"))
    return problems


def fault_target_problems(experiment: Experiment, topology: Topology, supported: frozenset[str]) -> Problems:
    """Every problem with the faults' targets (empty: all fine), each with its YAML path.

    ``supported`` is the backend's ``supported_faults``; ``experiment.backend`` names it in
    the message. A fault of an unsupported type is reported once, on its ``type``, and its
    target is not looked at further.
    """
    problems: Problems = []
    instances = [instance.name for instance in topology.instances]
    machine: dict[str, str | None] = {}
    for index, fault in enumerate(experiment.faults):
        what = _WHAT_IT_DOES.get(fault.type, fault.type)
        if fault.type not in supported:
            can = ", ".join(sorted(supported)) or "none"
            problems.append((("faults", index, "type"),
                             f"the {experiment.backend} backend cannot {what} ({fault.type!r} faults); "
                             f"it supports: {can}"))
            continue
        if fault.type not in machine:
            machine[fault.type] = machine_problem(experiment.backend, fault.type)
        if machine[fault.type] is not None:
            problems.append((("faults", index, "type"),
                             f"the {experiment.backend} backend cannot {what} ({fault.type!r} faults) on this "
                             f"machine: {machine[fault.type]}"))
            continue
        target: Loc = ("faults", index, "target")
        if isinstance(fault, PartitionFault):
            problems += _partition_problems(index, fault, topology)
        elif fault.type == "power_loss":
            if fault.target not in topology.datacenter_names:
                problems.append((target, _unknown("data center", fault.target, topology.datacenter_names)))
        elif fault.type in INSTANCE_FAULT_TYPES:
            if fault.target not in instances:
                problems.append((target, _not_an_instance(fault.target, topology, instances)))
            elif fault.type == "disk_full" and (why := _keeps_no_data(fault.target, topology)) is not None:
                problems.append((target, why))
        elif fault.type == "action":
            pass  # a label of the user's; its commands are checked with the experiment's folder (targets.py)
        elif fault.type in LINK_FAULT_TYPES:
            if fault.target not in topology.link_names:
                problems.append((target, _unknown("link", fault.target, topology.link_names)))
        else:
            raise AssertionError(f"fault type {fault.type!r} has no target rule")
    return problems
