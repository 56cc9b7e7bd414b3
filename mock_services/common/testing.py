"""Test helpers shared by every service's testing seam (``mock_services/<name>/testing.py``).

* :func:`free_port` -- a TCP port on 127.0.0.1 that was free a moment ago.
* :func:`wait_until` (blocking) and :func:`eventually` (async) -- bounded polls that fail with
  an ``AssertionError`` naming what was awaited.
* :class:`CuttableLink` -- an ASGI app forwarding to another one that a test can cut: two
  in-process apps wired through it lose each other like peers across a partition.
* :func:`serving` -- run an app's lifespan and talk to it in-process (httpx ASGI transport).
* :class:`ServerThread` / :func:`running` -- serve an ASGI app with uvicorn on a real
  127.0.0.1 port in a daemon thread, for code that needs sockets (raw MLLP, real clients).
* :class:`ServiceProcess` -- ``python -m <module>`` as a real process, output in a log file.

Nothing here leaves 127.0.0.1; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import anyio
import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

REPO = Path(__file__).resolve().parents[2]
POLL = 0.02  # seconds between two looks of a poll


def free_port() -> int:
    """A port on 127.0.0.1 free when asked (another process may take it before it is used:
    prefer binding port 0 where the code under test allows it, as :class:`ServerThread` does)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = POLL) -> float:
    """Call ``check`` every ``interval`` seconds until it returns true; return the seconds it
    took. HTTP and OS errors (a server not listening yet) count as "not yet"; any other
    exception propagates. ``AssertionError("not true within <timeout> s: <what>")`` after
    ``timeout`` seconds."""
    started = time.monotonic()
    while True:
        try:
            if check():
                return time.monotonic() - started
        except (httpx.HTTPError, OSError):
            pass
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not true within {timeout} s: {what}")
        time.sleep(interval)


async def eventually(check: Callable[[], Any], timeout: float, what: str) -> None:
    """Await until ``check()`` -- a plain or a coroutine function -- gives a true value,
    looking every 20 ms; ``AssertionError("not true within <timeout> s: <what>")`` after
    ``timeout`` seconds. Exceptions from ``check`` propagate."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s: {what}")
        await anyio.sleep(POLL)


class CuttableLink:
    """An ASGI app forwarding to ``target`` (settable later, so two apps can point at each other).

    While ``cut`` is true, or before a target is set, every request fails as an unreachable
    peer does: ``httpx.ConnectError`` from the caller's ``ASGITransport``.
    """

    def __init__(self, target: ASGIApp | None = None) -> None:
        self.target = target
        self.cut = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.cut or self.target is None:
            raise httpx.ConnectError("replication link cut (test)")
        await self.target(scope, receive, send)


@asynccontextmanager
async def serving(app: Starlette, base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """Run ``app``'s lifespan (start-up before the client, shutdown after) and yield a client
    talking to it in-process at ``base_url``."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            yield client


class ServerThread:
    """Serve ``app`` with uvicorn on 127.0.0.1:``port`` (0: the OS picks) in a daemon thread.

    A context manager: entering starts the server and waits (10 s at most) until it accepts;
    leaving asks it to stop and joins the thread (``join_timeout``). The socket is bound here,
    before the thread starts, so :attr:`port` is known at once and no other process can take
    it in between. ``lifespan``: ``"on"`` runs the app's start-up and shutdown in the thread.
    """

    def __init__(
        self, app: ASGIApp, port: int = 0, *, lifespan: Literal["on", "off"] = "on", join_timeout: float = 10.0
    ) -> None:
        self.app = app
        self.join_timeout = join_timeout
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says TCP,
        # and accepted sockets inherit it -- with proto 0, every response waited ~40 ms (Nagle).
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", port))
        self.port: int = self._socket.getsockname()[1]
        self.server = uvicorn.Server(
            uvicorn.Config(app, log_level="warning", access_log=False, lifespan=lifespan, timeout_graceful_shutdown=1)
        )
        self._thread = threading.Thread(target=self._run, name=f"test-server-{self.port}", daemon=True)
        self.error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        try:
            asyncio.run(self.server.serve(sockets=[self._socket]))
        except BaseException as error:
            self.error = error

    def __enter__(self) -> ServerThread:
        self._thread.start()
        wait_until(lambda: self.server.started or not self._thread.is_alive(), 10, "test server started")
        if not self.server.started:
            raise RuntimeError(f"test server on port {self.port} did not start: {self.error!r}")
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self._thread.join(self.join_timeout)
        self._socket.close()


@contextmanager
def running(app: ASGIApp, port: int | None = None, timeout: float = 10.0) -> Iterator[str]:
    """Serve ``app`` (lifespan off) on 127.0.0.1 in a daemon thread; yields its base URL; stops
    it on exit, waiting ``timeout`` seconds at most (:class:`ServerThread`)."""
    with ServerThread(app, port or 0, lifespan="off", join_timeout=timeout) as server:
        yield server.url


@dataclass
class ServiceProcess:
    """One service process: ``python -m <module> <args>`` from the repository root, stdout and
    stderr appended to ``log``. ``db``: its database file, when it has one (for the tests'
    own checks). :meth:`kill` is idempotent; :meth:`start` again restarts it."""

    name: str
    module: str
    args: list[str]
    port: int
    log: Path
    db: Path | None = None
    popen: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", self.module, *self.args], cwd=REPO, stdout=log, stderr=subprocess.STDOUT
            )

    def signal(self, sig: signal.Signals) -> None:
        assert self.popen is not None
        self.popen.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL (a data-center power cut) and reap; SIGCONT first, in case a test froze it."""
        if self.popen is not None and self.popen.poll() is None:
            os.kill(self.popen.pid, signal.SIGCONT)  # a stopped process still dies, but be explicit
            self.popen.kill()
            self.popen.wait(timeout=5)
