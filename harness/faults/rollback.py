"""Undoing what a dead run left behind, from its journal alone.

A run that was SIGKILLed could not heal: its toxics are still on the proxies, its disabled
links still disabled, its instances perhaps paused, its processes still running.
:func:`rollback_run` removes every toxic and re-enables every link the journal says were
applied and not healed, runs the heal command of every ``action`` fault not healed (the
user's own, with its timeout), removes every container and network of the run (docker backend: found
by the run's labels, paused ones thawed first), thaws (SIGCONT) every instance paused by a fault not healed, sets
the clock of every instance a ``clock_skew`` left skewed back to true time (its libfaketime
timestamp file, from the journal's ``clock-file`` resource) and deletes the filler of every
``disk_full`` not healed, then kills every process the run started that is still alive
(identified by pid *and* kernel start time; SIGKILL ends a stopped process too), and every
other process carrying the run's tag (:mod:`harness.run.run_tag`), unmounts every
size-limited data filesystem the run mounted (``disk`` resources: after the kill, so no
process holds it busy), and finally marks the run as ended so a second rollback is a no-op.
An instance killed by a fault is not started again: the run is over (as a power loss of a
run that is ending leaves its site off); nor is anything redone for a ``restart`` fault (its
process, old or new, is journaled and killed like any other). The run's lifeline
(:mod:`harness.faults.lifeline`) calls it the moment a runner dies; ``hchaos rollback`` is for
what is left when even that could not run (a Toxiproxy the run does not own, a machine that
rebooted).

The result says what was undone and what was already gone, separately: a toxic reported as
removed was on the proxy until this rollback removed it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import InfrastructureError, InvalidInput
from harness.faults.toxic_heal import DATA_TOXICS, heal_data_toxic
from harness.run.journal import JOURNAL_FILE, Journal, JournalState, is_same_process, replay_journal
from harness.run.run_tag import kill_tagged, of_run
from harness.toxiproxy import ToxiproxyClient, ToxiproxyError, ToxiproxyNotFound, ToxiproxyUnreachable


@dataclass
class RollbackResult:
    run_dir: Path
    toxics_removed: list[str] = field(default_factory=list)
    """``proxy/toxic`` that were still on their proxy, and were removed."""
    toxics_absent: list[str] = field(default_factory=list)
    """``proxy/toxic`` the journal lists as not healed, but already gone (never applied, or
    removed by someone else)."""
    links_enabled: list[str] = field(default_factory=list)
    links_already_enabled: list[str] = field(default_factory=list)
    processes_killed: list[str] = field(default_factory=list)
    processes_resumed: list[str] = field(default_factory=list)
    """``name (pid N)`` of instances a fault had paused (SIGSTOP), sent SIGCONT before the kill."""
    clocks_reset: list[str] = field(default_factory=list)
    """Instances whose skewed clock (libfaketime timestamp file) was set back to true time."""
    disks_freed: list[str] = field(default_factory=list)
    """Instances whose data filesystem a ``disk_full`` had filled: the filler was deleted."""
    disks_unmounted: list[str] = field(default_factory=list)
    """Size-limited data filesystems the run mounted and this rollback unmounted."""
    containers_removed: list[str] = field(default_factory=list)
    """Containers of the run (docker backend) that were still there, and were removed."""
    networks_removed: list[str] = field(default_factory=list)
    commands_run: list[str] = field(default_factory=list)
    """``fault: command`` of the action faults whose heal command this rollback ran (exit 0)."""
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def nothing_to_do(self) -> bool:
        """Nothing had to be undone (what was already gone does not count)."""
        return not (self.toxics_removed or self.links_enabled or self.processes_killed or self.processes_resumed
                    or self.clocks_reset or self.disks_freed or self.disks_unmounted or self.containers_removed
                    or self.networks_removed or self.commands_run or self.errors)

    def describe(self) -> list[str]:
        """One line per kind of outcome, for the terminal and the lifeline's log."""
        lines = []
        for what, items in (("removed toxics", self.toxics_removed),
                            ("toxics already gone", self.toxics_absent),
                            ("enabled links", self.links_enabled),
                            ("ran heal commands", self.commands_run),
                            ("links already enabled", self.links_already_enabled),
                            ("resumed paused processes", self.processes_resumed),
                            ("clocks set back to true time", self.clocks_reset),
                            ("full disks freed", self.disks_freed),
                            ("removed containers", self.containers_removed),
                            ("removed networks", self.networks_removed),
                            ("killed processes", self.processes_killed),
                            ("unmounted data filesystems", self.disks_unmounted),
                            ("note", self.notes),
                            ("error", self.errors)):
            if items:
                lines.append(f"{what}: {', '.join(items)}")
        return lines


def unfinished_runs(runs_dir: Path) -> list[Path]:
    """Run folders under ``runs_dir`` whose journal has no ``run-end`` record, oldest first."""
    if not runs_dir.is_dir():
        return []
    found = []
    for journal in sorted(runs_dir.glob(f"*/{JOURNAL_FILE}")):
        try:
            if not replay_journal(journal).ended:
                found.append(journal.parent)
        except (OSError, ValueError):
            found.append(journal.parent)
    return found


def runner_alive(run_dir: Path) -> int | None:
    """The pid of the run's runner if that very process is still alive, else ``None``."""
    state = replay_journal(run_dir / JOURNAL_FILE)
    if state.runner is not None and state.runner.pid != os.getpid() and is_same_process(state.runner):
        return state.runner.pid
    return None


def rollback_run(run_dir: Path, *, force: bool = False, timeout: float = 20.0,
                 status: str = "rolled-back") -> RollbackResult:
    """Undo everything the journal of ``run_dir`` says is still outstanding; the journal's
    ``run-end`` record then carries ``status``.

    Refuses (``InvalidInput``) when the run's runner is still alive, unless ``force``:
    a live runner heals by itself, and pulling its processes out from under it would turn
    a clean run into a failed one.
    """
    run_dir = run_dir.resolve()  # heal commands run elsewhere, and get it as HCHAOS_RUN_DIR
    journal_path = run_dir / JOURNAL_FILE
    if not journal_path.is_file():
        raise InvalidInput(f"{run_dir} is not a run folder: no {JOURNAL_FILE} in it")
    state = replay_journal(journal_path)
    result = RollbackResult(run_dir)
    pid = runner_alive(run_dir)
    if pid is not None and not force:
        raise InvalidInput(f"run {run_dir.name} is still running (runner pid {pid}); it heals by itself",
                           hint="stop it with Ctrl-C, or use --force to roll back anyway")

    # 1. Toxics and links, while the run's Toxiproxy may still be alive.
    clients: dict[str, ToxiproxyClient] = {}
    try:
        for fault, actions in state.unhealed_faults.items():
            for action in actions:
                kind, server = action.get("kind"), action.get("server", "")
                if kind not in ("toxic", "proxy-disabled"):
                    continue
                client = clients.setdefault(server, ToxiproxyClient(server, timeout=timeout))
                what = f"{action['proxy']}/{action.get('toxic', '')}" if kind == "toxic" else action["proxy"]
                try:
                    if kind == "toxic" and action.get("type") in DATA_TOXICS:
                        heal = heal_data_toxic(client, action["proxy"], action["toxic"])
                        if heal.problem is not None:
                            told = result.errors if heal.inert_at is None else result.notes
                            told.append(f"{fault}: {heal.problem}")
                        if heal.inert_at is not None:
                            (result.toxics_removed if heal.was_there else result.toxics_absent).append(what)
                    elif kind == "toxic":
                        removed = client.remove_toxic(action["proxy"], action["toxic"], missing_ok=True)
                        (result.toxics_removed if removed else result.toxics_absent).append(what)
                    elif client.proxy(action["proxy"]).enabled:
                        result.links_already_enabled.append(what)
                    else:
                        client.enable(action["proxy"])
                        result.links_enabled.append(what)
                except ToxiproxyNotFound:
                    result.notes.append(f"{fault}: proxy {action['proxy']} no longer exists on {server}")
                except ToxiproxyUnreachable:
                    result.notes.append(f"{fault}: Toxiproxy at {server} is gone, so is {what}")
                except ToxiproxyError as exc:
                    result.errors.append(f"{fault}: could not undo {what}: {exc}")
    finally:
        for client in clients.values():
            client.close()

    # 1b. The user's heal commands of action faults not healed (systems the run does not own).
    _run_heal_commands(run_dir, state, result)

    # 2. The run's containers and networks (docker backend), found by their labels: removing a
    # container ends its processes, paused or not, and its Toxiproxy with its toxics.
    _remove_containers(run_dir, state, result)

    # 3. Paused instances thawed, so that none is left frozen even if the kill below cannot
    # reach it (SIGKILL would end a stopped process all the same).
    _resume_paused(state, result)
    _restore_clocks_and_disks(state, result)

    # 4. Processes, identified by pid and start time (a recycled pid is not ours).
    for ref in state.live_processes.values():
        if not is_same_process(ref):
            continue
        try:
            os.killpg(ref.pid, signal.SIGKILL)
        except ProcessLookupError:
            continue
        except PermissionError as exc:
            result.errors.append(f"could not kill {ref.name} (pid {ref.pid}): {exc}")
            continue
        result.processes_killed.append(f"{ref.name} (pid {ref.pid})")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(is_same_process(r) for r in state.live_processes.values()):
        time.sleep(0.05)
    survivors = [f"{r.name} (pid {r.pid})" for r in state.live_processes.values() if is_same_process(r)]
    if survivors:
        result.errors.append(f"still alive after SIGKILL: {', '.join(survivors)}")
    # 5. Processes nobody journaled: spawned just before the runner died, or children of ours.
    for process in kill_tagged(of_run(run_dir)):
        result.processes_killed.append(f"untracked pid {process.pid} ({process.command[:60]})")
    # 6. Mounts, once nothing of the run can hold them busy.
    unmounted = _unmount_disks(state, result)

    if not result.errors:
        journal = Journal(run_dir, state.run_id or run_dir.name)
        try:
            for ref in state.live_processes.values():
                journal.process_stopped(ref.name, ref.pid)
            for fault in state.unhealed_faults:
                journal.fault_healed(fault)
            for resource in unmounted:
                journal.resource_released("disk", resource)
            journal.run_ended(status)
        finally:
            journal.close()
    return result


def _run_heal_commands(run_dir: Path, state: JournalState, result: RollbackResult) -> None:
    """Run the heal command of every action fault the journal says was injected and not healed
    (:mod:`harness.faults.commands`: its timeout, its output appended to the fault's log)."""
    from harness.faults.commands import ACTION_PROCESS, action_log, run_command

    # A command still running (the runner died during its inject): its whole group first, or
    # it could put the fault back after the heal below.
    running = [ref for ref in state.live_processes.values() if ref.name.startswith(ACTION_PROCESS)
               and is_same_process(ref)]
    for ref in running:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(ref.pid, signal.SIGKILL)
        result.processes_killed.append(f"{ref.name} (pid {ref.pid})")
    deadline = time.monotonic() + 5
    while running and time.monotonic() < deadline and any(is_same_process(r) for r in running):
        time.sleep(0.02)
    for fault, actions in state.unhealed_faults.items():
        for action in actions:
            if action.get("kind") != "command":
                continue
            try:
                argv = [str(arg) for arg in json.loads(action["heal"])]
                timeout = float(action.get("timeout", "60"))
            except (KeyError, ValueError, TypeError):
                result.errors.append(f"{fault}: the journal's heal command is unreadable: {action.get('heal')!r}")
                continue
            outcome = run_command(argv, cwd=Path(action.get("cwd") or run_dir), timeout=timeout,
                                  log=action_log(run_dir, fault), what="heal (rollback)",
                                  env={"HCHAOS_RUN_DIR": str(run_dir), "HCHAOS_FAULT": fault,
                                       "HCHAOS_ACTION": "heal"})
            if outcome.problem is None:
                result.commands_run.append(f"{fault}: {' '.join(argv)}")
            else:
                result.errors.append(f"{fault}: {outcome.problem}")


def _remove_containers(run_dir: Path, state: JournalState, result: RollbackResult) -> None:
    """Remove every container and network labelled with the run (when the journal says the run
    made some: a local run's rollback never needs a Docker engine)."""
    if not state.docker_resources:
        return
    from harness.backends.docker.engine import remove_run_resources_if_engine

    removed = remove_run_resources_if_engine(of_run(run_dir))
    if removed is None:
        result.errors.append(f"the run made containers or networks ({', '.join(state.docker_resources[:5])}), "
                             "but no Docker engine answers to remove them")
        return
    result.containers_removed += removed.containers
    result.networks_removed += removed.networks
    result.errors += removed.errors


def _resume_paused(state: JournalState, result: RollbackResult) -> None:
    """SIGCONT the process group of every instance an unhealed fault paused, if that very
    process (pid and start time) is still alive; note the killed instances left dead."""
    for fault, actions in state.unhealed_faults.items():
        for action in actions:
            kind, instance = action.get("kind"), action.get("instance", "")
            if kind == "instance-killed":
                result.notes.append(f"{fault}: {instance} was killed by the fault; not started again (the run is over)")
            if kind != "instance-paused":
                continue
            ref = state.live_process_named(instance)
            if ref is None or not is_same_process(ref):
                result.notes.append(f"{fault}: paused instance {instance} is gone already")
                continue
            try:
                os.killpg(ref.pid, signal.SIGCONT)
            except ProcessLookupError:
                result.notes.append(f"{fault}: paused instance {instance} is gone already")
                continue
            except PermissionError as exc:
                result.errors.append(f"could not resume {instance} (pid {ref.pid}): {exc}")
                continue
            result.processes_resumed.append(f"{instance} (pid {ref.pid})")


def _restore_clocks_and_disks(state: JournalState, result: RollbackResult) -> None:
    """True time for every clock an unhealed ``clock_skew`` skewed, no filler for every unhealed
    ``disk_full``: the files are found through the instance's journaled resources."""
    # Imported here, not at the top: the local backend's package pulls in the whole backend
    # (httpx, the Toxiproxy client), which a rollback needs only when a clock or disk is journaled.
    from harness.backends.local import clock, disks

    for fault, actions in state.unhealed_faults.items():
        for action in actions:
            kind, instance = action.get("kind"), action.get("instance", "")
            if kind == "instance-clock-skewed":
                resource = state.resource_of("clock-file", instance)
                if resource is None or not resource.path.exists():
                    result.notes.append(f"{fault}: {instance}'s clock file is gone already")
                    continue
                try:
                    clock.write_setting(resource.path, clock.NEUTRAL)
                except OSError as exc:
                    result.errors.append(f"could not reset {instance}'s clock ({resource.path}): {exc}")
                    continue
                result.clocks_reset.append(instance)
            elif kind == "instance-disk-filled":
                resource = state.resource_of("disk", instance)
                if resource is None:
                    result.notes.append(f"{fault}: {instance}'s data filesystem is not in the journal")
                    continue
                try:
                    if disks.free(resource.path):
                        result.disks_freed.append(instance)
                except OSError as exc:
                    result.errors.append(f"could not free {instance}'s disk ({resource.path}): {exc}")


def _unmount_disks(state: JournalState, result: RollbackResult) -> list[Path]:
    """Unmount every ``disk`` resource still journaled as acquired; the paths no longer mounted."""
    from harness.backends.local import disks  # not at the top: see _restore_clocks_and_disks

    done: list[Path] = []
    for resource in state.resources.values():
        if resource.kind != "disk":
            continue
        try:
            if disks.unmount(resource.path):
                result.disks_unmounted.append(f"{resource.instance} ({resource.path})")
        except InfrastructureError as exc:
            result.errors.append(f"could not unmount {resource.instance}'s data filesystem: {exc.message}")
            continue
        done.append(resource.path)
    return done
