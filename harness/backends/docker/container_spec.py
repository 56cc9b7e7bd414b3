"""What the docker backend knows of each container: how to run it (:class:`ContainerSpec`) and,
once it runs, its engine object, address and readiness (:class:`ManagedContainer`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from harness.backends.local.processes import ReadinessCheck

if TYPE_CHECKING:
    from docker.models.containers import Container


@dataclass(frozen=True)
class ContainerSpec:
    """How to run one container: its name in the run (an instance, ``toxiproxy``, ``haproxy``),
    image and command, the site it lives in, its networks (the first is where the harness
    reaches it) with the aliases it answers to there, and how to tell it is ready once its
    address on the first network is known."""

    name: str
    image: str
    command: tuple[str, ...]
    site: str
    networks: tuple[tuple[str, tuple[str, ...]], ...]
    ready: Callable[[str], ReadinessCheck]
    container_name: str
    """The engine's name of the container (unique on the machine: it holds the run's id)."""
    env: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    volumes: tuple[tuple[Path, str, str], ...] = ()
    """``(host path, container path, mode)`` bind mounts."""
    publish: Mapping[int, tuple[str, int | None]] = field(default_factory=dict)
    """Container port -> (host address, host port or None for a free one)."""
    working_dir: str | None = None
    held_address: bool = False
    """Its network stack is held by a companion container that no fault touches
    (:mod:`harness.backends.docker.holders`): its address outlives its processes, so a killed
    instance refuses connections at once, as a crashed process does, instead of vanishing."""


@dataclass
class ManagedContainer:
    spec: ContainerSpec
    container: Container
    address: str
    """Its IP address on its first network (changes when a stopped container starts again,
    unless its address is held)."""
    started_at: float
    ready: ReadinessCheck
    holder: Container | None = None
    """The container holding its network stack (:attr:`ContainerSpec.held_address`)."""

    @property
    def id(self) -> str:
        return str(self.container.id)

    def status(self) -> str:
        """The engine's status of the container now (running, paused, exited, ... or removed)."""
        from docker.errors import NotFound

        try:
            self.container.reload()
        except NotFound:
            return "removed"
        return str(self.container.status)
