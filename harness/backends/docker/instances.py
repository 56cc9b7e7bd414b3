"""What runs in each container of a topology, as data: the one description the docker backend
starts and ``hchaos compose`` writes into a Compose file, so the two can never drift apart.

A built-in instance is our services image running its driver's command line; a user's
``image:`` service is its image, with its command and environment's placeholders filled in.
Either way the instance sees the run's data at ``/data`` (a user service's ``{data}`` is
``/data/<instance>``) and reaches every link at ``toxiproxy:<port>`` on its own site network.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.backends.docker.images import SERVICES_IMAGE
from harness.backends.docker.layout import HAPROXY_STATS_PORT, TOXIPROXY_ALIAS, DockerLayout
from harness.backends.local.haproxy import FrontDoorTiming, HaproxyBackendServer, HaproxyRoute, render_haproxy_config
from harness.backends.local.user_services import placeholder_values
from harness.services import DRIVERS, LaunchContext, ServiceOptions
from harness.topology import Topology, placeholders

CONTAINER_PYTHON = "/opt/hchaos/bin/python"
CONTAINER_DATA = "/data"
HAPROXY_CONFIG = "/usr/local/etc/hchaos/haproxy.cfg"


@dataclass(frozen=True)
class InstanceContainer:
    """One instance's container: image, command (empty: the image's own), environment, and
    where its health is read from inside (``health_path`` empty: a TCP connect)."""

    image: str
    command: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    health_port: int = 8080
    health_path: str = ""
    working_dir: str | None = None
    builtin: bool = True


def instance_container(topology: Topology, layout: DockerLayout, name: str,
                       services: ServiceOptions) -> InstanceContainer:
    """The container of instance ``name`` (see the module docstring)."""
    inst = topology.instance(name)
    service = topology.service(inst.service)
    ports = layout.instance_ports[name]
    ctx = LaunchContext(inst, topology, "0.0.0.0", ports,
                        {link: (TOXIPROXY_ALIAS, port) for link, port in layout.link_ports.items()},
                        Path(CONTAINER_DATA), services)
    if service.builtin is not None:
        driver = DRIVERS[service.builtin]
        return InstanceContainer(SERVICES_IMAGE, (CONTAINER_PYTHON, "-m", driver.module, *driver.argv(ctx)),
                                 health_port=ports["http"], health_path=driver.health_path,
                                 working_dir=CONTAINER_DATA)
    if service.image is None:
        raise ValueError(f"service {service.name!r} runs as a command, not in a container")
    values = placeholder_values(ctx, f"{CONTAINER_DATA}/{name}")
    return InstanceContainer(
        service.image, tuple(placeholders.substitute(arg, values) for arg in service.command or ()),
        {key: placeholders.substitute(value, values) for key, value in service.env},
        health_port=next(iter(ports.values())), builtin=False)


def front_door_config(topology: Topology, layout: DockerLayout, timing: FrontDoorTiming) -> str:
    """HAProxy's configuration in a container: every route on its container port, every server
    through its link at ``toxiproxy:<port>``."""
    return render_haproxy_config(
        bind_host="0.0.0.0", stats_port=HAPROXY_STATS_PORT, timing=timing,
        routes=[HaproxyRoute(route.service, layout.route_ports[route.service],
                             tuple(HaproxyBackendServer(topology.link(name).target, TOXIPROXY_ALIAS,
                                                        layout.link_ports[name])
                                   for name in route.backend_links),
                             route.check_path, route.mode)
                for route in topology.front_door.routes])
