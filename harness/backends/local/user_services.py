"""A user's own service as a local process: its ``command`` with the placeholders filled in,
its environment, working directory and readiness.

The values come from the run: the instance's own ports on 127.0.0.1, a data directory of its
own under the run folder, and its dependencies' addresses *through their links* (the link
``<instance>-frontdoor-<service>`` or ``<instance>-<dependency instance>``), so that every
byte it sends to them crosses Toxiproxy and can be cut, slowed or reset like ours.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from harness.backends.local.processes import ProcessSpec
from harness.backends.readiness import TcpConnectReady, readiness_from_spec
from harness.topology import placeholders
from harness.topology.model import Link

if TYPE_CHECKING:
    from harness.services import LaunchContext


def dependency_link(links: tuple[Link, ...], instance: str, service: str, instances_of_service: set[str]) -> Link:
    """The link ``instance`` reaches ``service`` through (built with the topology: it exists)."""
    for link in links:
        if link.source == instance and (link.service == service or link.target in instances_of_service):
            return link
    raise KeyError(f"{instance} -> {service}")


def placeholder_values(ctx: LaunchContext, data: str) -> dict[str, str]:
    """Every placeholder's value for ``ctx.instance`` (a ``command:`` or ``image:`` service):
    its own address, ports, names and ``data`` folder, and each dependency's address through
    the link this instance reaches it by (as ``ctx.link_addresses`` says, on whatever backend)."""
    inst, topo = ctx.instance, ctx.topology
    service = topo.service(inst.service)
    ports = dict(ctx.ports)
    values = {"host": ctx.host, "port": str(next(iter(ports.values()))), "name": inst.name, "site": inst.site,
              "role": inst.role, "data": data}
    values |= {f"port.{name}": str(port) for name, port in ports.items()}
    for dep in service.depends_on:
        link = dependency_link(topo.links, inst.name, dep, {i.name for i in topo.instances_of(dep)})
        host, port = ctx.link_addresses[link.name]
        values |= {f"url.{dep}": f"http://{host}:{port}", f"host.{dep}": host, f"port.{dep}": str(port),
                   f"address.{dep}": f"{host}:{port}"}
    return values


def user_process_spec(ctx: LaunchContext, logs_dir: Path, base_dir: Path | None) -> ProcessSpec:
    """The process of a ``command:`` service's instance (see the module docstring)."""
    inst, topo = ctx.instance, ctx.topology
    service = topo.service(inst.service)
    assert service.command is not None
    ports = dict(ctx.ports)
    data = ctx.data_dir / inst.name
    data.mkdir(parents=True, exist_ok=True)
    values = placeholder_values(ctx, str(data))
    argv = tuple(placeholders.substitute(arg, values) for arg in service.command)
    env = {key: placeholders.substitute(value, values) for key, value in service.env}
    log_path = logs_dir / f"{inst.name}.log"
    ready = (readiness_from_spec(service.readiness, ctx.host, ports, log_path) if service.readiness is not None
             else TcpConnectReady(ctx.host, next(iter(ports.values()))))
    return ProcessSpec(inst.name, argv, inst.site, ready, env=env,
                       cwd=service.working_dir(base_dir or Path.cwd()))
