"""Where everything of a topology lives in Docker, computed before anything starts (pure data:
no engine needed, unit-tested on its own).

* One network per site, named ``hchaos-<run>-<site>``, created ``internal`` (no route out of
  the machine: a container can reach nothing but its own site's network), plus one ordinary
  ``edge`` network holding only Toxiproxy, on which its API port is published to 127.0.0.1.
* Every instance is alone in its container, so every instance uses the same container ports:
  ``http`` 8080, ``mllp`` 2575, ``tcp`` 9000, other names 9001 and up (a pinned port of the
  topology is used as the container port).
* Toxiproxy is attached to every site network under the alias ``toxiproxy``; each link's proxy
  listens on its own port of that container (20000 + its index) and forwards to the target
  instance by its alias on the target's site network. An instance reaches a link at
  ``toxiproxy:<port>`` on its own network: it can reach another site only through a link.
* HAProxy (the front door) lives on the campus network, alias ``frontdoor``; each route listens
  on 10000 + its index, its statistics on 9999.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from harness.topology import FRONT_DOOR, Link, Topology

TOXIPROXY_ALIAS = "toxiproxy"
FRONT_DOOR_ALIAS = "frontdoor"
TOXIPROXY_API_PORT = 8474
HAPROXY_STATS_PORT = 9999
EDGE = "edge"
"""The network (not a site) on which Toxiproxy's API is published to the host."""

_WELL_KNOWN = {"http": 8080, "mllp": 2575, "tcp": 9000}
_LINK_BASE = 20000
_ROUTE_BASE = 10000


@dataclass(frozen=True)
class DockerLayout:
    """Names and container ports of one run's topology in Docker."""

    prefix: str
    """``hchaos-<run>``: the start of every container and network name of the run."""
    sites: tuple[str, ...]
    instance_ports: Mapping[str, Mapping[str, int]]
    link_ports: Mapping[str, int]
    route_ports: Mapping[str, int]

    def network(self, site: str) -> str:
        return f"{self.prefix}-{site}"

    def container(self, name: str) -> str:
        return f"{self.prefix}-{name}"

    def upstream(self, topology: Topology, link: Link) -> tuple[str, int]:
        """Where a link's proxy forwards to, as Toxiproxy resolves it (an alias on the target's
        network)."""
        if link.target == FRONT_DOOR:
            assert link.service is not None
            return FRONT_DOOR_ALIAS, self.route_ports[link.service]
        return link.target, self.instance_ports[link.target][link.port]


def run_prefix(run_name: str) -> str:
    """``hchaos-`` (unless already there, as in a Compose project's name) and the run folder's
    name made a valid, short engine name (Docker names:
    ``[a-zA-Z0-9][a-zA-Z0-9_.-]``; kept short because network names become bridge names)."""
    cleaned = re.sub(r"[^a-zA-Z0-9_.-]+", "-", run_name).strip("-.") or "run"
    return cleaned[:55] if cleaned.startswith("hchaos-") else f"hchaos-{cleaned[:48]}"


def plan_layout(topology: Topology, run_name: str) -> DockerLayout:
    """The layout of ``topology`` for the run folder named ``run_name``."""
    instance_ports: dict[str, dict[str, int]] = {}
    for inst in topology.instances:
        service = topology.service(inst.service)
        pinned = dict(service.fixed_ports)
        ports: dict[str, int] = {}
        extra = 9001
        for port in service.ports:
            if port in pinned:
                ports[port] = pinned[port]
            elif port in _WELL_KNOWN:
                ports[port] = _WELL_KNOWN[port]
            else:
                ports[port] = extra
                extra += 1
        instance_ports[inst.name] = ports
    sites = tuple(dict.fromkeys([topology.front_door.site, *(s.name for s in topology.sites)]))
    return DockerLayout(
        prefix=run_prefix(run_name),
        sites=sites,
        instance_ports=instance_ports,
        link_ports={link.name: _LINK_BASE + index for index, link in enumerate(topology.links)},
        route_ports={route.service: _ROUTE_BASE + index for index, route in enumerate(topology.front_door.routes)},
    )
