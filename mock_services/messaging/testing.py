"""The testing seam: engines in-process or as processes, a fake FHIR receiver, raw MLLP I/O.

* :class:`~mock_services.common.testing.ServerThread` serves any ASGI app with uvicorn on a
  free 127.0.0.1 port in a background thread (its own event loop), so tests can use plain
  blocking sockets (it, ``free_port`` and ``wait_until`` live in :mod:`mock_services.common.testing`).
* :func:`running_engine` -- an engine (store, MLLP listener, forwarder, HTTP API) in such a
  thread; yields an :class:`EngineHandle` with its MLLP address and HTTP URL.
* :class:`FakeFhirReceiver` -- a small FHIR server recording every request, honouring
  ``If-None-Exist: identifier=system|value`` (0 matches -> 201, 1 -> 200 without creating),
  answering ``GET /<type>?identifier=`` -- token lists read as FHIR reads them (``,`` for
  "or", ``\\`` escaping ``, | $ \\``), so a client that does not escape is caught -- and failing
  on demand: ``fail_next(n, status)``, ``lose_responses(n, seconds)`` (create, then stall the
  response past the client's timeout: the lost-response case), ``reject(predicate)`` (a poison
  message: 422 for matching bodies).
* :class:`EngineProcess` -- ``python -m mock_services.messaging`` as a real process.
* :func:`exchange` -- send raw bytes on one connection and collect the ACK frames.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mock_services.common.testing import REPO, ServerThread, free_port, wait_until
from mock_services.messaging import mllp
from mock_services.messaging.app import Engine, create_app
from mock_services.messaging.config import Config

__all__ = [
    "REPO", "EngineHandle", "EngineProcess", "FakeFhirReceiver", "RecordedRequest", "ServerThread", "engine_config",
    "exchange", "fake_fhir", "free_port", "read_frames", "running_engine", "send_one", "wait_until",
]  # fmt: skip


@dataclass
class EngineHandle:
    """A running in-process engine."""

    engine: Engine
    http_url: str

    @property
    def mllp(self) -> tuple[str, int]:
        return ("127.0.0.1", self.engine.mllp_port)

    def get(self, path: str, **params: Any) -> Any:
        response = httpx.get(f"{self.http_url}{path}", params=params, timeout=5)
        response.raise_for_status()
        return response.json()

    def text(self, path: str) -> str:
        response = httpx.get(f"{self.http_url}{path}", timeout=5)
        response.raise_for_status()
        return response.text


def engine_config(directory: Path, name: str = "msg-a", **overrides: Any) -> Config:
    """A config for in-process use: db ``<directory>/<name>.sqlite``, datacenter ``dc-<last
    letter>``, MLLP port 0, fast forwarding (retry 0.05 s, timeout 1 s); ``overrides`` any field."""
    config = Config(
        name=name,
        datacenter=f"dc-{name[-1]}",
        db_path=directory / f"{name}.sqlite",
        forward_retry_interval=0.05,
        forward_timeout=1.0,
    )
    return dataclasses.replace(config, **overrides)


@contextmanager
def running_engine(config: Config) -> Iterator[EngineHandle]:
    """Run an engine in a background thread for the duration of the block."""
    app = create_app(config)
    with ServerThread(app) as server:
        yield EngineHandle(app.state.engine, server.url)


# -- raw MLLP ------------------------------------------------------------------------------


def read_frames(sock: socket.socket, count: int, timeout: float = 5.0) -> tuple[list[str], bool]:
    """Read up to ``count`` MLLP frames; returns (frames, whether the peer closed)."""
    deadline = time.monotonic() + timeout
    decoder = mllp.FrameDecoder()
    frames: list[str] = []
    while len(frames) < count:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return frames, False
        sock.settimeout(remaining)
        try:
            data = sock.recv(65536)
        except TimeoutError:
            return frames, False
        except ConnectionResetError:
            return frames, True
        if not data:
            return frames, True
        frames += [e.payload.decode("utf-8") for e in decoder.feed(data) if isinstance(e, mllp.Frame)]
    return frames, False


def exchange(
    address: tuple[str, int], chunks: list[bytes], expect: int, timeout: float = 5.0, pause: float = 0.0
) -> tuple[list[str], bool]:
    """Connect, send ``chunks`` (``pause`` seconds apart), read ``expect`` frames.

    Returns (ACK texts, closed) where ``closed`` says the engine closed the connection."""
    with socket.create_connection(address, timeout=timeout) as sock:
        for chunk in chunks:
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                return [], True
            if pause:
                time.sleep(pause)
        return read_frames(sock, expect, timeout)


def send_one(address: tuple[str, int], message: str, timeout: float = 5.0) -> str:
    """Send one framed message on a new connection; return its ACK text (AssertionError if none)."""
    acks, closed = exchange(address, [mllp.frame(message.encode())], 1, timeout)
    assert acks, f"no ACK (connection closed: {closed})"
    return acks[0]


# -- fake FHIR receiver --------------------------------------------------------------------


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    status: int


@dataclass
class FakeFhirReceiver:
    """An in-memory FHIR server (see the module docstring). Thread-safe; ``app`` is the ASGI app."""

    requests: list[RecordedRequest] = field(default_factory=list)
    resources: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _fail: list[int] = field(default_factory=list)
    _lose: list[float] = field(default_factory=list)
    _reject: Callable[[dict[str, Any]], bool] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, count: int, status: int = 503) -> None:
        """The next ``count`` requests (any kind) answer ``status`` without doing anything."""
        with self._lock:
            self._fail += [status] * count

    def heal(self) -> None:
        """Forget pending failures (``fail_next``, ``lose_responses``) and stop rejecting."""
        with self._lock:
            self._fail.clear()
            self._lose.clear()
            self._reject = None

    def lose_responses(self, count: int, seconds: float) -> None:
        """The next ``count`` creates happen, then their responses stall ``seconds``."""
        with self._lock:
            self._lose += [seconds] * count

    def reject(self, predicate: Callable[[dict[str, Any]], bool] | None) -> None:
        """POSTed resources matching ``predicate`` get 422 (None: stop rejecting)."""
        with self._lock:
            self._reject = predicate

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.resources.get(kind, []))

    def posts(self, kind: str | None = None) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.method == "POST" and (kind is None or r.path == f"/{kind}")]

    @property
    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/{kind}", self._handle, methods=["GET", "POST"]),
                Route("/{kind}/{id}", self._handle, methods=["PUT"]),
            ]
        )

    def _matches(self, kind: str, tokens: str) -> list[dict[str, Any]]:
        """Resources with an identifier matching any ``[system|]value`` of ``tokens``, read as
        FHIR does: ``,`` separates alternatives, ``\\`` escapes ``, | $ \\``."""
        wanted = []
        for token in _split_unescaped(tokens, ","):
            parts = _split_unescaped(token, "|", once=True)
            system, value = (parts[0], parts[1]) if len(parts) == 2 else (None, parts[0])
            wanted.append((None if system is None else _unescape(system), _unescape(value)))
        return [
            r
            for r in self.resources.get(kind, [])
            if any(
                i.get("value") == value and (system is None or i.get("system") == system)
                for i in r.get("identifier", [])
                for system, value in wanted
            )
        ]

    async def _handle(self, request: Request) -> Response:
        kind = request.path_params["kind"]
        body = json.loads(await request.body() or b"null") if request.method in ("POST", "PUT") else None
        stall = 0.0
        with self._lock:
            response, stall = self._respond(request, kind, body)
            self.requests.append(
                RecordedRequest(request.method, request.url.path, dict(request.headers), body, response.status_code)
            )
        if stall:
            await asyncio.sleep(stall)
        return response

    def _update(self, request: Request, kind: str, body: Any) -> Response:
        resource_id = request.path_params.get("id")
        stored = self.resources.get(kind, [])
        index = next((n for n, r in enumerate(stored) if r["id"] == resource_id), None)
        if index is None or not isinstance(body, dict) or body.get("id") != resource_id:
            return JSONResponse({"resourceType": "OperationOutcome"}, 400)
        version = int(stored[index]["meta"]["versionId"])
        if request.headers.get("if-match", f'W/"{version}"') != f'W/"{version}"':
            return JSONResponse({"resourceType": "OperationOutcome"}, 412)
        stored[index] = {**body, "meta": {"versionId": str(version + 1)}}
        return JSONResponse(stored[index], 200)

    def _respond(self, request: Request, kind: str, body: Any) -> tuple[Response, float]:
        if self._fail:
            return JSONResponse({"resourceType": "OperationOutcome"}, self._fail.pop(0)), 0.0
        if request.method == "PUT":
            return self._update(request, kind, body), 0.0
        if request.method == "GET":
            found = self._matches(kind, request.query_params.get("identifier", ""))
            entries = [{"resource": r} for r in found]
            return JSONResponse(
                {"resourceType": "Bundle", "type": "searchset", "total": len(found), "entry": entries}
            ), 0
        if not isinstance(body, dict) or body.get("resourceType") != kind:
            return JSONResponse({"resourceType": "OperationOutcome"}, 400), 0.0
        if self._reject is not None and self._reject(body):
            return JSONResponse({"resourceType": "OperationOutcome"}, 422), 0.0
        condition = request.headers.get("if-none-exist", "")
        if condition:
            matches = self._matches(kind, httpx.QueryParams(condition).get("identifier", ""))
            if len(matches) == 1:
                return JSONResponse(matches[0], 200), 0.0
            if len(matches) > 1:
                return JSONResponse({"resourceType": "OperationOutcome"}, 412), 0.0
        number = sum(len(v) for v in self.resources.values()) + 1
        created = {**body, "id": f"{kind[:3].lower()}{number}", "meta": {"versionId": "1"}}
        self.resources.setdefault(kind, []).append(created)
        headers = {"Location": f"/{kind}/{created['id']}/_history/1"}
        return JSONResponse(created, 201, headers=headers), self._lose.pop(0) if self._lose else 0.0


def _split_unescaped(text: str, separator: str, *, once: bool = False) -> list[str]:
    """``text`` split on ``separator`` where no backslash escapes it (escapes kept)."""
    parts: list[str] = []
    current, index = "", 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            current += text[index : index + 2]
            index += 2
            continue
        if char == separator and not (once and parts):
            parts.append(current)
            current = ""
        else:
            current += char
        index += 1
    return [*parts, current]


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


@contextmanager
def fake_fhir() -> Iterator[tuple[FakeFhirReceiver, str]]:
    """A :class:`FakeFhirReceiver` served on a free port: yields (receiver, base URL)."""
    receiver = FakeFhirReceiver()
    with ServerThread(receiver.app) as server:
        yield receiver, server.url


# -- engine as a process -------------------------------------------------------------------


@dataclass
class EngineProcess:
    """``python -m mock_services.messaging`` on free ports; ``start``/``kill``/``terminate``."""

    name: str
    db: Path
    log: Path
    extra: list[str] = field(default_factory=list)
    mllp_port: int = field(default_factory=free_port)
    http_port: int = field(default_factory=free_port)
    popen: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def mllp(self) -> tuple[str, int]:
        return ("127.0.0.1", self.mllp_port)

    def argv(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "mock_services.messaging",
            "--name",
            self.name,
            "--datacenter",
            f"dc-{self.name[-1]}",
            "--host",
            "127.0.0.1",
            "--mllp-port",
            str(self.mllp_port),
            "--http-port",
            str(self.http_port),
            "--db",
            str(self.db),
            *self.extra,
        ]

    def start(self, ready_timeout: float = 10.0) -> float:
        """Start and wait for ``GET /health`` 200; returns the seconds to ready."""
        started = time.monotonic()
        with self.log.open("ab") as log:
            self.popen = subprocess.Popen(self.argv(), cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        wait_until(self._ready, ready_timeout, f"{self.name} ready (log: {self.log})")
        return time.monotonic() - started

    def _ready(self) -> bool:
        assert self.popen is not None
        if self.popen.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self.popen.returncode}: {self.log.read_text()}")
        return httpx.get(f"{self.url}/health", timeout=1).status_code == 200

    def kill(self) -> None:
        """SIGKILL and reap (idempotent)."""
        if self.popen is not None and self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(timeout=5)

    def terminate(self, timeout: float = 10.0) -> int:
        """SIGTERM; returns the exit status."""
        assert self.popen is not None
        self.popen.terminate()
        return self.popen.wait(timeout=timeout)
