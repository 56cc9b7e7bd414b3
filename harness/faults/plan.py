"""Turning an experiment's fault into a plan: the exact Toxiproxy and process actions.

Faults are data (Jepsen's "partitions as data"): a :class:`FaultPlan` lists every toxic to
add, every link to disable, every site to power off and every instance to kill, pause or
restart, so that the same plan can be journaled, applied, healed, displayed and rolled back
without re-deriving anything.

Site-level faults are built from link and process faults: a data-center power loss is a
blackhole (Toxiproxy ``timeout`` toxic with timeout 0, both directions) on every link with
an end in that data center, plus SIGKILL of every process in it. A powered-off site neither
sends nor receives, hence "with an end in", not only links *into* it.

A partition is built the same way: a blackhole on exactly the links it cuts
(:func:`partition_links`), nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeAlias

from harness.experiment.faults import (
    ActionFault,
    BandwidthFault,
    BlackholeFault,
    ClockSkewFault,
    DiskFullFault,
    Fault,
    KillFault,
    LatencyFault,
    LinkDownFault,
    PartitionFault,
    PauseFault,
    PowerLossFault,
    ResetPeerFault,
    RestartFault,
)
from harness.topology import Link, Topology
from harness.toxiproxy import ToxicSpec

TOXIC_PREFIX = "hchaos"


@dataclass(frozen=True)
class ToxicAction:
    """Add toxic ``toxic`` to the proxy of ``link``."""

    link: str
    toxic: ToxicSpec

    @property
    def toxic_name(self) -> str:
        assert self.toxic.name is not None
        return self.toxic.name


InstanceActionKind: TypeAlias = Literal["kill", "pause", "restart", "clock_skew", "disk_full"]


@dataclass(frozen=True)
class InstanceAction:
    """Act on the process of one instance through the backend.

    * ``kill``: SIGKILL at the inject; at the heal started again (waiting until ready) when
      ``restart`` is true, else left dead. A run that is ending never restarts it.
    * ``pause``: SIGSTOP at the inject, SIGCONT at the heal (always, even for a run that is
      ending: a frozen process would not obey the SIGTERM that stops it).
    * ``restart``: graceful stop and start, waiting until ready, at the inject; the heal does
      nothing (the fault's duration is the window in which the restart is observed).
    * ``clock_skew``: at the inject the instance's wall clock jumps by ``offset`` seconds and
      runs at ``rate`` from then on; at the heal it is true again (always, even for a run that
      is ending: its logs' timestamps should be right until it stops).
    * ``disk_full``: at the inject the instance's data filesystem is filled until ENOSPC; at
      the heal the filler is deleted (always).
    """

    kind: InstanceActionKind
    instance: str
    restart: bool = True
    offset: float = 0.0
    rate: float = 1.0


@dataclass(frozen=True)
class CommandAction:
    """The user's own commands for an ``action`` fault: ``inject`` at the fault's start,
    ``heal`` at its end (and whenever the fault must be undone), each from ``cwd`` with at most
    ``timeout`` seconds (:mod:`harness.faults.commands`)."""

    inject: tuple[str, ...]
    heal: tuple[str, ...]
    cwd: str
    timeout: float
    hosts: tuple[str, ...] = ()


@dataclass(frozen=True)
class FaultPlan:
    """Everything one fault does, and when (``at`` / ``duration`` from the fault phase start)."""

    label: str
    fault_type: str
    target: str
    at: float
    duration: float
    toxics: tuple[ToxicAction, ...] = ()
    disabled_links: tuple[str, ...] = ()
    powered_off_sites: tuple[str, ...] = ()
    instances: tuple[InstanceAction, ...] = ()
    commands: tuple[CommandAction, ...] = ()

    @property
    def ends_at(self) -> float:
        return self.at + self.duration

    def instances_to(self, kind: InstanceActionKind) -> tuple[InstanceAction, ...]:
        """The plan's instance actions of one kind, in plan order."""
        return tuple(action for action in self.instances if action.kind == kind)

    def describe(self) -> str:
        """What the plan does, in one line (the runner prints it at the inject)."""
        parts = []
        if self.toxics:
            links = sorted({t.link for t in self.toxics})
            kinds = sorted({t.toxic.type for t in self.toxics})
            parts.append(f"{'/'.join(kinds)} on {', '.join(links)}")
        if self.disabled_links:
            parts.append(f"disable {', '.join(self.disabled_links)}")
        if self.powered_off_sites:
            parts.append(f"SIGKILL every process in {', '.join(self.powered_off_sites)}")
        for action in self.instances:
            match action.kind:
                case "kill":
                    then = "start it again at the heal" if action.restart else "leave it dead"
                    parts.append(f"SIGKILL {action.instance}, {then}")
                case "pause":
                    parts.append(f"SIGSTOP {action.instance}, SIGCONT at the heal")
                case "restart":
                    parts.append(f"restart {action.instance} (SIGTERM, start, wait until ready)")
                case "clock_skew":
                    drift = "" if action.rate == 1 else f", running x{action.rate:g}"
                    parts.append(f"skew {action.instance}'s clock {action.offset:+g}s{drift} (libfaketime), "
                                 "true again at the heal")
                case "disk_full":
                    parts.append(f"fill {action.instance}'s data filesystem until ENOSPC, "
                                 "delete the filler at the heal")
        for command in self.commands:
            parts.append(f"run {' '.join(command.inject)} (heal: {' '.join(command.heal)})")
        return "; ".join(parts)


def _streams(direction: str) -> tuple[str, ...]:
    return ("upstream", "downstream") if direction == "both" else (direction,)


def _toxics(label: str, link: str, toxic_type: str, direction: str,
            attributes: dict[str, int]) -> tuple[ToxicAction, ...]:
    return tuple(
        ToxicAction(link, ToxicSpec(type=toxic_type, name=f"{TOXIC_PREFIX}-{label}-{stream}",
                                    stream=stream, attributes=attributes))  # type: ignore[arg-type]
        for stream in _streams(direction))


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def _group_of(component: str, site: str, groups: Sequence[Sequence[str]]) -> int | None:
    """Index of the group a link end belongs to: the group listing its component, else the
    group listing its site, else ``None`` (a component listed anywhere wins over its site)."""
    for index, group in enumerate(groups):
        if component in group:
            return index
    for index, group in enumerate(groups):
        if site in group:
            return index
    return None


def partition_links(fault: PartitionFault, topology: Topology) -> tuple[Link, ...]:
    """Every link the partition cuts, in topology order.

    A link end belongs to the group listing its component (``link.source`` /
    ``link.target``), or, when no group lists the component, to the group listing its site
    (``link.source_site`` / ``link.target_site``); an end no group lists belongs to none.
    Two-way, a link is cut when its ends belong to two different groups. One-way
    (``one_way: true``), only when its source belongs to an earlier group than its target
    (group order as written), so later groups still reach earlier ones. Groups are assumed
    disjoint (validation rejects overlapping ones).
    """
    cut = []
    for link in topology.links:
        source = _group_of(link.source, link.source_site, fault.groups)
        target = _group_of(link.target, link.target_site, fault.groups)
        if source is None or target is None or source == target:
            continue
        if fault.one_way and source > target:
            continue
        cut.append(link)
    return tuple(cut)


def action_cwd(fault: ActionFault, base_dir: Path | None) -> Path:
    """Where an action fault's commands run: its ``workdir`` from ``base_dir`` (the experiment's
    folder; default: the current directory)."""
    base = (base_dir or Path.cwd()).resolve()
    return (base / fault.workdir).resolve() if fault.workdir else base


def plan_fault(fault: Fault, label: str, topology: Topology, base_dir: Path | None = None) -> FaultPlan:
    """The plan for one validated fault (its target is known to exist in ``topology``);
    ``base_dir``: the experiment's folder, from which an action's ``workdir`` is resolved
    (default: the current directory)."""
    toxics: tuple[ToxicAction, ...] = ()
    commands: tuple[CommandAction, ...] = ()
    disabled: tuple[str, ...] = ()
    sites: tuple[str, ...] = ()
    instances: tuple[InstanceAction, ...] = ()
    match fault:
        case LatencyFault():
            attrs = {"latency": _ms(fault.latency), "jitter": _ms(fault.jitter)}
            toxics = _toxics(label, fault.target, "latency", fault.direction, attrs)
        case BandwidthFault():
            toxics = _toxics(label, fault.target, "bandwidth", fault.direction, {"rate": fault.rate_kbps})
        case BlackholeFault():
            toxics = _toxics(label, fault.target, "timeout", fault.direction, {"timeout": 0})
        case ResetPeerFault():
            toxics = _toxics(label, fault.target, "reset_peer", fault.direction, {"timeout": _ms(fault.after)})
        case LinkDownFault():
            disabled = (fault.target,)
        case PowerLossFault():
            toxics = tuple(action for link in topology.links_touching(fault.target)
                           for action in _toxics(label, link.name, "timeout", "both", {"timeout": 0}))
            sites = (fault.target,)
        case PartitionFault():
            toxics = tuple(action for link in partition_links(fault, topology)
                           for action in _toxics(label, link.name, "timeout", "both", {"timeout": 0}))
        case KillFault():
            instances = (InstanceAction("kill", fault.target, restart=fault.restart),)
        case PauseFault():
            instances = (InstanceAction("pause", fault.target),)
        case RestartFault():
            instances = (InstanceAction("restart", fault.target),)
        case ClockSkewFault():
            instances = (InstanceAction("clock_skew", fault.target, offset=fault.offset, rate=fault.rate),)
        case DiskFullFault():
            instances = (InstanceAction("disk_full", fault.target),)
        case ActionFault():
            commands = (CommandAction(tuple(fault.inject), tuple(fault.heal), str(action_cwd(fault, base_dir)),
                                      fault.timeout, tuple(fault.hosts)),)
        case _:
            raise AssertionError(f"unhandled fault type {fault.type!r}")
    return FaultPlan(label=label, fault_type=fault.type, target=fault.target, at=fault.at, duration=fault.duration,
                     toxics=toxics, disabled_links=disabled, powered_off_sites=sites, instances=instances,
                     commands=commands)
