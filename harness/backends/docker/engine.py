"""The Docker engine as the docker backend sees it: one connection with errors a person can act
on, the labels every container and network of a run carries, and removing everything of a run.

Labels are the backend's source of truth for what belongs to a run: they are set when a
container or network is created, so even one created just before the runner was SIGKILLed
(and therefore never journaled with its id) is found by :func:`remove_run_resources`.

* ``org.hchaos.run``      the run's tag (its folder's absolute path, :mod:`harness.run.run_tag`)
* ``org.hchaos.run-id``   the run folder's name, for people reading ``docker ps``
* ``org.hchaos.instance`` the topology instance (or ``toxiproxy``, ``haproxy``) a container is
* ``org.hchaos.site``     the site it lives in (power loss acts by site)

testcontainers' Ryuk (a reaper container pulled from a registry) cannot run where no registry
is reachable, and the backend removes its own containers anyway: it is disabled here, before
testcontainers is imported, unless the user said otherwise.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final

from harness.errors import InfrastructureError
from harness.run.run_tag import run_tag

if TYPE_CHECKING:
    import docker

LABEL_RUN: Final = "org.hchaos.run"
LABEL_RUN_ID: Final = "org.hchaos.run-id"
LABEL_INSTANCE: Final = "org.hchaos.instance"
LABEL_SITE: Final = "org.hchaos.site"
LABEL_PART: Final = "org.hchaos.part"
"""What part of an instance a container is when it is not the instance itself (``network``:
its address holder, :mod:`harness.backends.docker.holders`)."""

INSTALL_HINT: Final = "run scripts/install-docker.sh (or `make images`): it installs and starts the engine"


class DockerUnavailable(InfrastructureError):
    """No Docker engine answers, or this user may not talk to it (exit code 3)."""


def disable_ryuk() -> None:
    """Tell testcontainers not to start Ryuk (its image cannot be pulled here); call before
    importing testcontainers. A user's own ``TESTCONTAINERS_RYUK_DISABLED`` wins."""
    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")


def connect(timeout: float = 30.0) -> docker.DockerClient:
    """A client of the engine at ``$DOCKER_HOST`` (default: the local socket), checked with a
    ping. Raises :class:`DockerUnavailable` saying which of the usual causes it is: no engine
    installed, the daemon not running, no permission on the socket."""
    import docker
    from docker.errors import DockerException

    try:
        client = docker.from_env(timeout=int(timeout))
        client.ping()
    except DockerException as exc:
        raise DockerUnavailable(_why_unavailable(str(exc)), hint=INSTALL_HINT) from None
    return client


def _why_unavailable(detail: str) -> str:
    socket = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    path = Path(socket.removeprefix("unix://")) if socket.startswith("unix://") else None
    if "Permission denied" in detail or "PermissionError" in detail:
        return (f"no permission to use the Docker engine's socket {socket} (run as root, or join the "
                f"'docker' group)")
    if path is not None and not path.exists():
        return f"no Docker engine is running: the socket {path} does not exist"
    return f"the Docker engine at {socket} does not answer: {detail.splitlines()[0] if detail else 'no reply'}"


def run_labels(run_dir: Path, **extra: str) -> dict[str, str]:
    """The labels of a container or network of the run in ``run_dir``, plus ``extra``
    (``instance=``, ``site=`` become ``org.hchaos.instance`` / ``org.hchaos.site``)."""
    labels = {LABEL_RUN: run_tag(run_dir), LABEL_RUN_ID: run_dir.name}
    for key, value in extra.items():
        labels[f"org.hchaos.{key}"] = value
    return labels


@dataclass
class Removed:
    """What :func:`remove_run_resources` removed, by name."""

    containers: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def remove_run_resources(client: docker.DockerClient, matches: Callable[[str], bool]) -> Removed:
    """Remove every container (paused ones thawed first, so none is left frozen) and then every
    network whose ``org.hchaos.run`` label ``matches`` (e.g. :func:`harness.run.run_tag.of_run`).
    Idempotent: what is already gone is not an error."""
    from docker.errors import APIError, NotFound

    removed = Removed()
    for container in client.containers.list(all=True, filters={"label": LABEL_RUN}):
        if not matches(container.labels.get(LABEL_RUN, "")):
            continue
        try:
            if container.status == "paused":
                container.unpause()
            container.remove(force=True, v=True)
            removed.containers.append(str(container.name))
        except NotFound:
            continue
        except APIError as exc:
            removed.errors.append(f"could not remove container {container.name}: {exc.explanation or exc}")
    for network in client.networks.list(filters={"label": LABEL_RUN}):
        if not matches(network.attrs.get("Labels", {}).get(LABEL_RUN, "")):
            continue
        try:
            network.remove()
            removed.networks.append(str(network.name))
        except NotFound:
            continue
        except APIError as exc:
            removed.errors.append(f"could not remove network {network.name}: {exc.explanation or exc}")
    return removed


def remove_run_resources_if_engine(matches: Callable[[str], bool]) -> Removed | None:
    """:func:`remove_run_resources` when an engine answers, else ``None`` (a machine without
    Docker has no containers to remove: rollback of a local run must not need one)."""
    try:
        import docker  # noqa: F401  (the SDK may be absent from a minimal install)
    except ImportError:
        return None
    try:
        client = connect(timeout=10)
    except DockerUnavailable:
        return None
    with contextlib.closing(client):
        return remove_run_resources(client, matches)
