"""A backend with no processes, for testing the nemesis and the runner's fault logic against a
Toxiproxy (real or :class:`~harness.toxiproxy.FakeToxiproxy`) without starting a hospital:
site and instance kills, pauses and restarts are recorded, not done."""

from __future__ import annotations

from harness.backends.base import Endpoints
from harness.experiment.faults import FAULT_TYPES
from harness.topology import Topology, reference_topology


class NoProcessesBackend:
    """:class:`~harness.backends.base.Backend` that owns nothing: ``kill_site`` and
    ``restart_site`` only record the site (in :attr:`killed` / :attr:`restarted`); the instance
    methods only record ``(method, instance)`` in :attr:`calls`, in call order (e.g.
    ``("pause", "ehr-a")``). It claims every fault type unless told otherwise."""

    name = "no-processes"

    def __init__(self, supported_faults: frozenset[str] = frozenset(FAULT_TYPES),
                 topology: Topology | None = None) -> None:
        self.supported_faults = supported_faults
        self.topology = topology if topology is not None else reference_topology()
        self.endpoints: Endpoints | None = None
        self.killed: list[str] = []
        self.restarted: list[str] = []
        self.calls: list[tuple[str, str]] = []

    def up(self) -> Endpoints:
        raise NotImplementedError("NoProcessesBackend runs nothing: build the Endpoints yourself")

    def down(self) -> None:
        pass

    def kill_site(self, site: str) -> list[str]:
        self.killed.append(site)
        return []

    def restart_site(self, site: str) -> list[str]:
        self.restarted.append(site)
        return []

    def kill_instance(self, name: str) -> None:
        self.calls.append(("kill", name))

    def start_instance(self, name: str) -> None:
        self.calls.append(("start", name))

    def pause_instance(self, name: str) -> None:
        self.calls.append(("pause", name))

    def resume_instance(self, name: str) -> None:
        self.calls.append(("resume", name))

    def restart_instance(self, name: str) -> None:
        self.calls.append(("restart", name))
