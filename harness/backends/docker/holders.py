"""Address holders: the container that owns an instance's network stack, so that the instance's
address outlives its processes -- the docker backend's counterpart of a Kubernetes pod's pause
container.

Why: when a container is killed, the engine tears its network namespace down and its address
vanishes from the site network. Connections to it then get no answer at all (SYNs into a
neighbour entry that points at a deleted interface, ~36 s until the kernel gives up), and
Toxiproxy dials each link's upstream synchronously in the proxy's accept loop: one such dial
froze the whole proxy -- no new connection served, and its API (a ``link_down`` on it, a heal)
blocked behind the dial -- long after the instance was running again. With the network stack
held by a companion container that no fault touches, a killed instance's address refuses
connections at once, exactly as a crashed process on loopback does on the local backend (the
links' toxics model what the network does during a power loss), and it comes back at the same
address.

A holder is ``<instance container>-net``: our services image running ``sleep infinity`` on the
instance's networks under the instance's aliases, labelled like the instance plus
``org.hchaos.part=network`` (so a rollback removes it by the run's labels, and its removal by
someone else makes the instance ``vanished``). It stops on SIGKILL: there is nothing to drain.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

from harness.backends.docker.engine import LABEL_PART
from harness.backends.docker.images import SERVICES_IMAGE

if TYPE_CHECKING:
    from docker.models.containers import Container
    from testcontainers.core.network import Network

HOLDER_SUFFIX: Final = "-net"
HOLDER_COMMAND: Final = ("sleep", "infinity")
HOLDER_IMAGE: Final = SERVICES_IMAGE
"""Any image with ``sleep`` would do; this one is on every machine that runs a topology."""
NETWORK_PART: Final = "network"


def holder_name(container_name: str) -> str:
    """The engine's name of the holder of ``container_name``."""
    return f"{container_name}{HOLDER_SUFFIX}"


def holder_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """An instance's labels, marked as its network's holder."""
    return {**labels, LABEL_PART: NETWORK_PART}


def is_holder(labels: Mapping[str, str]) -> bool:
    return labels.get(LABEL_PART) == NETWORK_PART


def start_holder(container_name: str, networks: tuple[tuple[str, tuple[str, ...]], ...],
                 known_networks: Mapping[str, Network], labels: Mapping[str, str]) -> Container:
    """Create and start the holder of ``container_name`` on ``networks`` (``(name, aliases)``,
    the first at creation, the others connected after); returns it, reloaded (its addresses
    known). Raises the SDK's errors."""
    from testcontainers.core.container import DockerContainer

    first, first_aliases = networks[0]
    holder = (DockerContainer(HOLDER_IMAGE, name=holder_name(container_name))
              .with_command(list(HOLDER_COMMAND))
              .with_network(known_networks[first]).with_network_aliases(*first_aliases)
              .with_kwargs(labels=holder_labels(labels), stop_signal="SIGKILL"))
    holder.start()
    container = holder.get_wrapped_container()
    for network_name, aliases in networks[1:]:
        known_networks[network_name].connect(str(container.id), network_aliases=list(aliases))
    container.reload()
    return container


def address_on(container: Container, network: str) -> str:
    """``container``'s IP address on ``network`` (from its last reload)."""
    return str(container.attrs["NetworkSettings"]["Networks"][network]["IPAddress"])
