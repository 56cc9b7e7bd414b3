"""The local backend: every part of the topology as a process on 127.0.0.1.

Start order and why:

1. Toxiproxy first, and every link's proxy created in one ``/populate`` call, so that no
   service ever talks to another except through its link.
2. The service instances and HAProxy together (they do not depend on each other to start:
   each finds its peers and dependencies through its links whenever those come up).
3. Ready when every process answers its readiness check *and* the front door routes every
   service through its ``campus-frontdoor-<service>`` link (the path clients use).

Any failure in ``up`` stops everything that was started before raising, and so does an
interruption: waiting for readiness is a safe point of the run's ``interruption``.
"""

from __future__ import annotations

import csv
import http.client
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from harness.backends.base import Endpoints, LinkEndpoint
from harness.backends.local import clock, disks
from harness.backends.local.haproxy import FrontDoorTiming, HaproxyBackendServer, HaproxyRoute, render_haproxy_config
from harness.backends.local.launchers import LocalLaunch, process_spec
from harness.backends.local.ports import LOOPBACK, allocate_free_ports, ensure_ports_free
from harness.backends.local.processes import HttpReady, ProcessFailedToStart, ProcessSpec, ProcessSupervisor
from harness.backends.options import ServiceOptions
from harness.backends.readiness import readiness_groups, ready_budget, wait_until
from harness.backends.registry import SUPPORTED_FAULTS
from harness.interrupt import NEVER, Interruption
from harness.run.journal import Journal
from harness.run.run_tag import tag_environment
from harness.timeline import TimelineWriter
from harness.tools import find_haproxy, find_libfaketime, find_toxiproxy_server
from harness.topology import FRONT_DOOR, Link, Topology
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
    and chosen by the kernel, so several runs can share a machine. ``ready_timeout`` is
    for start-up without data; loading synthetic data adds time per patient."""

    services: ServiceOptions = field(default_factory=ServiceOptions)
    front_door: FrontDoorTiming = field(default_factory=FrontDoorTiming)
    ready_timeout: float = 15.0
    front_door_port: int | None = None
    toxiproxy_port: int | None = None
    base_dir: Path | None = None
    """Where user services' relative paths start (the experiment file's folder)."""
    clock_skewed: frozenset[str] = frozenset()
    """Instances started under libfaketime (some ``clock_skew`` fault targets them)."""
    disk_limits: Mapping[str, int] = field(default_factory=dict)
    """Instance -> MiB of the size-limited filesystem its data lives on (``disk_full`` targets)."""

    @property
    def start_timeout(self) -> float:
        """Readiness budget including synthetic data loading (~2 ms per patient, generous)."""
        return self.ready_timeout + self.services.data.patients * 0.005


class LocalBackend:
    """Runs ``topology`` as local processes under ``run_dir`` (logs/, data/, haproxy.cfg)."""

    name = "local"

    def __init__(self, topology: Topology, run_dir: Path, *, options: LocalOptions | None = None,
                 journal: Journal | None = None, timeline: TimelineWriter | None = None,
                 interruption: Interruption = NEVER) -> None:
        self.topology = topology
        self.run_dir = run_dir
        self.options = options or LocalOptions()
        self._interruption = interruption
        self.supervisor = ProcessSupervisor(run_dir / "logs", journal, timeline, env=tag_environment(run_dir),
                                            interruption=interruption)
        self.endpoints: Endpoints | None = None
        self._toxiproxy: ToxiproxyClient | None = None
        self._journal = journal
        self._clocks: dict[str, clock.FaketimeClock] = {}
        self._disks: dict[str, Path] = {}

    # -- up / down -----------------------------------------------------------------------

    def up(self) -> Endpoints:
        fixed = {}
        main_entry = self._main_entry_link()
        if self.options.front_door_port is not None and main_entry is not None:
            fixed[f"front door ({main_entry} link)"] = self.options.front_door_port
        if self.options.toxiproxy_port is not None:
            fixed["Toxiproxy API"] = self.options.toxiproxy_port
        for inst in self.topology.instances:
            for port_name, port in self.topology.service(inst.service).fixed_ports:
                fixed[f"{inst.name} ({port_name} port)"] = port
        ensure_ports_free(fixed)
        # Find every tool before starting anything: a missing tool leaves nothing behind.
        toxiproxy_bin = find_toxiproxy_server().path
        haproxy_bin = find_haproxy().path
        faketime = find_libfaketime().path if self.options.clock_skewed else None
        try:
            self._prepare_instance_state(faketime)
            return self._up(toxiproxy_bin, haproxy_bin)
        except BaseException:
            self.down()
            raise

    def _main_entry_link(self) -> str | None:
        """The entry link ``front_door_port`` pins: the EHR's, else the first route's."""
        routes = self.topology.front_door.routes
        route = self.topology.route_of("ehr") or (routes[0] if routes else None)
        return route.entry_link if route is not None else None

    def _up(self, toxiproxy_bin: Path, haproxy_bin: Path) -> Endpoints:
        topo = self.topology
        routes = topo.front_door.routes
        needed = (2 + len(routes) + len(topo.links)
                  + sum(len(topo.service(i.service).ports) for i in topo.instances))
        free = iter(allocate_free_ports(needed))
        toxiproxy_port = self.options.toxiproxy_port or next(free)
        stats_port = next(free)
        route_ports = {route.service: next(free) for route in routes}
        instance_ports = {inst.name: {port: dict(topo.service(inst.service).fixed_ports).get(port) or next(free)
                                      for port in topo.service(inst.service).ports}
                          for inst in topo.instances}
        link_ports = {link.name: next(free) for link in topo.links}
        main_entry = self._main_entry_link()
        if self.options.front_door_port is not None and main_entry is not None:
            link_ports[main_entry] = self.options.front_door_port

        def upstream_port(link: Link) -> int:
            if link.target == FRONT_DOOR:
                assert link.service is not None
                return route_ports[link.service]
            return instance_ports[link.target][link.port]

        links = {
            link.name: LinkEndpoint(link.name, LOOPBACK, link_ports[link.name], LOOPBACK, upstream_port(link))
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
            self.supervisor.start(process_spec(LocalLaunch(
                inst, topo, instance_ports, link_ports, data_dir, self.options.services, self.options.base_dir,
                clock=self._clocks.get(inst.name), own_disk=inst.name in self._disks),
                self.supervisor.logs_dir))
        cfg_path = self.run_dir / "haproxy.cfg"
        cfg_path.write_text(render_haproxy_config(
            bind_host=LOOPBACK, stats_port=stats_port, timing=self.options.front_door,
            routes=[HaproxyRoute(route.service, route_ports[route.service],
                                 tuple(HaproxyBackendServer(topo.link(name).target, LOOPBACK, link_ports[name])
                                       for name in route.backend_links),
                                 route.check_path, route.mode)
                    for route in routes]))
        self.supervisor.start(ProcessSpec(
            HAPROXY, (str(haproxy_bin), "-f", str(cfg_path), "-db"), "campus",
            HttpReady(LOOPBACK, stats_port, "/stats")))
        for names, timeout in readiness_groups(self.topology, self.options.start_timeout, [HAPROXY]):
            self.supervisor.wait_ready(names, timeout)

        # 3. The client path works end to end, for every service behind the front door, and
        # HAProxy sees every server UP (else an active-backup route could start on its backup).
        for route in routes:
            entry = links[route.entry_link]
            self._wait_front_door(route.service, HttpReady(LOOPBACK, entry.listen_port, route.check_path))
        self._wait_servers_up(stats_port, expected_up={
            (route.service, topo.link(name).target)
            for route in routes for name in route.backend_links
            if route.mode != "primary" or topo.instance(topo.link(name).target).role == "primary"})

        self.endpoints = Endpoints(
            front_door_urls={route.service: f"http://{LOOPBACK}:{links[route.entry_link].listen_port}"
                             for route in routes},
            toxiproxy_url=toxiproxy_url,
            links=links,
            instance_urls={name: f"http://{LOOPBACK}:{ports['http']}" for name, ports in instance_ports.items()
                           if "http" in ports},
            mllp={link.target: (LOOPBACK, link_ports[link.name])
                  for link in topo.links if link.port == "mllp" and link.source == "campus"},
            stats_url=f"http://{LOOPBACK}:{stats_port}/stats",
            workstation_urls={link.target: f"http://{LOOPBACK}:{link_ports[link.name]}" for link in topo.links
                              if link.source == "campus" and link.purpose == "client" and link.target != FRONT_DOOR
                              and link.port == "http"
                              and topo.service(topo.instance(link.target).service).builtin == "care"},
        )
        (self.run_dir / "endpoints.json").write_text(json.dumps(self.endpoints.to_json(), indent=2))
        return self.endpoints

    def ready_budget(self, instance: str) -> float:
        """Seconds an instance may take to become ready (:func:`readiness.ready_budget`)."""
        return ready_budget(self.topology, instance, self.options.start_timeout)

    def _wait_servers_up(self, stats_port: int, expected_up: set[tuple[str, str]]) -> None:
        """Wait until HAProxy's stats list each ``(service, server)`` as UP (a standby EHR
        never is: it fails ``/primary`` on purpose, so only primaries are expected)."""
        deadline = time.monotonic() + self.options.ready_timeout
        down = expected_up
        while time.monotonic() < deadline:
            down = expected_up - haproxy_servers_up(stats_port)
            if not down:
                return
            self._interruption.sleep(0.05)
        raise ProcessFailedToStart(
            f"the front door still sees {sorted(down)} down after {self.options.ready_timeout:.1f}s\n"
            f"haproxy log:\n{self.supervisor.log_tail(HAPROXY)}", hint=f"logs are in {self.supervisor.logs_dir}")

    def _wait_front_door(self, service: str, ready: HttpReady) -> None:
        timeout = self.options.ready_timeout
        wait_until(ready, timeout, self._interruption, lambda: ProcessFailedToStart(
            f"the front door did not route {service} within {timeout:.1f}s "
            f"({ready.description})\nhaproxy log:\n{self.supervisor.log_tail(HAPROXY)}",
            hint=f"logs are in {self.supervisor.logs_dir}"))

    def down(self) -> None:
        """Stop every process of the run (idempotent)."""
        if self._toxiproxy is not None:
            self._toxiproxy.close()
            self._toxiproxy = None
        self.supervisor.stop_all()
        self._release_disks()

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
        for name in names:  # all restarting at once: each waited for within its own budget
            self.supervisor.wait_ready([name], self.ready_budget(name))
        return names

    supported_faults: frozenset[str] = SUPPORTED_FAULTS["local"]
    """Every fault type: the local backend runs each instance as a process of its own."""

    restart_grace: float = 5.0
    """Seconds a ``restart`` fault's SIGTERM is given before the SIGKILL."""

    def _instance(self, name: str) -> str:
        """``name`` if it is an instance of the topology (a process of this backend), else
        ``ValueError``: Toxiproxy, HAProxy and unknown names are not instances."""
        if name not in {instance.name for instance in self.topology.instances}:
            raise ValueError(f"{name!r} is not an instance of topology {self.topology.name!r}")
        return name

    def kill_instance(self, name: str) -> None:
        self.supervisor.kill(self._instance(name))

    def start_instance(self, name: str) -> None:
        self.supervisor.start_again(self._instance(name))
        self.supervisor.wait_ready([name], self.ready_budget(name))

    def pause_instance(self, name: str) -> None:
        self.supervisor.pause(self._instance(name))

    def resume_instance(self, name: str) -> None:
        self.supervisor.resume(self._instance(name))

    def restart_instance(self, name: str) -> None:
        self.supervisor.restart(self._instance(name), grace=self.restart_grace)
        self.supervisor.wait_ready([name], self.ready_budget(name))

    # -- clock and disk faults (harness.backends.instance_state.InstanceStateFaults) -------

    def _prepare_instance_state(self, faketime: Path | None) -> None:
        """Before any instance starts: a neutral timestamp file for each clock-skewed instance,
        and a size-limited filesystem mounted at ``data/<instance>`` for each disk-limited one.
        Each is journaled before it is created (``hchaos rollback`` undoes it)."""
        names = {instance.name for instance in self.topology.instances}
        for name in sorted(self.options.clock_skewed & names):
            assert faketime is not None  # up() looked it up: clock_skewed is not empty
            path = clock.clock_file(self.run_dir, name)
            if self._journal is not None:
                self._journal.resource_acquired("clock-file", name, path)
            clock.write_setting(path, clock.NEUTRAL)
            self._clocks[name] = clock.FaketimeClock(faketime, path)
        for name, size_mb in sorted(self.options.disk_limits.items()):
            if name not in names:
                continue
            path = self.run_dir / "data" / name
            if self._journal is not None:
                self._journal.resource_acquired("disk", name, path)
            disks.mount_tmpfs(path, size_mb)
            self._disks[name] = path

    def _release_disks(self) -> None:
        """Unmount every size-limited filesystem (after the processes using it stopped)."""
        for name, path in list(self._disks.items()):
            disks.unmount(path)
            if self._journal is not None:
                self._journal.resource_released("disk", path)
            del self._disks[name]

    def _clock(self, name: str) -> clock.FaketimeClock:
        found = self._clocks.get(self._instance(name))
        if found is None:
            raise ValueError(f"{name!r} was not started under libfaketime (no clock_skew fault targets it)")
        return found

    def skew_clock(self, name: str, offset: float, rate: float) -> str:
        started = self.supervisor.process(name).started_at
        setting = clock.faketime_setting(offset, rate, time.time() - started)
        clock.write_setting(self._clock(name).timestamp_file, setting)
        return setting

    def reset_clock(self, name: str) -> None:
        clock.write_setting(self._clock(name).timestamp_file, clock.NEUTRAL)

    def _disk(self, name: str) -> Path:
        found = self._disks.get(self._instance(name))
        if found is None:
            raise ValueError(f"{name!r} has no size-limited data filesystem (no disk_full fault targets it)")
        return found

    def fill_disk(self, name: str) -> int:
        return disks.fill(self._disk(name), self.options.disk_limits[name] << 20)

    def free_disk(self, name: str) -> None:
        disks.free(self._disk(name))


def haproxy_servers_up(stats_port: int, host: str = LOOPBACK) -> set[tuple[str, str]]:
    """``(service, server)`` pairs HAProxy at ``host`` currently reports UP (from its stats CSV)."""
    try:
        conn = http.client.HTTPConnection(host, stats_port, timeout=1)
        conn.request("GET", "/stats;csv")
        text = conn.getresponse().read().decode()
        conn.close()
    except (OSError, http.client.HTTPException):
        return set()
    up = set()
    for row in csv.reader(line for line in text.splitlines() if line and not line.startswith("#")):
        if len(row) > 17 and row[1] not in ("FRONTEND", "BACKEND") and row[17].startswith("UP"):
            up.add((row[0].removesuffix("_servers"), row[1]))
    return up
