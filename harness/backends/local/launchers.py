"""Command lines of the hospital services, one function per service.

Each launcher turns an instance of the topology, its ports, the ports of the links it uses
and the experiment's service options into the argv of ``python -m mock_services.<module>``.
A service only ever reaches another one through a link (a Toxiproxy proxy), never directly:
that is what makes every dependency breakable.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from harness.backends.local.ports import LOOPBACK
from harness.backends.local.processes import HttpReady, ProcessSpec
from harness.backends.options import ServiceOptions
from harness.topology import Instance, Link, Topology
from harness.topology.model import PortName


@dataclass(frozen=True)
class LaunchContext:
    """What a launcher may know: the instance, every port of the run, where data goes."""

    instance: Instance
    topology: Topology
    instance_ports: Mapping[str, Mapping[PortName, int]]
    link_ports: Mapping[str, int]
    data_dir: Path
    options: ServiceOptions

    def port(self, name: PortName = "http") -> int:
        return self.instance_ports[self.instance.name][name]

    def link_url(self, link: Link) -> str:
        return f"http://{LOOPBACK}:{self.link_ports[link.name]}"

    def outgoing(self, purpose: str) -> list[Link]:
        return [link for link in self.topology.links_from(self.instance.name) if link.purpose == purpose]

    def common(self) -> list[str]:
        return ["--name", self.instance.name, "--datacenter", self.instance.site, "--host", LOOPBACK]

    def data_flags(self) -> list[str]:
        data = self.options.data
        return ["--seed", str(data.seed), "--patients", str(data.patients)] if data.patients else []

    def path(self, suffix: str) -> str:
        return str(self.data_dir / f"{self.instance.name}{suffix}")


def _ehr(ctx: LaunchContext) -> list[str]:
    ehr = ctx.options.ehr
    argv = [*ctx.common(), "--role", ctx.instance.role, "--port", str(ctx.port()), "--db", ctx.path(".sqlite"),
            "--replication", ehr.replication, "--promote-after", str(ehr.promote_after),
            "--heartbeat-interval", str(ehr.heartbeat_interval), "--peer-timeout", str(ehr.peer_timeout),
            *ctx.data_flags()]
    if ehr.sync_strict:
        argv.append("--sync-strict")
    replication = ctx.outgoing("replication")
    if replication:
        argv += ["--peer-url", ctx.link_url(replication[0])]
    witness = ctx.outgoing("witness")
    if ehr.fencing and witness:
        argv += ["--fencing", "on", "--witness-url", ctx.link_url(witness[0]), "--lease-ttl", str(ehr.lease_ttl)]
    return argv


def _messaging(ctx: LaunchContext) -> list[str]:
    msg = ctx.options.messaging
    argv = [*ctx.common(), "--mllp-port", str(ctx.port("mllp")), "--http-port", str(ctx.port()),
            "--db", ctx.path(".sqlite"), "--forward-retry-interval", str(msg.retry_interval),
            "--forward-timeout", str(msg.forward_timeout), "--dedup-key", "on" if msg.dedup else "off"]
    if msg.rotate:
        argv.append("--rotate")
    for link in ctx.outgoing("dependency"):
        argv += ["--destination-fhir", ctx.link_url(link)]
    return argv


def _imaging(ctx: LaunchContext) -> list[str]:
    argv = [*ctx.common(), "--role", ctx.instance.role, "--port", str(ctx.port()), "--storage", ctx.path("-dicom"),
            "--replication-interval", str(ctx.options.imaging.replication_interval),
            "--qido-empty-status", str(ctx.options.imaging.qido_empty_status), *ctx.data_flags()]
    for link in ctx.outgoing("replication"):
        argv += ["--replica-url", ctx.link_url(link)]
    return argv


def _labs(ctx: LaunchContext) -> list[str]:
    argv = [*ctx.common(), "--port", str(ctx.port())]
    for link in ctx.outgoing("dependency"):
        argv += ["--ehr-url", ctx.link_url(link)]
    return argv


def _scheduling(ctx: LaunchContext) -> list[str]:
    return [*ctx.common(), "--port", str(ctx.port()), "--db", ctx.path(".sqlite"), *ctx.data_flags()]


def _witness(ctx: LaunchContext) -> list[str]:
    return ["--name", ctx.instance.name, "--host", LOOPBACK, "--port", str(ctx.port()), "--db", ctx.path(".sqlite")]


def _care(ctx: LaunchContext) -> list[str]:
    care = ctx.options.care
    argv = [*ctx.common(), "--port", str(ctx.port()), "--state-dir", ctx.path("-state"),
            "--downtime-mode", "on" if care.downtime_mode else "off",
            "--snapshot-interval", str(care.snapshot_interval), "--max-snapshot-age", str(care.max_snapshot_age),
            "--breaker-failures", str(care.breaker_failures), "--breaker-window", str(care.breaker_window),
            "--breaker-reset", str(care.breaker_reset), "--dependency-timeout", str(care.dependency_timeout),
            "--max-patients", str(care.max_patients), "--printer", "fail" if care.printer_fails else "ok"]
    for link in ctx.outgoing("dependency"):
        argv += [f"--{link.service}-url", ctx.link_url(link)]
    for link in ctx.outgoing("notification"):
        argv += ["--notify-url", f"{ctx.link_url(link)}/notifications"]
    return argv


def _notify(ctx: LaunchContext) -> list[str]:
    return [*ctx.common(), "--port", str(ctx.port()), "--db", ctx.path(".sqlite")]


LAUNCHERS: dict[str, Callable[[LaunchContext], list[str]]] = {
    "care": _care,
    "notify": _notify,
    "ehr": _ehr,
    "messaging": _messaging,
    "imaging": _imaging,
    "labs": _labs,
    "scheduling": _scheduling,
    "witness": _witness,
}


def process_spec(ctx: LaunchContext) -> ProcessSpec:
    """The process of ``ctx.instance``: ``python -m mock_services.<service>``, ready when
    its HTTP port answers ``GET /health`` with 200."""
    service = ctx.topology.service(ctx.instance.service)
    argv = (sys.executable, "-m", f"mock_services.{service.name}", *LAUNCHERS[service.name](ctx))
    return ProcessSpec(ctx.instance.name, argv, ctx.instance.site,
                       HttpReady(LOOPBACK, ctx.port(), service.health_path))
