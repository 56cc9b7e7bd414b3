"""An experiment's topology as a Compose v2 file, laid out exactly as the docker backend lays it
out (:mod:`harness.backends.docker.layout`), so that a team can bring the whole hospital up in
staging with ``docker compose -f compose/hospital.yaml up --wait`` and ``backend: compose``
runs experiments against it without starting anything.

What the file holds:

* one ``internal`` network per site (and ``edge``, on which only Toxiproxy's API is published
  to 127.0.0.1);
* one Compose service per instance (named like the instance), our services image with its
  driver's command line, or the user's image; a named volume ``data`` at ``/data``; a
  healthcheck for ours (their health path, from inside). Its network stack is that of
  ``<instance>-net``, its address holder, on its site's network under the instance's name
  (``network_mode: service:``; why: :mod:`harness.backends.docker.holders`);
* ``toxiproxy`` on every network, its proxies loaded at start from ``<name>-toxiproxy.json``
  beside the compose file (``-config``), its API on ``127.0.0.1:<toxiproxy_port>``;
* ``haproxy`` (the front door) with ``<name>-haproxy.cfg``, started once Toxiproxy is healthy
  (it resolves ``toxiproxy`` when it reads its configuration).

Every container carries ``org.hchaos.instance`` and ``org.hchaos.site``, by which the compose
backend finds them; the project is named in the file (``name:``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.backends.docker.holders import HOLDER_COMMAND, HOLDER_IMAGE, HOLDER_SUFFIX, holder_labels
from harness.backends.docker.images import HAPROXY_IMAGE, TOXIPROXY_IMAGE
from harness.backends.docker.instances import (
    CONTAINER_DATA,
    CONTAINER_PYTHON,
    HAPROXY_CONFIG,
    front_door_config,
    instance_container,
)
from harness.backends.docker.layout import (
    EDGE,
    FRONT_DOOR_ALIAS,
    HAPROXY_STATS_PORT,
    TOXIPROXY_ALIAS,
    TOXIPROXY_API_PORT,
    DockerLayout,
    plan_layout,
)
from harness.backends.local.backend import HAPROXY, TOXIPROXY, LocalOptions
from harness.topology import Topology

TOXIPROXY_CONFIG = "/etc/hchaos/toxiproxy.json"
DEFAULT_PROJECT = "hchaos-hospital"


@dataclass(frozen=True)
class ComposeFiles:
    """The compose file and the two configuration files it mounts, as text."""

    compose: str
    toxiproxy_json: str
    haproxy_cfg: str | None


def compose_files(topology: Topology, options: LocalOptions, *, project: str, base_name: str,
                  toxiproxy_port: int | None = TOXIPROXY_API_PORT) -> ComposeFiles:
    """The Compose project ``project`` of ``topology``; ``base_name`` names the side files
    (``<base_name>-toxiproxy.json``, ``<base_name>-haproxy.cfg``), found beside the compose file.
    Toxiproxy's API is published on ``127.0.0.1:<toxiproxy_port>`` (None: a free port)."""
    layout = plan_layout(topology, project)
    # Named as the docker backend names them (the compose backend finds addresses by them).
    networks: dict[str, Any] = {site: {"name": layout.network(site), "internal": True,
                                       "labels": {"org.hchaos.site": site}} for site in layout.sites}
    networks[EDGE] = {"name": layout.network(EDGE), "labels": {"org.hchaos.site": EDGE}}
    services: dict[str, Any] = {}
    services[TOXIPROXY] = {
        "image": TOXIPROXY_IMAGE,
        "command": ["/usr/local/bin/toxiproxy-server", "-host", "0.0.0.0", "-port", str(TOXIPROXY_API_PORT),
                    "-config", TOXIPROXY_CONFIG],
        "environment": {"LOG_LEVEL": "info"},
        "volumes": [f"./{base_name}-toxiproxy.json:{TOXIPROXY_CONFIG}:ro"],
        "ports": [f"127.0.0.1:{toxiproxy_port or ''}:{TOXIPROXY_API_PORT}"],
        "networks": {**{site: {"aliases": [TOXIPROXY_ALIAS]} for site in layout.sites}, EDGE: {}},
        "labels": _labels(TOXIPROXY, "campus"),
        "healthcheck": _healthcheck(["CMD", "/usr/local/bin/toxiproxy-cli", "list"]),
    }
    for inst in topology.instances:
        services[holder_service(inst.name)] = {
            "image": HOLDER_IMAGE,
            "command": list(HOLDER_COMMAND),
            "networks": {inst.site: {"aliases": [inst.name]}},
            "labels": holder_labels(_labels(inst.name, inst.site)),
            "stop_signal": "SIGKILL",
        }
        services[inst.name] = _instance_service(topology, layout, options, inst.name)
    haproxy_cfg = None
    if topology.front_door.routes:
        haproxy_cfg = front_door_config(topology, layout, options.front_door)
        site = topology.front_door.site
        services[HAPROXY] = {
            "image": HAPROXY_IMAGE,
            "command": ["/usr/sbin/haproxy", "-f", HAPROXY_CONFIG, "-db"],
            "volumes": [f"./{base_name}-haproxy.cfg:{HAPROXY_CONFIG}:ro"],
            "networks": {site: {"aliases": [FRONT_DOOR_ALIAS]}},
            "labels": _labels(HAPROXY, site),
            "depends_on": {TOXIPROXY: {"condition": "service_healthy"}},
            "healthcheck": _healthcheck(_python_get("python3", HAPROXY_STATS_PORT, "/stats")),
        }
    document = {
        "name": project,
        "services": services,
        "networks": networks,
        "volumes": {"data": {}},
    }
    header = (f"# The {topology.name} topology as a Compose project, written by `hchaos compose`: do not edit,\n"
              "# regenerate it. Up: docker compose -f THIS_FILE up --wait (images: `make images`).\n"
              "# Experiments run against it with `backend: compose` (compose: {project: "
              f"{project}}}).\n")
    proxies = [{"name": link.name, "listen": f"0.0.0.0:{layout.link_ports[link.name]}",
                "upstream": "{}:{}".format(*layout.upstream(topology, link)), "enabled": True}
               for link in topology.links]
    return ComposeFiles(header + yaml.safe_dump(document, sort_keys=False, width=120),
                        json.dumps(proxies, indent=2) + "\n", haproxy_cfg)


def write_compose_files(files: ComposeFiles, output: Path) -> list[Path]:
    """Write ``files`` at ``output`` and beside it; the paths written."""
    base = output.with_suffix("")
    written = [output, base.with_name(f"{base.name}-toxiproxy.json")]
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(files.compose)
    written[1].write_text(files.toxiproxy_json)
    if files.haproxy_cfg is not None:
        written.append(base.with_name(f"{base.name}-haproxy.cfg"))
        written[2].write_text(files.haproxy_cfg)
    return written


def holder_service(instance: str) -> str:
    """The Compose service holding ``instance``'s network stack (:mod:`harness.backends.docker.holders`)."""
    return f"{instance}{HOLDER_SUFFIX}"


def _labels(instance: str, site: str) -> dict[str, str]:
    return {"org.hchaos.instance": instance, "org.hchaos.site": site}


def _healthcheck(test: list[str]) -> dict[str, Any]:
    # Every check is a process started in the container: at 1 s, fifteen Pythons a second took
    # a core's worth of CPU from the hospital on 2 cores and slowed the EHR past the care
    # application's 1 s timeout. `up --wait` is at most one interval later at 3 s.
    return {"test": test, "interval": "3s", "timeout": "2s", "retries": 40, "start_period": "1s"}


def _python_get(python: str, port: int, path: str) -> list[str]:
    # -I -S: no site-packages, no user site: half the start-up cost of a plain `python -c`
    return ["CMD", python, "-I", "-S", "-c",
            f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}{path}', timeout=2)"]


def _instance_service(topology: Topology, layout: DockerLayout, options: LocalOptions, name: str) -> dict[str, Any]:
    inst = topology.instance(name)
    what = instance_container(topology, layout, name, options.services)
    entry: dict[str, Any] = {"image": what.image}
    if what.command:
        entry["command"] = list(what.command)
    if what.env:
        entry["environment"] = dict(what.env)
    if what.working_dir:
        entry["working_dir"] = what.working_dir
    if what.builtin:  # ours have Python inside; a user's image may have nothing to probe with
        entry["healthcheck"] = _healthcheck(_python_get(CONTAINER_PYTHON, what.health_port, what.health_path))
    entry |= {
        "network_mode": f"service:{holder_service(name)}",
        "volumes": [f"data:{CONTAINER_DATA}"],
        "labels": _labels(name, inst.site),
        "depends_on": {TOXIPROXY: {"condition": "service_healthy"},
                       holder_service(name): {"condition": "service_started"}},
        "stop_grace_period": "5s",
    }
    return entry
