"""A backend with no processes, for testing the nemesis and the runner's fault logic against a
Toxiproxy (real or :class:`~harness.toxiproxy.FakeToxiproxy`) without starting a hospital:
site kills and restarts are recorded, not done."""

from __future__ import annotations

from harness.backends.base import Endpoints


class NoProcessesBackend:
    """:class:`~harness.backends.base.Backend` that owns nothing: ``kill_site`` and
    ``restart_site`` only record the site (in :attr:`killed` / :attr:`restarted`)."""

    name = "no-processes"

    def __init__(self) -> None:
        self.killed: list[str] = []
        self.restarted: list[str] = []

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
