"""Composable readiness checks for the services of a topology: an HTTP status, a TCP connect,
a log line, all of / any of them.

Each check is one quick, non-blocking attempt (the supervisor polls it), is ``reset()`` before
every start of its process (a restarted instance is judged afresh), and remembers what it
saw last, so that a readiness that never comes is reported as what was expected *and* what
was seen ("GET /metadata answering 200; last seen: 503", "connection refused"). Built from a
service's ``ready:`` (:func:`readiness_from_spec`); the default for a user command is a TCP
connect on its first port.
"""

from __future__ import annotations

import http.client
import re
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from harness.experiment.topology_spec import ReadinessSpec

if TYPE_CHECKING:
    from harness.backends.local.processes import ReadinessCheck
    from harness.interrupt import Interruption
    from harness.topology import Topology

LOG_SCAN_BYTES = 1 << 20
"""A log-line check reads at most the last MiB of the log (a chatty server's log grows)."""

START_MARKER = b"=== "
"""The supervisor's header line before each start: a log check only looks after the last one,
so a restarted instance is not 'ready' from its previous life's lines."""


@dataclass
class HttpStatusReady:
    """Ready when ``GET http://host:port{path}`` answers one of ``statuses``."""

    host: str
    port: int
    path: str = "/"
    statuses: tuple[int, ...] = (200,)
    seen: str = field(default="nothing yet", compare=False)

    @property
    def description(self) -> str:
        wanted = " or ".join(map(str, self.statuses))
        return f"GET http://{self.host}:{self.port}{self.path} answering {wanted} (last seen: {self.seen})"

    def reset(self) -> None:
        self.seen = "nothing yet"

    def check(self) -> bool:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=0.5)
        try:
            conn.request("GET", self.path)
            status = conn.getresponse().status
            self.seen = f"status {status}"
            return status in self.statuses
        except (OSError, http.client.HTTPException) as exc:
            self.seen = _describe(exc)
            return False
        finally:
            conn.close()


@dataclass
class TcpConnectReady:
    """Ready when a TCP connection to ``host:port`` is accepted."""

    host: str
    port: int
    seen: str = field(default="nothing yet", compare=False)

    @property
    def description(self) -> str:
        return f"a TCP connection to {self.host}:{self.port} (last seen: {self.seen})"

    def reset(self) -> None:
        self.seen = "nothing yet"

    def check(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5):
                self.seen = "accepted"
                return True
        except OSError as exc:
            self.seen = _describe(exc)
            return False


@dataclass
class LogLineReady:
    """Ready when a line of the process's log (after its latest start) matches ``pattern``."""

    log_path: Path
    pattern: str
    seen: str = field(default="no such line yet", compare=False)

    @property
    def description(self) -> str:
        return f"a log line matching {self.pattern!r} (last seen: {self.seen})"

    def reset(self) -> None:
        self.seen = "no such line yet"

    def check(self) -> bool:
        try:
            with self.log_path.open("rb") as log:
                log.seek(0, 2)
                size = log.tell()
                log.seek(max(0, size - LOG_SCAN_BYTES))
                tail = log.read()
        except OSError:
            self.seen = "no log yet"
            return False
        # Only what the latest start printed: after its header line, which is the file's first
        # line on a first start.
        start = tail.rfind(b"\n" + START_MARKER)
        if start >= 0:
            text = tail[start + 1:]
        elif tail.startswith(START_MARKER):
            text = tail
        else:
            text = b"=== \n" + tail  # the header fell out of the scanned tail: every line counts
        regex = re.compile(self.pattern)
        for line in text.decode(errors="replace").splitlines()[1:]:
            if regex.search(line):
                self.seen = f"matched {line.strip()[:120]!r}"
                return True
        self.seen = "no such line yet"
        return False


@dataclass
class AllReady:
    """Ready when every part is (each part is asked until it has been ready once)."""

    parts: Sequence[HttpStatusReady | TcpConnectReady | LogLineReady | AllReady | AnyReady]
    _done: set[int] = field(default_factory=set, compare=False)

    @property
    def description(self) -> str:
        waiting = [p.description for i, p in enumerate(self.parts) if i not in self._done]
        return "all of: " + "; ".join(waiting or ["(all ready)"])

    def reset(self) -> None:
        self._done.clear()
        for part in self.parts:
            part.reset()

    def check(self) -> bool:
        for index, part in enumerate(self.parts):
            if index not in self._done and part.check():
                self._done.add(index)
        return len(self._done) == len(self.parts)


@dataclass
class AnyReady:
    """Ready when one part is."""

    parts: Sequence[HttpStatusReady | TcpConnectReady | LogLineReady | AllReady | AnyReady]

    @property
    def description(self) -> str:
        return "any of: " + "; ".join(p.description for p in self.parts)

    def reset(self) -> None:
        for part in self.parts:
            part.reset()

    def check(self) -> bool:
        return any(part.check() for part in self.parts)


Readiness = HttpStatusReady | TcpConnectReady | LogLineReady | AllReady | AnyReady


def readiness_from_spec(spec: ReadinessSpec, host: str, ports: Mapping[str, int], log_path: Path) -> Readiness:
    """The check ``spec`` describes for an instance listening on ``ports`` (by name) of ``host``.
    Port names were checked against the service's when the topology was built."""
    first = next(iter(ports.values()))
    if spec.http is not None:
        return HttpStatusReady(host, ports[spec.http.port], spec.http.path, spec.http.status)
    if spec.tcp is not None:
        return TcpConnectReady(host, ports[spec.tcp.port] if spec.tcp.port else first)
    if spec.log is not None:
        return LogLineReady(log_path, spec.log)
    if spec.all_of:
        return AllReady([readiness_from_spec(p, host, ports, log_path) for p in spec.all_of])
    return AnyReady([readiness_from_spec(p, host, ports, log_path) for p in spec.any_of])


def ready_budget(topology: Topology, instance: str, default: float) -> float:
    """Seconds ``instance`` may take to become ready, at start-up and at every restart: its
    service's ``ready.timeout`` when it says, else ``default`` (the backend's start-up budget)."""
    ready = topology.service(topology.instance(instance).service).readiness
    return ready.timeout if ready is not None and ready.timeout is not None else default


def readiness_groups(topology: Topology, default: float, also: Sequence[str] = ()) -> list[tuple[list[str], float]]:
    """The topology's instances grouped by :func:`ready_budget`, plus ``also`` (HAProxy, say)
    in the ``default`` group: what a backend waits for, one ``wait_ready`` per group."""
    groups: dict[float, list[str]] = {default: []}
    for inst in topology.instances:
        groups.setdefault(ready_budget(topology, inst.name, default), []).append(inst.name)
    groups[default].extend(also)
    return [(names, budget) for budget, names in groups.items()]


def wait_until(ready: ReadinessCheck, timeout: float, interruption: Interruption,
               failure: Callable[[], BaseException], poll: float = 0.02) -> None:
    """Poll ``ready`` until it passes; raise ``failure()`` after ``timeout`` seconds. Each poll
    is a safe point of ``interruption`` (Ctrl-C is obeyed within a poll)."""
    deadline = time.monotonic() + timeout
    while not ready.check():
        if time.monotonic() > deadline:
            raise failure()
        interruption.sleep(poll)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "no answer within 0.5 s"
    return f"{type(exc).__name__}: {exc}"
