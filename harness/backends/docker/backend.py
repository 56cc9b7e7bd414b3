"""The docker backend: every part of the topology in a container, one Docker network per site,
every link through a Toxiproxy container (the layout: :mod:`harness.backends.docker.layout`).

Start order, as in the local backend and for the same reasons:

1. The networks, then Toxiproxy (on every site network, its API published to 127.0.0.1) and
   every link's proxy in one ``/populate`` call, so no service ever reaches another but
   through its link.
2. The service instances (all created at once: container creation, not the services, is the
   slow part) and HAProxy on the campus network.
3. Ready when every container answers its readiness check, the front door routes every service
   through its ``campus-frontdoor-<service>`` link, and HAProxy sees every primary UP.

The harness itself sits on the campus: it reaches the links at Toxiproxy's address on the
campus network, and instances directly (readiness, end-state reads) at their own addresses.
Any failure in ``up`` removes every container and network of the run before raising; so does
``down``, always, and ``hchaos rollback`` finds them again by their labels.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from harness.backends.base import Endpoints, LinkEndpoint
from harness.backends.docker import engine
from harness.backends.docker.container_spec import ContainerSpec
from harness.backends.docker.containers import ContainerSupervisor
from harness.backends.docker.instances import CONTAINER_DATA, HAPROXY_CONFIG, front_door_config, instance_container
from harness.backends.docker.layout import (
    EDGE,
    FRONT_DOOR_ALIAS,
    HAPROXY_STATS_PORT,
    TOXIPROXY_ALIAS,
    TOXIPROXY_API_PORT,
    DockerLayout,
    plan_layout,
)
from harness.backends.local.backend import HAPROXY, TOXIPROXY, LocalOptions, haproxy_servers_up, toxiproxy_env
from harness.backends.local.processes import HttpReady, ProcessFailedToStart, ReadinessCheck
from harness.backends.readiness import TcpConnectReady, readiness_from_spec, readiness_groups, ready_budget, wait_until
from harness.backends.registry import SUPPORTED_FAULTS
from harness.errors import InfrastructureError, InvalidInput
from harness.interrupt import NEVER, Interruption
from harness.run.journal import Journal
from harness.run.run_tag import of_run, run_tag, tag_environment
from harness.timeline import TimelineWriter
from harness.topology import FRONT_DOOR, Topology
from harness.toxiproxy import ProxySpec, ToxiproxyClient

if TYPE_CHECKING:
    import docker
    from testcontainers.core.network import Network



class ImageMissing(InfrastructureError):
    """An image a run needs is not on this machine (exit code 3)."""


class DockerBackend:
    """Runs ``topology`` in containers of the engine at ``$DOCKER_HOST`` (default: the local
    socket); logs, data and haproxy.cfg under ``run_dir`` as for the local backend."""

    name = "docker"

    supported_faults: frozenset[str] = SUPPORTED_FAULTS["docker"]

    restart_grace: float = 5.0
    """Seconds a ``restart`` fault's SIGTERM is given before the SIGKILL."""

    primary_may_have_moved: bool = False
    """Systems attached to rather than started (compose) may have failed over in an earlier run:
    a primary route is then ready with any of its servers UP, not only the declared primary."""

    def __init__(self, topology: Topology, run_dir: Path, *, options: LocalOptions | None = None,
                 journal: Journal | None = None, timeline: TimelineWriter | None = None,
                 interruption: Interruption = NEVER) -> None:
        self.topology = topology
        self.run_dir = run_dir
        self.options = options or LocalOptions()
        self.layout: DockerLayout = plan_layout(topology, run_dir.name)
        self.endpoints: Endpoints | None = None
        self._journal = journal
        self._timeline = timeline
        self._interruption = interruption
        self._client: docker.DockerClient | None = None
        self._networks: dict[str, Network] = {}
        self._supervisor: ContainerSupervisor | None = None
        self._toxiproxy: ToxiproxyClient | None = None

    @property
    def supervisor(self) -> ContainerSupervisor:
        assert self._supervisor is not None, "the docker backend is not up"
        return self._supervisor

    # -- up / down -----------------------------------------------------------------------

    def up(self) -> Endpoints:
        self._refuse_what_cannot_run()
        from harness.backends.docker.images import HAPROXY_IMAGE, SERVICES_IMAGE, TOXIPROXY_IMAGE, require_images

        self._client = engine.connect()
        require_images([SERVICES_IMAGE, TOXIPROXY_IMAGE] + ([HAPROXY_IMAGE] if self.topology.front_door.routes else []))
        self._require_user_images()
        try:
            return self._up()
        except BaseException:
            with contextlib.suppress(InfrastructureError):  # the start-up's own error is the one to tell
                self.down()
            raise

    def _refuse_what_cannot_run(self) -> None:
        """Validation refuses ``command:`` services on this backend; this guards callers that
        build a backend from a topology without validating an experiment."""
        for service in self.topology.services:
            if service.builtin is None and service.image is None:
                raise InvalidInput(f"service {service.name!r} runs as a command on this machine; the docker backend "
                                   "runs containers only", hint="run it on the local backend, or give it an image")

    def _require_user_images(self) -> None:
        """Every user service's image is on this machine (none can be pulled: a missing one
        would fail late, after a registry timeout, with the topology half up)."""
        from docker.errors import ImageNotFound

        assert self._client is not None
        missing = []
        for service in self.topology.services:
            if service.image is None:
                continue
            try:
                self._client.images.get(service.image)
            except ImageNotFound:
                missing.append(f"{service.image} (service {service.name!r})")
        if missing:
            raise ImageMissing(f"image(s) not on this machine: {', '.join(missing)}",
                               hint="build or load them first (`docker build`, `docker load`): no registry is "
                                    "reached from a run")

    def _up(self) -> Endpoints:
        from harness.backends.docker.images import HAPROXY_IMAGE, TOXIPROXY_IMAGE

        topo, layout = self.topology, self.layout
        self._create_networks()
        self._supervisor = ContainerSupervisor(self.run_dir / "logs", self._networks, self._journal, self._timeline,
                                               interruption=self._interruption)
        assert self._client is not None
        self._supervisor.watch_removals(self._client, f"{engine.LABEL_RUN}={run_tag(self.run_dir)}")
        # 1. Toxiproxy on every network, and every link.
        sites = [layout.network(site) for site in layout.sites]
        self.supervisor.start(ContainerSpec(
            TOXIPROXY, TOXIPROXY_IMAGE,
            ("/usr/local/bin/toxiproxy-server", "-host", "0.0.0.0", "-port", str(TOXIPROXY_API_PORT)), "campus",
            (*((network, (TOXIPROXY_ALIAS,)) for network in sites), (layout.network(EDGE), ())),
            lambda ip: HttpReady(ip, TOXIPROXY_API_PORT, "/version"), layout.container(TOXIPROXY),
            env={**toxiproxy_env(), **tag_environment(self.run_dir)}, labels=self._labels(TOXIPROXY, "campus"),
            publish={TOXIPROXY_API_PORT: ("127.0.0.1", None)}))
        self.supervisor.wait_ready([TOXIPROXY], self.options.ready_timeout)
        proxy_host = self.supervisor.container(TOXIPROXY).address
        toxiproxy_url = f"http://127.0.0.1:{self._published_port(TOXIPROXY, TOXIPROXY_API_PORT)}"
        self._toxiproxy = ToxiproxyClient(toxiproxy_url)
        links = self._links(proxy_host)
        self._toxiproxy.populate([ProxySpec(e.name, f"0.0.0.0:{e.listen_port}", e.upstream) for e in links.values()])

        # 2. Instances and the front door, created all at once.
        data_dir = self.run_dir / "data"
        data_dir.mkdir(parents=True, exist_ok=True)
        specs = [self._instance_spec(inst.name) for inst in topo.instances]
        if topo.front_door.routes:
            specs.append(self._haproxy_spec(HAPROXY_IMAGE))
        with ThreadPoolExecutor(max_workers=4) as pool:
            for _ in pool.map(self.supervisor.start, specs):
                pass
        for names, timeout in self._readiness_groups():
            self.supervisor.wait_ready(names, timeout)
        # 3. The client path works end to end, and HAProxy sees every primary UP.
        return self._routed(proxy_host, toxiproxy_url, links)

    def _links(self, proxy_host: str) -> dict[str, LinkEndpoint]:
        """Every link's proxy: at ``proxy_host`` (Toxiproxy's campus address) on its own port,
        forwarding to its target's alias on the target's network."""
        links = {}
        for link in self.topology.links:
            upstream_host, upstream_port = self.layout.upstream(self.topology, link)
            links[link.name] = LinkEndpoint(link.name, proxy_host, self.layout.link_ports[link.name], upstream_host,
                                            upstream_port)
        return links

    def _routed(self, proxy_host: str, toxiproxy_url: str, links: dict[str, LinkEndpoint]) -> Endpoints:
        """Wait until the front door routes every service through its entry link and HAProxy
        sees every primary UP; then the endpoints (written to ``endpoints.json``)."""
        topo, layout = self.topology, self.layout
        routes = topo.front_door.routes
        stats_host = self.supervisor.container(HAPROXY).address if routes else ""
        for route in routes:
            entry = links[route.entry_link]
            self._wait(f"the front door did not route {route.service}",
                       HttpReady(proxy_host, entry.listen_port, route.check_path))
        # Each group must have a server UP: every server of an active route; for a primary route
        # its declared primary -- or, attached to systems that ran before (compose), any of its
        # servers, since a failover in an earlier run may have moved the primary for good.
        groups: list[frozenset[tuple[str, str]]] = []
        for route in routes:
            servers = [(route.service, topo.link(name).target) for name in route.backend_links]
            if route.mode != "primary":
                groups += [frozenset([server]) for server in servers]
            elif self.primary_may_have_moved:
                groups.append(frozenset(servers))
            else:
                groups += [frozenset([s]) for s in servers if topo.instance(s[1]).role == "primary"]
        if groups:
            self._wait("the front door does not see a server up for every service",
                       _ServersUp(stats_host, tuple(groups)))
        self.endpoints = Endpoints(
            front_door_urls={route.service: f"http://{proxy_host}:{links[route.entry_link].listen_port}"
                             for route in routes},
            toxiproxy_url=toxiproxy_url,
            links=links,
            instance_urls={},
            mllp={link.target: (proxy_host, layout.link_ports[link.name])
                  for link in topo.links if link.port == "mllp" and link.source == "campus"},
            stats_url=f"http://{stats_host}:{HAPROXY_STATS_PORT}/stats" if routes else None,
            workstation_urls={link.target: f"http://{proxy_host}:{layout.link_ports[link.name]}"
                              for link in topo.links
                              if link.source == "campus" and link.purpose == "client" and link.target != FRONT_DOOR
                              and link.port == "http"
                              and topo.service(topo.instance(link.target).service).builtin == "care"},
        )
        self._refresh_addresses()
        return self.endpoints

    def _create_networks(self) -> None:
        engine.disable_ryuk()
        from docker.errors import APIError
        from testcontainers.core.network import Network

        for site in (*self.layout.sites, EDGE):
            name = self.layout.network(site)
            if self._journal is not None:
                self._journal.record({"type": "docker", "kind": "network", "name": name})
            network = Network(docker_network_kw={"internal": site != EDGE, "labels": self._labels(None, site),
                                                 "check_duplicate": True})
            network.name = name  # testcontainers names networks by uuid; ours say whose they are
            try:
                network.create()
            except APIError as exc:
                raise ProcessFailedToStart(f"could not create the Docker network {name} for site {site!r}: "
                                           f"{exc.explanation or exc}",
                                           hint="`hchaos rollback` removes what an earlier run left behind") from None
            self._networks[name] = network

    def _labels(self, instance: str | None, site: str) -> dict[str, str]:
        extra = {"site": site} if instance is None else {"instance": instance, "site": site}
        return engine.run_labels(self.run_dir, **extra)

    def _published_port(self, name: str, port: int) -> int:
        managed = self.supervisor.container(name)
        bindings = managed.container.attrs["NetworkSettings"]["Ports"][f"{port}/tcp"]
        return int(bindings[0]["HostPort"])

    def _instance_spec(self, name: str) -> ContainerSpec:
        """The container of instance ``name`` (:func:`instance_container`), ready as its service's
        ``ready:`` says, else when its health path answers 200 (ours) or its first port accepts
        a connection (yours). A user service gets ``data/<instance>/`` of its own."""
        inst = self.topology.instance(name)
        readiness = self.topology.service(inst.service).readiness
        ports, log_path = self.layout.instance_ports[name], self.run_dir / "logs" / f"{name}.log"
        what = instance_container(self.topology, self.layout, name, self.options.services)
        if not what.builtin:
            (self.run_dir / "data" / name).mkdir(parents=True, exist_ok=True)

        def ready(ip: str) -> ReadinessCheck:
            if readiness is not None:
                return readiness_from_spec(readiness, ip, ports, log_path)
            if what.health_path:
                return HttpReady(ip, what.health_port, what.health_path)
            return TcpConnectReady(ip, what.health_port)

        return ContainerSpec(
            name, what.image, what.command, inst.site, ((self.layout.network(inst.site), (name,)),), ready,
            self.layout.container(name), env={**tag_environment(self.run_dir), **what.env},
            labels=self._labels(name, inst.site), volumes=((self.run_dir / "data", CONTAINER_DATA, "rw"),),
            working_dir=what.working_dir, held_address=True)

    def _haproxy_spec(self, image: str) -> ContainerSpec:
        cfg_path = self.run_dir / "haproxy.cfg"
        cfg_path.write_text(front_door_config(self.topology, self.layout, self.options.front_door))
        site = self.topology.front_door.site
        return ContainerSpec(
            HAPROXY, image, ("/usr/sbin/haproxy", "-f", HAPROXY_CONFIG, "-db"), site,
            ((self.layout.network(site), (FRONT_DOOR_ALIAS,)),), lambda ip: HttpReady(ip, HAPROXY_STATS_PORT, "/stats"),
            self.layout.container(HAPROXY), env=tag_environment(self.run_dir), labels=self._labels(HAPROXY, site),
            volumes=((cfg_path, HAPROXY_CONFIG, "ro"),))

    def ready_budget(self, instance: str) -> float:
        """Seconds an instance may take to become ready (:func:`readiness.ready_budget`)."""
        return ready_budget(self.topology, instance, self.options.start_timeout)

    def _readiness_groups(self) -> list[tuple[list[str], float]]:
        also = [HAPROXY] if self.topology.front_door.routes else []
        return readiness_groups(self.topology, self.options.start_timeout, also)

    def _wait(self, what: str, ready: ReadinessCheck) -> None:
        timeout = self.options.ready_timeout
        wait_until(ready, timeout, self._interruption, lambda: ProcessFailedToStart(
            f"{what} within {timeout:.1f}s ({ready.description})\nhaproxy log:\n{self.supervisor.log_tail(HAPROXY)}",
            hint=f"logs are in {self.supervisor.logs_dir}"))

    def _refresh_addresses(self) -> None:
        """Point ``endpoints.instance_urls`` at each instance's current address (a container
        started again may get another one) and list every address of the run's containers as
        its own (:attr:`Endpoints.own_hosts`); written to ``endpoints.json``."""
        if self.endpoints is None:
            return
        supervisor = self.supervisor
        urls = {}
        for inst in self.topology.instances:
            ports = self.layout.instance_ports[inst.name]
            if "http" in ports:
                urls[inst.name] = f"http://{supervisor.container(inst.name).address}:{ports['http']}"
        own = frozenset(supervisor.container(name).address for name in supervisor.names())
        self.endpoints = dataclasses.replace(self.endpoints, instance_urls=urls, own_hosts=own)
        (self.run_dir / "endpoints.json").write_text(json.dumps(self.endpoints.to_json(), indent=2))

    def down(self) -> None:
        """Remove every container and network of the run (idempotent), including any the
        engine holds under this run's labels that this object no longer knows of."""
        if self._toxiproxy is not None:
            self._toxiproxy.close()
            self._toxiproxy = None
        if self._supervisor is not None:
            self._supervisor.remove_all()
        if self._client is not None:
            removed = engine.remove_run_resources(self._client, of_run(self.run_dir))
            self._networks.clear()
            self._client.close()
            self._client = None
            if removed.errors:  # the labels still find them: say so rather than leave them silently
                raise InfrastructureError("; ".join(removed.errors), hint="`hchaos rollback` retries the removal")

    # -- process faults ------------------------------------------------------------------

    def kill_site(self, site: str) -> list[str]:
        names = [name for name in self.supervisor.names_in_site(site) if name != TOXIPROXY]
        self.supervisor.kill_all(names)
        return names

    def restart_site(self, site: str) -> list[str]:
        names = [name for name in self.supervisor.names_in_site(site) if name != TOXIPROXY]
        with ThreadPoolExecutor(max_workers=max(1, min(8, len(names)))) as pool:
            for _ in pool.map(self.supervisor.start_again, names):
                pass
        for name in names:
            self.supervisor.wait_ready([name], self.ready_budget(name) if name != HAPROXY
                                       else self.options.start_timeout)
        self._refresh_addresses()
        return names

    def _instance(self, name: str) -> str:
        if name not in {instance.name for instance in self.topology.instances}:
            raise ValueError(f"{name!r} is not an instance of topology {self.topology.name!r}")
        return name

    def kill_instance(self, name: str) -> None:
        self.supervisor.kill(self._instance(name))

    def start_instance(self, name: str) -> None:
        self.supervisor.start_again(self._instance(name))
        self.supervisor.wait_ready([name], self.ready_budget(name))
        self._refresh_addresses()

    def pause_instance(self, name: str) -> None:
        self.supervisor.pause(self._instance(name))

    def resume_instance(self, name: str) -> None:
        self.supervisor.resume(self._instance(name))

    def restart_instance(self, name: str) -> None:
        self.supervisor.restart(self._instance(name), grace=self.restart_grace)
        self.supervisor.wait_ready([name], self.ready_budget(name))
        self._refresh_addresses()


@dataclasses.dataclass(frozen=True)
class _ServersUp:
    """Ready when HAProxy's statistics (at ``host``) list, for each group of ``(service,
    server)`` pairs, at least one of them UP."""

    host: str
    groups: tuple[frozenset[tuple[str, str]], ...]

    @property
    def description(self) -> str:
        wanted = [" or ".join(f"{service}/{server}" for service, server in sorted(group)) for group in self.groups]
        return f"HAProxy statistics listing UP: {'; '.join(wanted)}"

    def satisfied_by(self, up: set[tuple[str, str]]) -> bool:
        return all(group & up for group in self.groups)

    def check(self) -> bool:
        return self.satisfied_by(haproxy_servers_up(HAPROXY_STATS_PORT, self.host))
