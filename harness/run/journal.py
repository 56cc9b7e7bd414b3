"""The fault journal: what a run changed in the world, written to disk *before* it is done.

If the harness is SIGKILLed mid-run, nothing in memory survives; the journal does, and
``hchaos rollback`` replays it to undo every fault that was injected and not healed, and to
kill every process the run started that is still alive. Hence the rule: record first, act
second; each record is flushed and fsync'ed before the action.

The file is JSON lines, one object per record, with a ``type``:

* ``run-start``        {run, pid, start_ticks, started}
* ``process-start``    {name, pid, start_ticks, site}   (``start_ticks``: /proc start time, so a
  recycled pid is never mistaken for ours)
* ``process-stop``     {name, pid}                      (we stopped or killed it ourselves)
* ``fault-inject``     {fault, actions: [...]}          (before applying; actions below)
* ``fault-heal``       {fault}                          (after healing completed)
* ``resource``         {kind, instance, path}           (a backend resource, before creating it:
  ``clock-file``, a libfaketime timestamp file; ``disk``, a size-limited mount)
* ``resource-released`` {kind, path}                    (the backend removed it again)
* ``docker``           {kind: container | network, name, [instance, site, id]} (before the
  docker backend creates it, and again with its ``id`` once created; each also carries the
  run's labels, :mod:`harness.backends.docker.engine`, by which a rollback finds it)
* ``run-end``          {status}                         (the run cleaned up after itself)

Actions are plain data: ``{"kind": "toxic", "server", "proxy", "toxic"}``,
``{"kind": "proxy-disabled", "server", "proxy"}``, ``{"kind": "site-killed", "site"}``, and
for the instance faults (:func:`instance_actions`) ``{"kind": "instance-killed", "instance",
"restart": "yes" | "no"}``, ``{"kind": "instance-paused", "instance"}``,
``{"kind": "instance-restarted", "instance"}``, ``{"kind": "instance-clock-skewed",
"instance", "offset", "rate"}`` and ``{"kind": "instance-disk-filled", "instance"}``. An
instance action names the instance, not a pid: the process is the live one of that name among
the ``process-start`` records (a restart changes the pid; the journal already tracks which one
is current); a clock or disk action's file is found through the instance's ``resource``.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

JOURNAL_FILE = "journal.jsonl"

Action = dict[str, str]

INSTANCE_ACTION_KINDS = {"kill": "instance-killed", "pause": "instance-paused", "restart": "instance-restarted",
                         "clock_skew": "instance-clock-skewed", "disk_full": "instance-disk-filled"}
"""Journal action ``kind`` of each instance action of a fault plan."""


class InstanceActionLike(Protocol):
    """What :func:`instance_actions` reads of a plan's instance action
    (:class:`harness.faults.plan.InstanceAction`)."""

    @property
    def kind(self) -> str: ...

    @property
    def instance(self) -> str: ...

    @property
    def restart(self) -> bool: ...

    @property
    def offset(self) -> float: ...

    @property
    def rate(self) -> float: ...


def instance_actions(actions: Iterable[InstanceActionLike]) -> list[Action]:
    """The journal actions of a plan's instance actions, in order."""
    journaled: list[Action] = []
    for action in actions:
        entry = {"kind": INSTANCE_ACTION_KINDS[action.kind], "instance": action.instance}
        if action.kind == "kill":
            entry["restart"] = "yes" if action.restart else "no"
        elif action.kind == "clock_skew":
            entry |= {"offset": f"{action.offset:+.3f}", "rate": f"{action.rate:g}"}
        journaled.append(entry)
    return journaled


class Journal:
    """Append-only, durable journal of one run. Thread-safe."""

    def __init__(self, run_dir: Path, run_id: str) -> None:
        self.path = run_dir / JOURNAL_FILE
        self._lock = threading.Lock()
        fresh = not self.path.exists()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        if fresh:
            self.record({"type": "run-start", "run": run_id, "pid": os.getpid(),
                         "start_ticks": process_start_ticks(os.getpid()), "started": time.time()})

    def record(self, entry: dict[str, Any]) -> None:
        """Write one record durably (write + fsync) before returning."""
        line = (json.dumps(entry, sort_keys=True) + "\n").encode()
        with self._lock:
            if self._fd < 0:
                raise RuntimeError(f"journal {self.path} is closed")
            os.write(self._fd, line)
            os.fsync(self._fd)

    def process_started(self, name: str, pid: int, site: str) -> None:
        self.record({"type": "process-start", "name": name, "pid": pid,
                     "start_ticks": process_start_ticks(pid), "site": site})

    def process_stopped(self, name: str, pid: int) -> None:
        self.record({"type": "process-stop", "name": name, "pid": pid})

    def resource_acquired(self, kind: str, instance: str, path: Path) -> None:
        """Before a backend creates a resource a rollback must undo (a mount, a clock file)."""
        self.record({"type": "resource", "kind": kind, "instance": instance, "path": str(path)})

    def resource_released(self, kind: str, path: Path) -> None:
        self.record({"type": "resource-released", "kind": kind, "path": str(path)})

    def fault_injecting(self, fault: str, actions: list[Action]) -> None:
        self.record({"type": "fault-inject", "fault": fault, "actions": actions})

    def fault_healed(self, fault: str) -> None:
        self.record({"type": "fault-heal", "fault": fault})

    def run_ended(self, status: str) -> None:
        self.record({"type": "run-end", "status": status})

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1


@dataclass(frozen=True)
class ProcessRef:
    """A process the run started, identified by pid *and* kernel start time."""

    name: str
    pid: int
    start_ticks: int | None
    site: str


@dataclass(frozen=True)
class Resource:
    """Something a backend created for the run (see ``resource`` records)."""

    kind: str
    instance: str
    path: Path


@dataclass
class JournalState:
    """What a journal says is still outstanding."""

    run_id: str | None = None
    runner: ProcessRef | None = None
    ended: bool = False
    status: str | None = None
    """The run-end record's status (completed, halted, aborted, interrupted, ...)."""
    live_processes: dict[int, ProcessRef] = field(default_factory=dict)
    unhealed_faults: dict[str, list[Action]] = field(default_factory=dict)
    resources: dict[str, Resource] = field(default_factory=dict)
    """Backend resources acquired and not released, by path (oldest first)."""
    docker_resources: list[str] = field(default_factory=list)
    """Names of the containers and networks the run made (removed or not: labels tell)."""

    def resource_of(self, kind: str, instance: str) -> Resource | None:
        """The newest unreleased resource of that kind for ``instance``."""
        found = None
        for resource in self.resources.values():
            if resource.kind == kind and resource.instance == instance:
                found = resource
        return found

    def live_process_named(self, name: str) -> ProcessRef | None:
        """The newest process of that name the journal says was started and not stopped."""
        found = None
        for ref in self.live_processes.values():  # insertion order: oldest start first
            if ref.name == name:
                found = ref
        return found


def replay_journal(path: Path) -> JournalState:
    """Fold a journal file into the state a rollback must undo. A torn last line (the
    writer was killed mid-write) is ignored; other garbage raises ``ValueError``."""
    state = JournalState()
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            if number == len(lines) and not line.endswith("\n"):
                break
            raise ValueError(f"{path}:{number}: corrupt journal record: {exc}") from exc
        kind = entry.get("type")
        if kind == "run-start":
            state.run_id = entry.get("run")
            state.runner = ProcessRef("runner", int(entry["pid"]), entry.get("start_ticks"), "")
        elif kind == "process-start":
            ref = ProcessRef(entry["name"], int(entry["pid"]), entry.get("start_ticks"), entry.get("site", ""))
            state.live_processes[ref.pid] = ref
        elif kind == "process-stop":
            state.live_processes.pop(int(entry["pid"]), None)
        elif kind == "fault-inject":
            state.unhealed_faults[entry["fault"]] = list(entry.get("actions", []))
        elif kind == "fault-heal":
            state.unhealed_faults.pop(entry["fault"], None)
        elif kind == "resource":
            state.resources[entry["path"]] = Resource(entry["kind"], entry.get("instance", ""), Path(entry["path"]))
        elif kind == "resource-released":
            state.resources.pop(entry["path"], None)
        elif kind == "docker":
            if entry.get("name") not in state.docker_resources:
                state.docker_resources.append(str(entry.get("name")))
        elif kind == "run-end":
            state.ended = True
            state.status = entry.get("status")
    return state


def process_start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22), or
    ``None`` if the process is gone (or a zombie) or /proc is unavailable."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    rest = stat.rsplit(")", 1)[1].split()
    if rest[0] in ("Z", "X"):
        return None  # a zombie is dead already; only its exit status is left to reap
    return int(rest[19])


def is_same_process(ref: ProcessRef) -> bool:
    """True when ``ref.pid`` is alive and is the very process the journal recorded."""
    ticks = process_start_ticks(ref.pid)
    if ticks is None:
        return False
    return ref.start_ticks is None or ticks == ref.start_ticks
