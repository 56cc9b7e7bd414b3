"""Supervising the local backend's processes: start, wait until ready, kill, pause, resume,
restart, stop.

Contracts:

* Every process runs in its own session (process group), so a kill reaches its children too.
* Its stdout and stderr go to ``<logs_dir>/<name>.log`` (appended across restarts, with a
  header line per start), so a failed start can show the tail of its log.
* Every start is written to the journal (pid + kernel start time) *before* anything else is
  done with it, and every deliberate stop after it, so ``hchaos rollback`` can find orphans.
* :meth:`ProcessSupervisor.stop_all` leaves nothing alive: SIGTERM to each group, a short
  grace period, then SIGKILL. A SIGTERM is always followed by a SIGCONT, so a paused
  (SIGSTOPped) process obeys it at once instead of waiting out the grace period frozen.
* :meth:`ProcessSupervisor.pause` only sends SIGSTOP to the group (no waiting: it takes
  effect in microseconds); :meth:`ProcessSupervisor.resume` sends SIGCONT.
* Every process gets the supervisor's ``env`` on top of the harness's environment: the run's
  tag (:mod:`harness.run.run_tag`), so the run's lifeline finds it even before it is
  journaled.
* Waiting for readiness is a safe point of the run's :class:`~harness.interrupt.Interruption`:
  a Ctrl-C during a slow start-up is obeyed within a poll, not after the whole timeout.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from harness.errors import InfrastructureError
from harness.interrupt import NEVER, Interruption
from harness.run.journal import Journal
from harness.timeline import ProcessRecord, TimelineWriter
from harness.timeline.events import ProcessAction

LOG_TAIL_LINES = 20


class ReadinessCheck(Protocol):
    """One quick readiness attempt; ``description`` says what is awaited, for errors."""

    @property
    def description(self) -> str: ...

    def check(self) -> bool: ...


@dataclass(frozen=True)
class HttpReady:
    """Ready when ``GET http://host:port{path}`` answers ``status``."""

    host: str
    port: int
    path: str
    status: int = 200

    @property
    def description(self) -> str:
        return f"GET http://{self.host}:{self.port}{self.path} -> {self.status}"

    def check(self) -> bool:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=0.5)
        try:
            conn.request("GET", self.path)
            return conn.getresponse().status == self.status
        except (OSError, http.client.HTTPException):
            return False
        finally:
            conn.close()


@dataclass(frozen=True)
class TcpReady:
    """Ready when a TCP connection to ``host:port`` is accepted."""

    host: str
    port: int

    @property
    def description(self) -> str:
        return f"TCP connect to {self.host}:{self.port}"

    def check(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5):
                return True
        except OSError:
            return False


@dataclass(frozen=True)
class ProcessSpec:
    """How to run one process: its name (unique in the run), command line, the site it
    lives in (power loss kills by site), and how to tell it is ready."""

    name: str
    argv: tuple[str, ...]
    site: str
    ready: ReadinessCheck
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    """Working directory (None: the harness's own)."""


class ProcessFailedToStart(InfrastructureError):
    """A process exited or did not become ready in time; the message names it and shows
    the tail of its log."""


@dataclass
class ManagedProcess:
    spec: ProcessSpec
    popen: subprocess.Popen[bytes]
    log_path: Path
    started_at: float

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None


class ProcessSupervisor:
    """Owns the processes of one run. Thread-safe for start/kill/stop."""

    def __init__(self, logs_dir: Path, journal: Journal | None = None,
                 timeline: TimelineWriter | None = None, *, env: Mapping[str, str] | None = None,
                 interruption: Interruption = NEVER) -> None:
        self.logs_dir = logs_dir
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        self._journal = journal
        self._timeline = timeline
        self._env = dict(env or {})
        self._interruption = interruption
        self._lock = threading.Lock()
        self._processes: dict[str, ManagedProcess] = {}
        self._specs: dict[str, ProcessSpec] = {}
        self._paused: set[str] = set()

    # -- lifecycle -----------------------------------------------------------------------

    def start(self, spec: ProcessSpec) -> ManagedProcess:
        """Spawn ``spec`` (not waiting for readiness). Replaces a dead process of that name;
        refuses to start a second live one. A safe point: an interrupted run starts nothing."""
        self._interruption.check()
        with self._lock:
            current = self._processes.get(spec.name)
            if current is not None and current.alive:
                raise InfrastructureError(f"process {spec.name!r} is already running (pid {current.pid})")
            log_path = self.logs_dir / f"{spec.name}.log"
            reset = getattr(spec.ready, "reset", None)
            if reset is not None:  # a restart is judged afresh (readiness.py remembers what it saw)
                reset()
            with log_path.open("ab") as log:
                log.write(f"=== {time.strftime('%Y-%m-%dT%H:%M:%S')} starting: {' '.join(spec.argv)}\n".encode())
                log.flush()
                try:
                    popen = subprocess.Popen(
                        spec.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                        start_new_session=True, env={**os.environ, **spec.env, **self._env}, cwd=spec.cwd,
                    )
                except OSError as exc:
                    raise ProcessFailedToStart(
                        f"could not start {spec.name!r} ({spec.argv[0]}): {exc.strerror or exc}") from exc
            if self._journal is not None:
                self._journal.process_started(spec.name, popen.pid, spec.site)
            proc = ManagedProcess(spec, popen, log_path, time.time())
            self._processes[spec.name] = proc
            self._specs[spec.name] = spec
            self._paused.discard(spec.name)
        self._note(spec.name, "start", popen.pid)
        return proc

    def wait_ready(self, names: Iterable[str], timeout: float) -> None:
        """Poll every named process until all are ready. Raises :class:`ProcessFailedToStart`
        as soon as one exits, or at ``timeout`` naming every process still not ready."""
        waiting = {name: self._processes[name] for name in names}
        deadline = time.monotonic() + timeout
        while waiting:
            for name, proc in list(waiting.items()):
                code = proc.popen.poll()
                if code is not None:
                    raise ProcessFailedToStart(
                        f"process {name!r} exited with code {code} before it was ready "
                        f"({proc.spec.ready.description})\n{self.log_tail(name)}",
                        hint=f"full log: {proc.log_path}")
                if proc.spec.ready.check():
                    del waiting[name]
                    self._note(name, "ready", proc.pid)
            if waiting and time.monotonic() > deadline:
                details = "\n".join(
                    f"- {name}: waited {timeout:.1f}s for {proc.spec.ready.description}\n{self.log_tail(name)}"
                    for name, proc in waiting.items())
                raise ProcessFailedToStart(
                    f"{len(waiting)} process(es) not ready after {timeout:.1f}s: {', '.join(waiting)}\n{details}",
                    hint=f"logs are in {self.logs_dir}")
            if waiting:
                self._interruption.sleep(0.02)

    def kill(self, name: str, sig: signal.Signals = signal.SIGKILL) -> None:
        """Send ``sig`` to the process group of ``name`` and reap it (for SIGKILL/SIGTERM;
        a SIGTERM is followed by SIGCONT, so a paused process obeys it, and by SIGKILL if it
        has not exited within 5 s). A process that is already dead is fine (idempotent)."""
        proc = self._processes.get(name)
        if proc is None or not proc.alive:
            return
        _signal_group(proc.pid, sig)
        if sig in (signal.SIGKILL, signal.SIGTERM):
            if sig == signal.SIGTERM:
                _signal_group(proc.pid, signal.SIGCONT)
            try:
                proc.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                _signal_group(proc.pid, signal.SIGKILL)
                proc.popen.wait(timeout=5)
            self._paused.discard(name)
            if self._journal is not None:
                self._journal.process_stopped(name, proc.pid)
            self._note(name, "kill" if sig == signal.SIGKILL else "stop", proc.pid)

    def stop(self, name: str, grace: float = 5.0) -> None:
        """Stop ``name`` gracefully: SIGTERM (then SIGCONT, in case it is paused), SIGKILL
        if it has not exited within ``grace`` seconds; returns once it is dead and reaped.
        A process that is already dead is fine (idempotent)."""
        proc = self._processes.get(name)
        if proc is None or not proc.alive:
            return
        _signal_group(proc.pid, signal.SIGTERM)
        _signal_group(proc.pid, signal.SIGCONT)
        try:
            proc.popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            _signal_group(proc.pid, signal.SIGKILL)
            proc.popen.wait(timeout=5)
        # Children that outlived the leader go with the group.
        _signal_group(proc.pid, signal.SIGKILL)
        self._paused.discard(name)
        if self._journal is not None:
            self._journal.process_stopped(name, proc.pid)
        self._note(name, "stop", proc.pid)

    def pause(self, name: str) -> None:
        """Freeze the process group of ``name`` (SIGSTOP). Returns at once: the kernel stops
        the processes asynchronously, within microseconds. A no-op for a dead process."""
        proc = self._processes[name]
        if not proc.alive:
            return
        _signal_group(proc.pid, signal.SIGSTOP)
        self._paused.add(name)

    def resume(self, name: str) -> None:
        """Thaw the process group of ``name`` (SIGCONT). Harmless on a process that is not
        paused or is dead."""
        proc = self._processes[name]
        self._paused.discard(name)
        if proc.alive:
            _signal_group(proc.pid, signal.SIGCONT)

    def is_paused(self, name: str) -> bool:
        """True between :meth:`pause` and :meth:`resume` (or the process's end)."""
        return name in self._paused and self._processes[name].alive

    def restart(self, name: str, *, grace: float | None = None) -> ManagedProcess:
        """Start ``name`` again with the same spec (its log continues): SIGKILL first, or,
        with ``grace``, a graceful :meth:`stop` with that grace period."""
        if grace is None:
            self.kill(name)
        else:
            self.stop(name, grace)
        return self.start(self._specs[name])

    def start_again(self, name: str) -> ManagedProcess:
        """Start a process that was started before and has died (killed), with the same spec.
        Refuses (``InfrastructureError``) while it is still alive."""
        return self.start(self._specs[name])

    def stop_all(self, grace: float = 3.0) -> None:
        """Stop every process: SIGTERM to all, wait up to ``grace`` s, then SIGKILL."""
        procs = [p for p in self._processes.values() if p.alive]
        for proc in procs:
            _signal_group(proc.pid, signal.SIGTERM)
            # A paused process would keep the SIGTERM pending for the whole grace period.
            _signal_group(proc.pid, signal.SIGCONT)
        deadline = time.monotonic() + grace
        for proc in procs:
            try:
                proc.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(proc.pid, signal.SIGKILL)
                proc.popen.wait(timeout=5)
            # The group may hold children that outlived the leader: make sure.
            _signal_group(proc.pid, signal.SIGKILL)
            self._paused.discard(proc.spec.name)
            if self._journal is not None:
                self._journal.process_stopped(proc.spec.name, proc.pid)
            self._note(proc.spec.name, "stop", proc.pid)

    # -- queries -------------------------------------------------------------------------

    def names(self) -> list[str]:
        """Every process ever started by this supervisor, dead or alive."""
        return list(self._specs)

    def names_in_site(self, site: str) -> list[str]:
        return [name for name, spec in self._specs.items() if spec.site == site]

    def process(self, name: str) -> ManagedProcess:
        return self._processes[name]

    def log_tail(self, name: str, lines: int = LOG_TAIL_LINES) -> str:
        path = self.logs_dir / f"{name}.log"
        try:
            tail = path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return f"  (no log at {path})"
        return "\n".join(f"  | {line}" for line in tail) or "  (log is empty)"

    def _note(self, name: str, action: ProcessAction, pid: int) -> None:
        if self._timeline is not None:
            self._timeline.append(ProcessRecord(time.time(), name, action, pid))


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)
