"""What every built-in service's driver knows: the context it builds a command line from.

A driver (one module per built-in service in :mod:`harness.services`) owns its options model
(the only place its knobs and their defaults live: the experiment's ``topology.<service>``
section *is* that model), its command line, its health path and what it speaks. It does not
know where it runs: the backend gives it a :class:`LaunchContext` with the instance's own
address and, for every link the instance uses, the address *this instance* reaches it at
(a loopback port locally; a network alias in a container).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.services.options import ServiceOptions
    from harness.topology.model import Instance, Link, Topology


@dataclass(frozen=True)
class LaunchContext:
    """What a driver may know about one instance of its service in one run."""

    instance: Instance
    topology: Topology
    host: str
    """The address the instance listens on."""
    ports: Mapping[str, int]
    """Its own ports, by name."""
    link_addresses: Mapping[str, tuple[str, int]]
    """``link name -> (host, port)``: where this instance reaches each link's proxy."""
    data_dir: Path
    """A folder for its files (``<instance><suffix>`` under it)."""
    options: ServiceOptions

    def port(self, name: str = "http") -> int:
        return self.ports[name]

    def link_url(self, link: Link) -> str:
        host, port = self.link_addresses[link.name]
        return f"http://{host}:{port}"

    def outgoing(self, purpose: str) -> list[Link]:
        return [link for link in self.topology.links_from(self.instance.name) if link.purpose == purpose]

    def common(self) -> list[str]:
        return ["--name", self.instance.name, "--datacenter", self.instance.site, "--host", self.host]

    def data_flags(self) -> list[str]:
        data = self.options.data
        return ["--seed", str(data.seed), "--patients", str(data.patients)] if data.patients else []

    def path(self, suffix: str) -> str:
        return str(self.data_dir / f"{self.instance.name}{suffix}")


@dataclass(frozen=True)
class Driver:
    """A built-in service: ``python -m mock_services.<module>`` with ``argv(context)``, healthy
    when ``health_path`` answers 200."""

    name: str
    argv: Callable[[LaunchContext], list[str]]
    module: str
    health_path: str = "/health"
