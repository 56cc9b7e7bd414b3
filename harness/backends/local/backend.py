"""The local backend: every part of the topology as a process on 127.0.0.1.

Start order and why:

1. Toxiproxy first, and every link's proxy created in one ``/populate`` call, so that no
   service ever talks to a peer except through its link.
2. The service instances and HAProxy together (they do not depend on each other to start:
   the EHR primary finds its standby through its link whenever that comes up).
3. Ready when every process answers its readiness check *and* the front door routes a
   request to a primary through the ``campus-frontdoor`` link (the path clients use).

Any failure in ``up`` stops everything that was started before raising.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from harness.backends.base import EhrOptions, Endpoints, LinkEndpoint
from harness.backends.local.haproxy import FrontDoorTiming, HaproxyBackendServer, render_haproxy_config
from harness.backends.local.ports import LOOPBACK, allocate_free_ports, ensure_ports_free
from harness.backends.local.processes import HttpReady, ProcessFailedToStart, ProcessSpec, ProcessSupervisor
from harness.faults.journal import Journal
from harness.timeline import TimelineWriter
from harness.tools import find_haproxy, find_toxiproxy_server
from harness.topology import FRONT_DOOR, Topology
from harness.toxiproxy import ProxySpec, ToxiproxyClient

TOXIPROXY = "toxiproxy"
HAPROXY = "haproxy"


def toxiproxy_env() -> dict[str, str]:
    """Toxiproxy's environment: ``LOG_LEVEL`` info (its default is trace: several JSON lines
    per connection, and HAProxy opens one per health check) unless the user set one, and
    ``GOMAXPROCS`` from :func:`toxiproxy_gomaxprocs`."""
    return {"LOG_LEVEL": os.environ.get("LOG_LEVEL", "info"), "GOMAXPROCS": toxiproxy_gomaxprocs()}


def toxiproxy_gomaxprocs() -> str:
    """Go threads for Toxiproxy: ``$GOMAXPROCS`` if the user set it, else half the cores.

    Why not Go's default (one per core): on a small machine Toxiproxy shares the cores with
    the services, HAProxy and the load, and Go's spinning idle threads then compete with
    them. Measured on 2 cores (bench/bench_spine.py): p50 proxy overhead on a FHIR read
    fell from ~0.3 ms to ~0.15 ms with 1 thread instead of 2.
    """
    return os.environ.get("GOMAXPROCS") or str(max(1, (os.cpu_count() or 2) // 2))


@dataclass(frozen=True)
class LocalOptions:
    """Knobs of the local backend. Fixed ports are optional: by default every port is free
    and chosen by the kernel, so several runs can share a machine."""

    ehr: EhrOptions = field(default_factory=EhrOptions)
    front_door: FrontDoorTiming = field(default_factory=FrontDoorTiming)
    ready_timeout: float = 15.0
    front_door_port: int | None = None
    toxiproxy_port: int | None = None


class LocalBackend:
    """Runs ``topology`` as local processes under ``run_dir`` (logs/, data/, haproxy.cfg)."""

    name = "local"

    def __init__(self, topology: Topology, run_dir: Path, *, options: LocalOptions | None = None,
                 journal: Journal | None = None, timeline: TimelineWriter | None = None) -> None:
        self.topology = topology
        self.run_dir = run_dir
        self.options = options or LocalOptions()
        self.supervisor = ProcessSupervisor(run_dir / "logs", journal, timeline)
        self.endpoints: Endpoints | None = None
        self._toxiproxy: ToxiproxyClient | None = None

    # -- up / down -----------------------------------------------------------------------

    def up(self) -> Endpoints:
        fixed = {}
        if self.options.front_door_port is not None:
            fixed["front door (campus-frontdoor link)"] = self.options.front_door_port
        if self.options.toxiproxy_port is not None:
            fixed["Toxiproxy API"] = self.options.toxiproxy_port
        ensure_ports_free(fixed)
        # Find every tool before starting anything: a missing tool leaves nothing behind.
        toxiproxy_bin = find_toxiproxy_server().path
        haproxy_bin = find_haproxy().path
        try:
            return self._up(toxiproxy_bin, haproxy_bin)
        except BaseException:
            self.down()
            raise

    def _up(self, toxiproxy_bin: Path, haproxy_bin: Path) -> Endpoints:
        topo = self.topology
        needed = 3 + len(topo.links) + len(topo.instances)
        free = iter(allocate_free_ports(needed))
        toxiproxy_port = self.options.toxiproxy_port or next(free)
        haproxy_port, stats_port = next(free), next(free)
        instance_ports = {inst.name: next(free) for inst in topo.instances}
        link_ports = {link.name: next(free) for link in topo.links}
        if self.options.front_door_port is not None:
            link_ports[topo.front_door.entry_link] = self.options.front_door_port

        def upstream_port(target: str) -> int:
            return haproxy_port if target == FRONT_DOOR else instance_ports[target]

        links = {
            link.name: LinkEndpoint(link.name, LOOPBACK, link_ports[link.name], LOOPBACK, upstream_port(link.target))
            for link in topo.links
        }

        # 1. Toxiproxy and every link.
        self.supervisor.start(ProcessSpec(
            TOXIPROXY, (str(toxiproxy_bin), "-host", LOOPBACK, "-port", str(toxiproxy_port)),
            "campus", HttpReady(LOOPBACK, toxiproxy_port, "/version"), env=toxiproxy_env()))
        self.supervisor.wait_ready([TOXIPROXY], self.options.ready_timeout)
        toxiproxy_url = f"http://{LOOPBACK}:{toxiproxy_port}"
        self._toxiproxy = ToxiproxyClient(toxiproxy_url)
        self._toxiproxy.populate([ProxySpec(e.name, e.listen, e.upstream) for e in links.values()])

        # 2. Instances and the front door.
        data_dir = self.run_dir / "data"
        data_dir.mkdir(parents=True, exist_ok=True)
        for inst in topo.instances:
            self.supervisor.start(self._ehr_spec(inst.name, instance_ports, links, data_dir))
        cfg_path = self.run_dir / "haproxy.cfg"
        service = topo.service_names[0]
        cfg_path.write_text(render_haproxy_config(
            service=topo.front_door.service, bind_host=LOOPBACK, bind_port=haproxy_port, stats_port=stats_port,
            servers=[HaproxyBackendServer(topo.link(name).target, LOOPBACK, link_ports[name])
                     for name in topo.front_door.backend_links],
            primary_check_path=next(s for s in topo.services if s.name == service).primary_check_path,
            timing=self.options.front_door))
        self.supervisor.start(ProcessSpec(
            HAPROXY, (str(haproxy_bin), "-f", str(cfg_path), "-db"), "campus",
            HttpReady(LOOPBACK, stats_port, "/stats")))
        self.supervisor.wait_ready([i.name for i in topo.instances] + [HAPROXY], self.options.ready_timeout)

        # 3. The client path works end to end.
        entry = links[topo.front_door.entry_link]
        front_door_ready = ProcessSpec(
            FRONT_DOOR, (), "campus", HttpReady(LOOPBACK, entry.listen_port, "/primary"))
        self._wait_front_door(front_door_ready)

        self.endpoints = Endpoints(
            front_door_url=f"http://{LOOPBACK}:{entry.listen_port}",
            toxiproxy_url=toxiproxy_url,
            links=links,
            instance_urls={name: f"http://{LOOPBACK}:{port}" for name, port in instance_ports.items()},
            stats_url=f"http://{LOOPBACK}:{stats_port}/stats",
        )
        (self.run_dir / "endpoints.json").write_text(json.dumps(self.endpoints.to_json(), indent=2))
        return self.endpoints

    def _wait_front_door(self, spec: ProcessSpec) -> None:
        deadline = time.monotonic() + self.options.ready_timeout
        while not spec.ready.check():
            if time.monotonic() > deadline:
                raise ProcessFailedToStart(
                    f"the front door did not route to a primary within {self.options.ready_timeout:.1f}s "
                    f"({spec.ready.description})\nhaproxy log:\n{self.supervisor.log_tail(HAPROXY)}",
                    hint=f"logs are in {self.supervisor.logs_dir}")
            time.sleep(0.02)

    def _ehr_spec(self, name: str, instance_ports: Mapping[str, int], links: Mapping[str, LinkEndpoint],
                  data_dir: Path) -> ProcessSpec:
        inst = self.topology.instance(name)
        ehr = self.options.ehr
        argv = [sys.executable, "-m", "mock_services.ehr", "--name", name, "--datacenter", inst.site,
                "--role", inst.role, "--host", LOOPBACK, "--port", str(instance_ports[name]),
                "--db", str(data_dir / f"{name}.sqlite"), "--replication", ehr.replication,
                "--promote-after", str(ehr.promote_after), "--heartbeat-interval", str(ehr.heartbeat_interval),
                "--peer-timeout", str(ehr.peer_timeout)]
        peer = next(self.topology.peers(name), None)
        if peer is not None:
            link = self.topology.replication_link(name, peer.name)
            argv += ["--peer-url", f"http://{LOOPBACK}:{links[link.name].listen_port}"]
        return ProcessSpec(name, tuple(argv), inst.site, HttpReady(LOOPBACK, instance_ports[name], "/health"))

    def down(self) -> None:
        """Stop every process of the run (idempotent)."""
        if self._toxiproxy is not None:
            self._toxiproxy.close()
            self._toxiproxy = None
        self.supervisor.stop_all()

    # -- process faults ------------------------------------------------------------------

    def kill_site(self, site: str) -> list[str]:
        names = self.supervisor.names_in_site(site)
        for name in names:
            self.supervisor.kill(name)
        return names

    def restart_site(self, site: str) -> list[str]:
        names = self.supervisor.names_in_site(site)
        for name in names:
            self.supervisor.restart(name)
        self.supervisor.wait_ready(names, self.options.ready_timeout)
        return names
