"""The docker backend on the real engine: real containers of our images, one network per site,
a real Toxiproxy container, faults through the nemesis. Needs `make images` (which `make test`
runs first): without an engine or the images these tests fail, they do not skip."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import httpx
import pytest

from harness.backends import EhrOptions, Endpoints, ServiceOptions
from harness.backends.docker.backend import DockerBackend
from harness.backends.docker.engine import LABEL_RUN
from harness.backends.local import LocalOptions
from harness.experiment.faults import KillFault, PauseFault, PowerLossFault, RestartFault
from harness.faults import FaultPlan, Nemesis, plan_fault
from harness.run.journal import Journal, replay_journal
from harness.run.run_tag import run_tag
from harness.topology import reference_topology
from harness.toxiproxy import ToxiproxyClient

pytestmark = pytest.mark.integration

FAST = LocalOptions(services=ServiceOptions(ehr=EhrOptions(promote_after=1.0, heartbeat_interval=0.1)))
TOPOLOGY = reference_topology(("ehr",))

Running = tuple[DockerBackend, Endpoints, Nemesis]


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    journal = Journal(tmp_path, "t")
    backend = DockerBackend(TOPOLOGY, tmp_path, options=FAST, journal=journal)
    endpoints = backend.up()
    nemesis = Nemesis(endpoints, backend, journal)
    try:
        yield backend, endpoints, nemesis
    finally:
        nemesis.heal_all()
        nemesis.close()
        backend.down()
        journal.close()
        assert leftovers(tmp_path) == ([], [])


def leftovers(run_dir: Path) -> tuple[list[str], list[str]]:
    """Names of the containers and networks labelled with the run that still exist."""
    with contextlib.closing(docker.from_env()) as client:
        label = f"{LABEL_RUN}={run_tag(run_dir)}"
        return ([c.name for c in client.containers.list(all=True, filters={"label": label})],
                [n.name for n in client.networks.list(filters={"label": label})])


def plan(fault: KillFault | PauseFault | RestartFault | PowerLossFault) -> FaultPlan:
    return plan_fault(fault, fault.label, TOPOLOGY)


def settles(backend: DockerBackend, name: str, status: str) -> bool:
    """The engine reports ``status`` for ``name`` within 2 s (a kill from the host is recorded
    by the engine a moment after the processes died)."""
    deadline = time.monotonic() + 2
    while backend.supervisor.container(name).status() != status:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def health(endpoints: Endpoints, instance: str, timeout: float = 1.0) -> int:
    return httpx.get(f"{endpoints.instance_urls[instance]}/health", timeout=timeout).status_code


def exec_python(backend: DockerBackend, instance: str, code: str) -> tuple[int, str]:
    """Run ``code`` with the container's Python inside ``instance``'s container."""
    container = backend.supervisor.container(instance).container
    code_and_output = container.exec_run(["/opt/hchaos/bin/python", "-c", code])
    return int(code_and_output.exit_code), code_and_output.output.decode(errors="replace")


CONNECT = """
import socket, sys
try:
    socket.create_connection((sys.argv[1] if len(sys.argv) > 1 else {host!r}, {port}), timeout=2).close()
    print("connected")
except OSError as exc:
    print("refused:", exc)
"""


def test_a_data_center_reaches_the_other_only_through_a_toxiproxy_link(running: Running) -> None:
    backend, endpoints, _ = running
    ehr_b_address = backend.supervisor.container("ehr-b").address
    # by name and by address, dc-a cannot reach ehr-b directly: different networks
    assert "refused" in exec_python(backend, "ehr-a", CONNECT.format(host="ehr-b", port=8080))[1]
    assert "refused" in exec_python(backend, "ehr-a", CONNECT.format(host=ehr_b_address, port=8080))[1]
    # through the replication link it can, and cutting the link cuts it
    link = endpoints.links["repl-ehr-a-b"]
    assert "connected" in exec_python(backend, "ehr-a", CONNECT.format(host="toxiproxy", port=link.listen_port))[1]
    assert link.upstream_host == "ehr-b"
    # and nothing in a site network reaches outside the machine (internal networks)
    assert "refused" in exec_python(backend, "ehr-a", CONNECT.format(host="192.0.2.1", port=80))[1]


def test_kill_and_the_heal_start_the_same_container_again_ready(running: Running, tmp_path: Path) -> None:
    backend, endpoints, nemesis = running
    other = backend.supervisor.container("ehr-a").container.attrs["State"]["StartedAt"]
    kill = plan(KillFault(type="kill", target="ehr-b", duration=5, name="kill"))
    nemesis.inject(kill)
    assert settles(backend, "ehr-b", "exited")
    with pytest.raises(httpx.TransportError):
        health(endpoints, "ehr-b")
    nemesis.heal(kill)
    assert backend.supervisor.container("ehr-b").status() == "running"
    assert health(backend.endpoints or endpoints, "ehr-b") == 200  # ready when the heal returns
    backend.supervisor.container("ehr-a").container.reload()
    assert backend.supervisor.container("ehr-a").container.attrs["State"]["StartedAt"] == other  # only the target
    assert "kill" not in replay_journal(tmp_path / "journal.jsonl").unhealed_faults


class Hammer:
    """Connections through one link, back to back from ``threads`` threads (as HAProxy's
    checks and a clinical load make them), each sending a request and waiting for the end of
    its answer; the slowest connection and the count, by phase."""

    def __init__(self, host: str, port: int, threads: int = 4) -> None:
        self.address = (host, port)
        self.phase = "before"
        self.slowest: dict[str, float] = {}
        self.count: dict[str, int] = {}
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def __enter__(self) -> Hammer:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=20)

    def _run(self) -> None:
        while not self._stop.is_set():
            phase, started = self.phase, time.perf_counter()
            with contextlib.suppress(OSError), socket.create_connection(self.address, timeout=15) as conn:
                conn.sendall(b"GET /health HTTP/1.0\r\n\r\n")
                while conn.recv(4096):
                    pass
            took = time.perf_counter() - started
            self.slowest[phase] = max(self.slowest.get(phase, 0.0), took)
            self.count[phase] = self.count.get(phase, 0) + 1
            time.sleep(0.02)


def test_a_killed_instance_refuses_at_once_and_its_link_stays_in_hand(running: Running) -> None:
    """Regression (the docker flagship's CI failures): a killed container's address used to
    vanish from its network; Toxiproxy's dial to it hung in the proxy's accept loop, which
    froze that link -- every connection through it, and the API call that disables it -- for
    ~36 s, past the instance's restart. Its address is now held (holders.py): the dial is
    refused at once, the link obeys, and the instance comes back at the same address."""
    backend, endpoints, nemesis = running
    link = endpoints.links["frontdoor-ehr-b"]
    address = backend.supervisor.container("ehr-b").address
    kill = plan(KillFault(type="kill", target="ehr-b", duration=5, name="kill"))
    with Hammer(link.listen_host, link.listen_port) as hammer:
        time.sleep(0.5)
        hammer.phase = "killed"
        nemesis.inject(kill)
        time.sleep(3)
        with contextlib.closing(ToxiproxyClient(endpoints.toxiproxy_url, timeout=60)) as toxiproxy:
            started = time.perf_counter()
            toxiproxy.disable(link.name)
            disabled_in = time.perf_counter() - started
            toxiproxy.enable(link.name)
        hammer.phase = "healed"
        nemesis.heal(kill)
        time.sleep(1)
    print(f"disable during the kill: {disabled_in * 1000:.0f} ms; slowest connection by phase: {hammer.slowest}; "
          f"connections: {hammer.count}")
    assert disabled_in < 1.0
    assert hammer.slowest["killed"] < 1.0 and hammer.count["killed"] > 20, hammer.slowest
    assert hammer.slowest["healed"] < 1.0 and hammer.count["healed"] > 5, hammer.slowest
    assert backend.supervisor.container("ehr-b").address == address
    assert health(backend.endpoints or endpoints, "ehr-b") == 200


def test_pause_freezes_the_container_and_the_heal_thaws_it(running: Running) -> None:
    backend, endpoints, nemesis = running
    pause = plan(PauseFault(type="pause", target="ehr-b", duration=5, name="freeze"))
    started = time.perf_counter()
    nemesis.inject(pause)
    print(f"pause applied (journal fsync + docker pause) in {(time.perf_counter() - started) * 1000:.1f} ms")
    assert backend.supervisor.container("ehr-b").status() == "paused"
    with pytest.raises(httpx.TimeoutException):  # the kernel accepts, nobody answers
        health(endpoints, "ehr-b", timeout=0.5)
    nemesis.heal(pause)
    assert backend.supervisor.container("ehr-b").status() == "running"
    assert health(endpoints, "ehr-b", timeout=5) == 200


def test_restart_stops_gracefully_and_is_ready_when_the_inject_returns(running: Running, tmp_path: Path) -> None:
    backend, _, nemesis = running
    restart = plan(RestartFault(type="restart", target="ehr-b", duration=2, name="bounce"))
    nemesis.inject(restart)
    container = backend.supervisor.container("ehr-b")
    assert container.status() == "running" and health(backend.endpoints or running[1], "ehr-b") == 200
    nemesis.heal(restart)
    starts = [line for line in (tmp_path / "logs" / "ehr-b.log").read_text().splitlines() if line.startswith("=== ")]
    assert len(starts) == 2 and "starting again" in starts[1]


def test_power_loss_kills_every_container_of_the_site_and_cuts_its_links(running: Running) -> None:
    backend, endpoints, nemesis = running
    power = plan(PowerLossFault(type="power_loss", target="dc-a", duration=5, name="power"))
    started = time.perf_counter()
    nemesis.inject(power)
    applied = (time.perf_counter() - started) * 1000
    print(f"power loss of dc-a applied (containers killed + links cut) in {applied:.0f} ms")
    assert settles(backend, "ehr-a", "exited")
    assert backend.supervisor.container("ehr-b").status() == "running"
    nemesis.heal(power)
    assert backend.supervisor.container("ehr-a").status() == "running"
    assert health(backend.endpoints or endpoints, "ehr-a") == 200


def test_a_heal_right_after_a_power_loss_starts_every_container_again(tmp_path: Path) -> None:
    """Regression (bench_docker): killed from the host, a container is still "running" for
    the engine for a moment (its first process a zombie); the start of the heal must wait for
    the engine instead of refusing to start a "running" container."""
    topology = reference_topology(("ehr", "messaging", "labs", "imaging"))  # four containers in dc-a
    backend = DockerBackend(topology, tmp_path, options=FAST)
    try:
        nemesis = Nemesis(backend.up(), backend, Journal(tmp_path, "t"))
        for round_ in range(3):
            power = plan_fault(PowerLossFault(type="power_loss", target="dc-a", duration=1, name=f"blip-{round_}"),
                               f"blip-{round_}", topology)
            nemesis.inject(power)
            nemesis.heal(power)
            assert {backend.supervisor.container(name).status() for name in backend.supervisor.names_in_site("dc-a")} \
                == {"running"}
        nemesis.close()
    finally:
        backend.down()
    assert leftovers(tmp_path) == ([], [])


def test_a_container_removed_by_someone_else_is_an_event_on_the_timeline_not_a_crash(tmp_path: Path) -> None:
    from harness.timeline import ProcessRecord, TimelineWriter, read_timeline

    timeline = TimelineWriter(tmp_path / "timeline.jsonl")
    backend = DockerBackend(TOPOLOGY, tmp_path, options=FAST, timeline=timeline)
    try:
        backend.up()
        with contextlib.closing(docker.from_env()) as someone_else:
            someone_else.containers.get(backend.supervisor.container("ehr-b").id).remove(force=True)
        deadline = time.monotonic() + 5
        while "ehr-b" not in backend.supervisor.vanished():
            assert time.monotonic() < deadline, "the removal was not noticed within 5 s"
            time.sleep(0.05)
        with pytest.raises(Exception, match="removed by someone else"):
            backend.start_instance("ehr-b")  # a heal that needs it says why it cannot
        backend.kill_instance("ehr-b")  # killing what is gone is a no-op
    finally:
        backend.down()
        timeline.close()
    records = [r for r in read_timeline(tmp_path / "timeline.jsonl") if isinstance(r, ProcessRecord)]
    assert [(r.name, r.action) for r in records if r.action == "vanished"] == [("ehr-b", "vanished")]
    assert leftovers(tmp_path) == ([], [])
