"""The compose backend: experiments against a Compose project that is already up (written by
``hchaos compose``, brought up by the team with ``docker compose up --wait``), starting nothing.

``up`` finds the project's containers by their labels (``com.docker.compose.project`` and
``org.hchaos.instance``), checks that every instance, Toxiproxy and the front door of the
experiment's topology is there and running and that Toxiproxy holds every link's proxy, then
takes charge of them: faults act on them exactly as on the docker backend's own containers.
``down`` removes nothing: it heals what the run changed and starts again any container that is
not running, so the hospital is left as the run found it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.backends.base import Endpoints
from harness.backends.docker import engine
from harness.backends.docker.backend import DockerBackend
from harness.backends.docker.container_spec import ContainerSpec
from harness.backends.docker.containers import ContainerSupervisor
from harness.backends.docker.holders import is_holder
from harness.backends.docker.layout import TOXIPROXY_API_PORT, plan_layout
from harness.backends.local.backend import HAPROXY, TOXIPROXY, LocalOptions
from harness.backends.local.processes import HttpReady
from harness.backends.registry import SUPPORTED_FAULTS
from harness.errors import InfrastructureError
from harness.interrupt import NEVER, Interruption
from harness.run.journal import Journal
from harness.timeline import TimelineWriter
from harness.topology import Topology
from harness.toxiproxy import ToxiproxyClient

COMPOSE_PROJECT_LABEL = "com.docker.compose.project"


class ComposeProjectNotReady(InfrastructureError):
    """The Compose project is not up, or not the experiment's topology (exit code 3)."""


class ComposeBackend(DockerBackend):
    """Attaches to the running Compose project ``project`` (see the module docstring)."""

    name = "compose"

    supported_faults: frozenset[str] = SUPPORTED_FAULTS["compose"]

    primary_may_have_moved = True  # the project ran before: an earlier run's failover may have stuck

    def __init__(self, topology: Topology, run_dir: Path, *, project: str, options: LocalOptions | None = None,
                 journal: Journal | None = None, timeline: TimelineWriter | None = None,
                 interruption: Interruption = NEVER) -> None:
        super().__init__(topology, run_dir, options=options, journal=journal, timeline=timeline,
                         interruption=interruption)
        self.project = project
        self.layout = plan_layout(topology, project)

    def up(self) -> Endpoints:
        self._refuse_what_cannot_run()
        self._client = engine.connect()
        try:
            return self._attach()
        except BaseException:
            self.down()
            raise

    def _hint(self) -> str:
        return (f"bring it up first: docker compose -f compose/hospital.yaml up --wait (a file written by "
                f"`hchaos compose` for this experiment, project {self.project!r})")

    def _attach(self) -> Endpoints:
        assert self._client is not None
        found: dict[str, Any] = {}
        holders: dict[str, Any] = {}
        for container in self._client.containers.list(all=True, filters={"label": f"{COMPOSE_PROJECT_LABEL}="
                                                                                   f"{self.project}"}):
            name = container.labels.get(engine.LABEL_INSTANCE)
            if name:
                (holders if is_holder(container.labels) else found)[name] = container
        wanted = [TOXIPROXY, *(i.name for i in self.topology.instances)]
        if self.topology.front_door.routes:
            wanted.append(HAPROXY)
        if not found:
            raise ComposeProjectNotReady(f"no container of the Compose project {self.project!r} is on this engine",
                                         hint=self._hint())
        missing = [name for name in wanted if name not in found]
        stopped = [f"{name} ({found[name].status})" for name in wanted if name in found
                   and found[name].status != "running"]
        if missing or stopped:
            told = ([f"missing: {', '.join(missing)}"] if missing else []) + (
                [f"not running: {', '.join(stopped)}"] if stopped else [])
            raise ComposeProjectNotReady(f"the Compose project {self.project!r} does not run this experiment's "
                                         f"topology ({'; '.join(told)})", hint=self._hint())
        self._supervisor = ContainerSupervisor(self.run_dir / "logs", {}, self._journal, self._timeline,
                                               interruption=self._interruption)
        self._supervisor.watch_removals(self._client, f"{COMPOSE_PROJECT_LABEL}={self.project}")
        for name in wanted:
            self._supervisor.adopt(self._adopted_spec(name), found[name], holders.get(name))
        proxy_host = self.supervisor.container(TOXIPROXY).address
        toxiproxy_url = f"http://127.0.0.1:{self._published_port(TOXIPROXY, TOXIPROXY_API_PORT)}"
        self._toxiproxy = ToxiproxyClient(toxiproxy_url)
        proxies = self._toxiproxy.proxies()
        absent = [link.name for link in self.topology.links if link.name not in proxies]
        if absent:
            raise ComposeProjectNotReady(f"Toxiproxy of project {self.project!r} lacks the proxies of {len(absent)} "
                                         f"link(s): {', '.join(absent[:8])}{' ...' if len(absent) > 8 else ''}",
                                         hint="regenerate the compose file from this experiment (`hchaos compose`)")
        for names, timeout in self._readiness_groups():
            self.supervisor.wait_ready(names, timeout)
        return self._routed(proxy_host, toxiproxy_url, self._links(proxy_host))

    def _adopted_spec(self, name: str) -> ContainerSpec:
        """What the backend needs to know of a container it did not start: its site, first
        network and readiness (as the docker backend's own would be)."""
        if name == TOXIPROXY:
            site = "campus"
            return ContainerSpec(TOXIPROXY, "", (), site, ((self.layout.network(site), ()),),
                                 lambda ip: HttpReady(ip, TOXIPROXY_API_PORT, "/version"), name)
        spec = self._haproxy_spec("") if name == HAPROXY else self._instance_spec(name)
        return ContainerSpec(spec.name, spec.image, spec.command, spec.site, spec.networks, spec.ready, name)

    def down(self) -> None:
        """Leave the project as found: nothing removed; every container that is not running
        (a fault's, not healed) started again. Idempotent."""
        if self._toxiproxy is not None:
            self._toxiproxy.close()
            self._toxiproxy = None
        if self._supervisor is not None:
            self._supervisor.release()
            self._supervisor = None
        if self._client is not None:
            self._client.close()
            self._client = None
