"""Supervising the docker backend's containers: start, wait until ready, kill, pause, resume,
restart, remove. The container counterpart of :mod:`harness.backends.local.processes`, with
the same contracts where they make sense:

* A container is created once (through testcontainers-python's ``DockerContainer``, which
  creates and starts it) and then only stopped and started again: a killed instance keeps its
  file system, as a server keeps its disk through a power loss.
* Its output goes to ``<logs_dir>/<name>.log`` (a follower thread per start, with a header
  line per start), so a failed start shows the tail of its log.
* It is journaled *before* it is created (name and site; the id once known), and carries the
  run's labels (:mod:`harness.backends.docker.engine`), so ``hchaos rollback`` finds it even
  if the runner dies in between.
* An instance's network stack is held by a companion container no fault touches
  (:mod:`harness.backends.docker.holders`): killed, it refuses connections at once and comes
  back at the same address.
* ``kill`` is SIGKILL to the container's first process (from the host when the engine is
  local, :mod:`harness.backends.docker.host_pids`; else the engine's): its pid namespace dies
  with it. ``pause`` is the freezer cgroup (``docker pause``), which no process inside can
  notice or resist.
* Waiting for readiness polls every waited container at once and is a safe point of the run's
  :class:`~harness.interrupt.Interruption`. Readiness is the harness's own checks
  (:mod:`harness.backends.readiness`), built from the container's address once it has one:
  testcontainers' wait strategies wait for one container at a time and cannot be interrupted.
* The host reaches a container by its address on its site network (Linux routes the host to
  every bridge network, internal ones included): no port is published for data traffic.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.backends.docker.container_spec import ContainerSpec, ManagedContainer
from harness.backends.docker.engine import LABEL_INSTANCE, disable_ryuk
from harness.backends.docker.holders import address_on, holder_name, start_holder
from harness.backends.docker.host_pids import first_pid, local_pid, wait_gone
from harness.backends.local.processes import LOG_TAIL_LINES, ProcessFailedToStart
from harness.errors import InfrastructureError
from harness.interrupt import NEVER, Interruption
from harness.run.journal import Journal
from harness.timeline import ProcessRecord, TimelineWriter
from harness.timeline.events import ProcessAction

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container
    from testcontainers.core.network import Network


class ContainerSupervisor:
    """Owns the containers of one run. Thread-safe for start/kill/stop."""

    def __init__(self, logs_dir: Path, networks: Mapping[str, Network], journal: Journal | None = None,
                 timeline: TimelineWriter | None = None, *, interruption: Interruption = NEVER) -> None:
        self.logs_dir = logs_dir
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        self._networks = networks
        self._journal = journal
        self._timeline = timeline
        self._interruption = interruption
        self._lock = threading.Lock()
        self._containers: dict[str, ManagedContainer] = {}
        self._specs: dict[str, ContainerSpec] = {}
        self._followers: list[threading.Thread] = []
        self._removing = False
        self._killed_from_host: set[str] = set()
        """Killed by our own SIGKILL, the engine possibly not told yet (it says "running")."""
        self._vanished: set[str] = set()
        self._events: Any = None

    def watch_removals(self, client: docker.DockerClient, label: str) -> None:
        """Record on the timeline (``vanished``) every container of the run that someone else
        removes while it runs: a thread follows the engine's ``destroy`` events of containers
        labelled ``label`` (``key=value``) until :meth:`remove_all` or :meth:`release`. A vanished
        container cannot be started again (the heal that tries says so); the run goes on and its
        checks judge what that did."""
        self._events = client.events(decode=True, filters={"type": "container", "event": "destroy",
                                                            "label": label})
        thread = threading.Thread(target=self._follow_removals, name="docker-removals", daemon=True)
        thread.start()
        self._followers.append(thread)

    def _follow_removals(self) -> None:
        from docker.errors import DockerException

        try:
            for event in self._events:
                name = event.get("Actor", {}).get("Attributes", {}).get(LABEL_INSTANCE)
                if name in self._specs and not self._removing:
                    self._vanished.add(name)
                    self._note(name, "vanished", 0)
        except (DockerException, OSError, ValueError):
            return

    # -- lifecycle -----------------------------------------------------------------------

    def start(self, spec: ContainerSpec) -> ManagedContainer:
        """Create and start ``spec``'s container (not waiting for readiness), or start again
        the stopped container of that name. Refuses to start a running one. A safe point."""
        self._interruption.check()
        current = self._containers.get(spec.name)
        if spec.name in self._vanished:
            raise ProcessFailedToStart(f"container {spec.name!r} was removed by someone else during the run: "
                                       "it cannot be started again", hint="see `docker events` for who removed it")
        if current is not None:
            if spec.name in self._killed_from_host:
                # Killed from here: the engine may not have seen the exit yet, and starting
                # a container it believes running fails. Its wait returns once it has.
                current.container.wait(timeout=10)
                self._killed_from_host.discard(spec.name)
            if current.status() in ("running", "paused"):
                raise InfrastructureError(f"container {spec.name!r} is already running ({current.id[:12]})")
            self._log_header(spec, "starting again")
            _start_existing(current)
            self._after_start(current)
            return current
        self._log_header(spec, "starting")
        holder = self._create_holder(spec) if spec.held_address else None
        self._journal_container(spec.container_name, spec)
        container = self._create(spec, holder)
        self._journal_container(spec.container_name, spec, str(container.id))
        managed = ManagedContainer(spec, container, "", time.time(), spec.ready(""), holder)
        with self._lock:
            self._containers[spec.name] = managed
            self._specs[spec.name] = spec
        self._after_start(managed)
        return managed

    def _journal_container(self, container_name: str, spec: ContainerSpec, container_id: str | None = None) -> None:
        if self._journal is not None:
            self._journal.record({"type": "docker", "kind": "container", "name": container_name,
                                  "instance": spec.name, "site": spec.site}
                                 | ({} if container_id is None else {"id": container_id}))

    def _create_holder(self, spec: ContainerSpec) -> Container:
        from docker.errors import APIError, DockerException

        disable_ryuk()
        self._journal_container(holder_name(spec.container_name), spec)
        try:
            holder = start_holder(spec.container_name, spec.networks, self._networks, spec.labels)
        except (APIError, DockerException) as exc:
            raise ProcessFailedToStart(f"could not start the network holder of container {spec.name!r}: "
                                       f"{getattr(exc, 'explanation', None) or exc}") from None
        self._journal_container(holder_name(spec.container_name), spec, str(holder.id))
        return holder

    def _create(self, spec: ContainerSpec, holder: Container | None) -> Container:
        disable_ryuk()
        from docker.errors import APIError, DockerException
        from testcontainers.core.container import DockerContainer

        tc = DockerContainer(spec.image, env=dict(spec.env), name=spec.container_name)
        if spec.command:  # else the image's own command
            tc.with_command(list(spec.command))
        kwargs: dict[str, Any] = {"labels": dict(spec.labels), "working_dir": spec.working_dir,
                                  "stop_signal": "SIGTERM"}
        if holder is not None:  # network=None: testcontainers would otherwise look for one of its own
            kwargs |= {"network_mode": f"container:{holder.id}", "network": None}
        else:
            first, first_aliases = spec.networks[0]
            tc = tc.with_network(self._networks[first]).with_network_aliases(*first_aliases)
        tc = tc.with_kwargs(**kwargs)
        for host_path, target, mode in spec.volumes:
            tc.with_volume_mapping(str(host_path), target, mode)
        for port, (host, host_port) in spec.publish.items():
            tc.ports[f"{port}/tcp"] = (host, host_port)  # type: ignore[assignment]  # the SDK takes (ip, port|None)
        try:
            tc.start()
        except (APIError, DockerException) as exc:
            raise ProcessFailedToStart(f"could not start container {spec.name!r} ({spec.image}): "
                                       f"{getattr(exc, 'explanation', None) or exc}") from None
        container = tc.get_wrapped_container()
        if holder is None:
            for network_name, aliases in spec.networks[1:]:
                self._networks[network_name].connect(str(container.id), network_aliases=list(aliases))
        return container

    def adopt(self, spec: ContainerSpec, container: Container, holder: Container | None = None) -> ManagedContainer:
        """Take charge of a running container someone else started (the compose backend), with
        the ``holder`` of its network stack if it has one: it is faulted, stopped and started
        again like ours, and never removed (:meth:`release`)."""
        managed = ManagedContainer(spec, container, "", time.time(), spec.ready(""), holder)
        with self._lock:
            self._containers[spec.name] = managed
            self._specs[spec.name] = spec
        self._after_start(managed, note=False)
        return managed

    def release(self) -> list[str]:
        """Leave the adopted containers as they were found: each one not running is started
        again (a paused one thawed); the names that had to be. Stops following them."""
        self._removing = True
        restarted = []
        for name, managed in list(self._containers.items()):
            status = managed.status()
            if status == "paused":
                managed.container.unpause()
                restarted.append(name)
            elif status in ("exited", "created"):
                _start_existing(managed)
                restarted.append(name)
        if self._events is not None:
            self._events.close()
        return restarted

    def _after_start(self, managed: ManagedContainer, *, note: bool = True) -> None:
        managed.container.reload()
        managed.address = address_on(managed.holder or managed.container, managed.spec.networks[0][0])
        managed.started_at = time.time()
        managed.ready = managed.spec.ready(managed.address)
        follower = threading.Thread(target=_follow_logs, args=(managed.container, self.log_path(managed.spec.name),
                                                              int(managed.started_at) - 1),
                                    name=f"logs-{managed.spec.name}", daemon=True)
        follower.start()
        self._followers.append(follower)
        if note:
            self._note(managed.spec.name, "start", first_pid(managed.container))

    def wait_ready(self, names: Iterable[str], timeout: float) -> None:
        """Poll every named container until all are ready. Raises :class:`ProcessFailedToStart`
        as soon as one exits (with its exit code and log tail), or at ``timeout`` naming every
        container still not ready."""
        waiting = {name: self._containers[name] for name in names}
        deadline = time.monotonic() + timeout
        polls = 0
        while waiting:
            polls += 1
            for name, managed in list(waiting.items()):
                if managed.ready.check():
                    del waiting[name]
                    self._note(name, "ready", first_pid(managed.container))
                elif polls % 10 == 0 and managed.status() not in ("running", "created"):
                    code = managed.container.attrs.get("State", {}).get("ExitCode")
                    raise ProcessFailedToStart(
                        f"container {name!r} exited with code {code} before it was ready "
                        f"({managed.ready.description})\n{self.log_tail(name)}",
                        hint=f"full log: {self.log_path(name)}")
            if waiting and time.monotonic() > deadline:
                details = "\n".join(f"- {name}: waited {timeout:.1f}s for {managed.ready.description}\n"
                                    f"{self.log_tail(name)}" for name, managed in waiting.items())
                raise ProcessFailedToStart(
                    f"{len(waiting)} container(s) not ready after {timeout:.1f}s: {', '.join(waiting)}\n{details}",
                    hint=f"logs are in {self.logs_dir}")
            if waiting:
                self._interruption.sleep(0.02)

    def kill(self, name: str) -> None:
        """SIGKILL the container's processes and return once it has stopped. A stopped container
        is fine (idempotent); a paused one is killed without running again first."""
        from docker.errors import APIError, NotFound

        managed = self._containers.get(name)
        if managed is None:
            return
        try:
            pid = local_pid(managed.container)
            if pid is None or managed.status() == "paused":
                managed.container.kill()
            else:
                # The kernel's SIGKILL to the container's first process, sent from here: the pid
                # namespace dies with it, at once. The engine's kill API took 100-300 ms per
                # container on 2 busy cores (a dc-a power loss ~650 ms); this takes microseconds.
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                if wait_gone(pid, timeout=5):
                    # Dead: the engine records the exit a little later (its own bookkeeping,
                    # ~100 ms per container here); start() waits for that if it comes first.
                    self._killed_from_host.add(name)
                    self._note(name, "kill", pid)
                    return
            managed.container.wait(timeout=10)  # returns as soon as the engine has seen it exit
        except NotFound:
            return
        except APIError as exc:
            if "is not running" not in str(exc):
                raise InfrastructureError(f"could not kill container {name!r}: {exc.explanation or exc}") from None
            return
        self._note(name, "kill", 0)

    def kill_all(self, names: Iterable[str]) -> None:
        """:meth:`kill` of every name at once (a power loss is one instant, not a sequence)."""
        names = list(names)
        with ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
            for _ in pool.map(self.kill, names):
                pass

    def stop(self, name: str, grace: float = 5.0) -> None:
        """SIGTERM, SIGKILL after ``grace`` seconds; returns once stopped. Idempotent."""
        from docker.errors import NotFound

        managed = self._containers.get(name)
        if managed is None:
            return
        try:
            if managed.status() == "paused":
                managed.container.unpause()
            managed.container.stop(timeout=max(1, round(grace)))
        except NotFound:
            return
        self._note(name, "stop", 0)

    def pause(self, name: str) -> None:
        """Freeze the container (the freezer cgroup). A no-op unless it is running."""
        managed = self._containers[name]
        if managed.status() == "running":
            managed.container.pause()

    def resume(self, name: str) -> None:
        """Thaw a paused container; a no-op otherwise."""
        managed = self._containers[name]
        if managed.status() == "paused":
            managed.container.unpause()

    def is_paused(self, name: str) -> bool:
        return self._containers[name].status() == "paused"

    def restart(self, name: str, *, grace: float | None = None) -> ManagedContainer:
        """Stop (gracefully with ``grace``, else SIGKILL) and start again the same container."""
        if grace is None:
            self.kill(name)
        else:
            self.stop(name, grace)
        return self.start(self._specs[name])

    def start_again(self, name: str) -> ManagedContainer:
        """Start again a container that was stopped or killed."""
        return self.start(self._specs[name])

    def remove_all(self) -> list[str]:
        """Remove every container of this supervisor (forcefully, paused ones thawed first), all
        at once; returns their names. Idempotent."""
        from docker.errors import APIError, NotFound

        def remove(managed: ManagedContainer) -> str | None:
            try:
                if managed.status() == "paused":
                    managed.container.unpause()
                managed.container.remove(force=True, v=True)
            except NotFound:
                return None
            except APIError as exc:
                if "already in progress" in str(exc):
                    return None
                raise
            self._note(managed.spec.name, "stop", 0)
            return managed.spec.name

        self._removing = True
        with self._lock:
            managed_all = list(self._containers.values())
            self._containers.clear()
        with ThreadPoolExecutor(max_workers=max(1, min(16, len(managed_all)))) as pool:
            removed = [name for name in pool.map(remove, managed_all) if name is not None]
            # Then the holders: removing one under a running instance works, but would leave
            # the instance's processes on a network stack nothing else holds.
            for holder in [m.holder for m in managed_all if m.holder is not None]:
                pool.submit(_remove_quietly, holder)
        if self._events is not None:
            self._events.close()
        for follower in self._followers:
            follower.join(timeout=2)
        return removed

    # -- queries -------------------------------------------------------------------------

    def names(self) -> list[str]:
        return list(self._specs)

    def vanished(self) -> frozenset[str]:
        """Containers someone else removed during the run (:meth:`watch_removals`)."""
        return frozenset(self._vanished)

    def names_in_site(self, site: str) -> list[str]:
        return [name for name, spec in self._specs.items() if spec.site == site]

    def container(self, name: str) -> ManagedContainer:
        return self._containers[name]

    def log_path(self, name: str) -> Path:
        return self.logs_dir / f"{name}.log"

    def log_tail(self, name: str, lines: int = LOG_TAIL_LINES) -> str:
        path = self.log_path(name)
        try:
            tail = path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return f"  (no log at {path})"
        return "\n".join(f"  | {line}" for line in tail) or "  (log is empty)"

    def _log_header(self, spec: ContainerSpec, what: str) -> None:
        with self.log_path(spec.name).open("ab") as log:
            log.write(f"=== {time.strftime('%Y-%m-%dT%H:%M:%S')} {what} {spec.image}: "
                      f"{' '.join(spec.command)}\n".encode())

    def _note(self, name: str, action: ProcessAction, pid: int) -> None:
        if self._timeline is not None:
            self._timeline.append(ProcessRecord(time.time(), name, action, pid))


def _remove_quietly(container: Container) -> None:
    from docker.errors import APIError, NotFound

    with contextlib.suppress(NotFound):
        try:
            container.remove(force=True, v=True)
        except APIError as exc:
            if "already in progress" not in str(exc):
                raise


def _start_existing(managed: ManagedContainer) -> None:
    from docker.errors import APIError

    try:
        if managed.holder is not None and managed.holder.status != "running":
            managed.holder.reload()
            if managed.holder.status != "running":  # stopped by someone: it is ours to start
                managed.holder.start()
        managed.container.start()
    except APIError as exc:
        raise ProcessFailedToStart(f"could not start container {managed.spec.name!r} again: "
                                   f"{exc.explanation or exc}") from None


def _follow_logs(container: Container, path: Path, since: int) -> None:
    """Append the container's output from ``since`` to ``path`` until the container stops (the
    engine ends the stream) or is removed."""
    from docker.errors import DockerException

    try:
        stream = container.logs(stream=True, follow=True, since=since)
        with path.open("ab") as log:
            for chunk in stream:
                log.write(chunk)
                log.flush()
    except (DockerException, OSError, ValueError):
        return
