"""Turning an experiment's fault into a plan: the exact Toxiproxy and process actions.

Faults are data (Jepsen's "partitions as data"): a :class:`FaultPlan` lists every toxic to
add, every link to disable and every site to power off, so that the same plan can be
journaled, applied, healed, displayed and rolled back without re-deriving anything.

Site-level faults are built from link and process faults: a data-center power loss is a
blackhole (Toxiproxy ``timeout`` toxic with timeout 0, both directions) on every link with
an end in that data center, plus SIGKILL of every process in it. A powered-off site neither
sends nor receives, hence "with an end in", not only links *into* it.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.experiment import (
    BandwidthFault,
    BlackholeFault,
    Fault,
    LatencyFault,
    LinkDownFault,
    PowerLossFault,
    ResetPeerFault,
)
from harness.topology import Topology
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

    @property
    def ends_at(self) -> float:
        return self.at + self.duration

    def describe(self) -> str:
        parts = []
        if self.toxics:
            links = sorted({t.link for t in self.toxics})
            kinds = sorted({t.toxic.type for t in self.toxics})
            parts.append(f"{'/'.join(kinds)} on {', '.join(links)}")
        if self.disabled_links:
            parts.append(f"disable {', '.join(self.disabled_links)}")
        if self.powered_off_sites:
            parts.append(f"SIGKILL every process in {', '.join(self.powered_off_sites)}")
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


def plan_fault(fault: Fault, label: str, topology: Topology) -> FaultPlan:
    """The plan for one validated fault (its target is known to exist in ``topology``)."""
    toxics: tuple[ToxicAction, ...] = ()
    disabled: tuple[str, ...] = ()
    sites: tuple[str, ...] = ()
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
        case _:
            raise AssertionError(f"unhandled fault type {fault.type!r}")
    return FaultPlan(label=label, fault_type=fault.type, target=fault.target, at=fault.at, duration=fault.duration,
                     toxics=toxics, disabled_links=disabled, powered_off_sites=sites)
