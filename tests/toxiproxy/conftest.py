"""Fixtures for the Toxiproxy client tests: a real toxiproxy-server, a TCP echo upstream, and
``api`` -- a client parametrized over the in-memory fake and the real server, so that every
contract test holds both to the same behaviour.

The real server is found with :func:`harness.tools.find_toxiproxy_server`; if it is missing
the tests *fail* with the lookup's message (CI installs tools first; a silent skip would
hide that the client was never tested against the real thing).
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from harness.errors import ToolMissing
from harness.tools import find_toxiproxy_server
from harness.toxiproxy import FakeToxiproxy, ToxiproxyClient

STARTUP_TIMEOUT = 10.0


@dataclass
class RunningToxiproxy:
    url: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path


def free_port() -> int:
    """A port nothing listens on right now (the kernel's pick, released at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(binary: Path, log: Path) -> RunningToxiproxy:
    # A port picked by free_port() can be taken again before the server binds it; retry.
    for _attempt in range(3):
        port = free_port()
        with log.open("wb") as out:
            process = subprocess.Popen([str(binary), "-host", "127.0.0.1", "-port", str(port)],
                                       stdout=out, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if httpx.get(f"{url}/version", timeout=0.2, trust_env=False).status_code == 200:
                    return RunningToxiproxy(url, port, process, log)
            except httpx.TransportError:
                time.sleep(0.02)
        _stop(process)
    raise RuntimeError(f"toxiproxy-server ({binary}) did not answer GET /version; its log:\n"
                       f"{log.read_text(errors='replace')[-2000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@pytest.fixture
def unused_port() -> int:
    """A 127.0.0.1 port with nothing listening on it."""
    return free_port()


@pytest.fixture(scope="session")
def toxiproxy_binary() -> Path:
    try:
        return find_toxiproxy_server().path
    except ToolMissing as exc:
        problem = str(exc)
    # Outside the except block, so the report shows the message, not a chained traceback.
    pytest.fail(problem, pytrace=False)


@pytest.fixture
def toxiproxy_server(toxiproxy_binary: Path, tmp_path: Path) -> Iterator[RunningToxiproxy]:
    """A fresh toxiproxy-server on 127.0.0.1 (free port), killed after the test."""
    server = _start(toxiproxy_binary, tmp_path / "toxiproxy-a.log")
    try:
        yield server
    finally:
        _stop(server.process)


@pytest.fixture
def toxiproxy_server_b(toxiproxy_binary: Path, tmp_path: Path) -> Iterator[RunningToxiproxy]:
    """A second, independent server (for fleet tests)."""
    server = _start(toxiproxy_binary, tmp_path / "toxiproxy-b.log")
    try:
        yield server
    finally:
        _stop(server.process)


@pytest.fixture
def real_client(toxiproxy_server: RunningToxiproxy) -> Iterator[ToxiproxyClient]:
    with ToxiproxyClient(toxiproxy_server.url) as client:
        yield client


@pytest.fixture(params=["fake", pytest.param("real", marks=pytest.mark.integration)])
def api(request: pytest.FixtureRequest) -> Iterator[ToxiproxyClient]:
    """A client on the fake server, then on the real one: contract tests run on both."""
    if request.param == "fake":
        with ToxiproxyClient("http://toxiproxy.fake:8474",
                             transport=FakeToxiproxy().transport) as client:
            yield client
    else:
        server: RunningToxiproxy = request.getfixturevalue("toxiproxy_server")
        with ToxiproxyClient(server.url) as client:
            yield client


class EchoServer:
    """A TCP echo server on 127.0.0.1 in background threads: the upstream behind proxies."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self.address = f"127.0.0.1:{self.port}"
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, name="echo-accept", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return  # listener closed: shutting down
            with self._lock:
                self._connections.append(conn)
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            while data := conn.recv(65536):
                conn.sendall(data)

    def close(self) -> None:
        # shutdown() wakes the thread blocked in accept(); close() alone does not on Linux.
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        with self._lock:
            for conn in self._connections:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()
        self._thread.join(timeout=2)


@pytest.fixture
def echo_server() -> Iterator[EchoServer]:
    server = EchoServer()
    try:
        yield server
    finally:
        server.close()
