"""The nemesis: applies and heals fault plans against Toxiproxy and the backend.

Contracts:

* ``inject`` journals the plan's actions *before* touching anything, then pauses instances
  (a SIGSTOP: nothing waited for, so a pause takes effect within milliseconds of the inject),
  sends every Toxiproxy request of the plan together (one round trip of wall time, not one
  per link), skews clocks and fills disks (:class:`~harness.backends.instance_state.
  InstanceStateFaults`), powers off sites, kills instances, and last restarts instances (a
  ``restart`` fault's inject returns once the instance is ready again).
* An ``action`` fault's command (the user's own) runs last at the inject and, at the heal,
  after thawing and before the links, whatever Toxiproxy says; it is journaled as a process
  while it runs (a rollback kills it before it runs the heal again); a command that fails or
  times out raises (its heal still runs: the plan is active from before the inject).
* ``heal`` is idempotent: it removes toxics that may already be gone, enables proxies that
  may already be enabled, resumes instances and restarts sites and killed instances only if
  this nemesis paused or killed them. Links are healed *before* processes restart, as when
  power returns: network first, then servers, so a restarted primary sees its peer's newer
  epoch and rejoins as a standby. A ``restart`` fault's heal does nothing but mark it ended.
* A heal with ``restart_sites=False`` (a run that is ending) resumes paused instances (so that
  the SIGTERM stopping them is obeyed) but starts nothing: killed instances stay dead, like
  powered-off sites. Skewed clocks and filled disks are restored by every heal, whatever
  ``restart_sites`` says (it costs a file write or a delete).
* ``heal_all`` heals every active fault, newest first, and keeps going past errors (it is
  what the runner calls in ``finally``); it returns the errors instead of raising.

How a toxic is healed (:mod:`harness.faults.toxic_heal`): Toxiproxy 2.12.0 can take 10 to 30 s
to remove a latency or bandwidth toxic when clients disconnect at that moment (upstream issue
#558: ``RemoveToxic`` flushes held data under the proxy's lock, 5 s per chunk, and new
connections through the proxy wait meanwhile). So such a toxic is first made inert
(``toxicity: 0``: answered in milliseconds, the moment the fault stopped acting, which the heal
record's ``ended`` carries) and removed half a second later. Other toxics and disabled links
are undone directly, with a retry if Toxiproxy did not answer in time (a repeated removal or
enable is a no-op). A heal that cannot make a toxic inert (a client of the proxy stopped
reading: Toxiproxy is then wedged) raises and leaves the plan active, so clean-up reports it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Literal

import httpx

from harness.backends.base import Backend, Endpoints
from harness.backends.instance_state import InstanceStateFaults
from harness.errors import InfrastructureError
from harness.faults.commands import ACTION_PROCESS, action_log, run_command
from harness.faults.plan import CommandAction, FaultPlan
from harness.faults.toxic_heal import DATA_TOXICS, ToxicHeal, heal_data_toxic
from harness.run.journal import Action, Journal, instance_actions
from harness.run.run_tag import tag_environment
from harness.timeline import FaultRecord, TimelineWriter
from harness.toxiproxy import ToxiproxyClient, ToxiproxyFleet, ToxiproxyUnreachable

HEAL_TIMEOUT = 10.0
"""Seconds a heal request may take (a bandwidth toxic's own interrupt can take 5 s)."""

POLL_TIMEOUT = 1.0
"""Seconds a look at a proxy's toxics may take while a heal waits for Toxiproxy's lock."""

SLOW_HEAL = 2.0
"""A heal slower than this is reported as an event."""


def _retry_once(call: Callable[[], object]) -> object:
    """Run ``call``; if Toxiproxy did not answer in time, run it once more (heals are
    idempotent, so the second try is safe whether or not the first one landed)."""
    try:
        return call()
    except ToxiproxyUnreachable:
        return call()


def _answered_at(call: Callable[[], object]) -> float:
    """Run ``call`` (retried once, :func:`_retry_once`); the wall-clock time it was answered."""
    _retry_once(call)
    return time.time()


class Nemesis:
    """Injects and heals :class:`FaultPlan` objects for one run. Thread-safe."""

    def __init__(self, endpoints: Endpoints, backend: Backend, journal: Journal,
                 timeline: TimelineWriter | None = None,
                 on_event: Callable[[str], None] | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
        """``transport`` replaces the network to Toxiproxy (tests: ``FakeToxiproxy().transport``)."""
        self._endpoints = endpoints
        self._backend = backend
        self._journal = journal
        self._timeline = timeline
        self._on_event = on_event or (lambda _msg: None)
        self._client = ToxiproxyClient(endpoints.toxiproxy_url, transport=transport)
        self._heal_client = ToxiproxyClient(endpoints.toxiproxy_url, timeout=HEAL_TIMEOUT, transport=transport)
        self._poll_client = ToxiproxyClient(endpoints.toxiproxy_url, timeout=POLL_TIMEOUT, transport=transport)
        self._fleet = ToxiproxyFleet([self._client])
        self._lock = threading.RLock()
        self._active: dict[str, FaultPlan] = {}
        self._powered_off: set[str] = set()
        self._paused: set[str] = set()
        self._killed: set[str] = set()

    @property
    def active(self) -> list[FaultPlan]:
        with self._lock:
            return list(self._active.values())

    def journal_actions(self, plan: FaultPlan) -> list[Action]:
        server = self._endpoints.toxiproxy_url
        actions: list[Action] = [
            {"kind": "toxic", "server": server, "proxy": t.link, "toxic": t.toxic_name, "type": t.toxic.type}
            for t in plan.toxics]
        actions += [{"kind": "proxy-disabled", "server": server, "proxy": link} for link in plan.disabled_links]
        actions += [{"kind": "site-killed", "site": site} for site in plan.powered_off_sites]
        actions += instance_actions(plan.instances)
        # The heal as JSON text (journal actions are str -> str): what `hchaos rollback` runs.
        actions += [{"kind": "command", "heal": json.dumps(list(c.heal)), "cwd": c.cwd, "timeout": f"{c.timeout:g}"}
                    for c in plan.commands]
        return actions

    def inject(self, plan: FaultPlan) -> float:
        """Apply ``plan``; returns the wall-clock seconds the Toxiproxy part took."""
        with self._lock:
            # Active first, journal second: a Ctrl-C landing between the two (the journal's
            # fsync is the slow part) must still find the plan to heal. Healing a plan that
            # was never applied is harmless (missing toxics are ignored).
            self._active[plan.label] = plan
            self._journal.fault_injecting(plan.label, self.journal_actions(plan))
            wall_start = time.time()
            # Pauses first: a signal, nothing waited for (the fault is meant to start at once).
            for action in plan.instances_to("pause"):
                self._paused.add(action.instance)  # before: a heal racing the signal resumes it
                self._backend.pause_instance(action.instance)
            started = time.perf_counter()
            calls: list[Callable[[], object]] = [partial(self._client.add_toxic, t.link, t.toxic) for t in plan.toxics]
            calls += [partial(self._client.disable, link) for link in plan.disabled_links]
            if calls:
                self._fleet.run_concurrently(calls)
            link_seconds = time.perf_counter() - started
            for action in plan.instances_to("clock_skew"):
                setting = self._state_faults(plan).skew_clock(action.instance, action.offset, action.rate)
                self._on_event(f"{plan.label}: {action.instance}'s clock set to {setting} (libfaketime)")
            for action in plan.instances_to("disk_full"):
                written = self._state_faults(plan).fill_disk(action.instance)
                self._on_event(f"{plan.label}: {action.instance}'s data filesystem full "
                               f"({written / (1 << 20):.1f} MiB of filler)")
            for site in plan.powered_off_sites:
                killed = self._backend.kill_site(site)
                self._powered_off.add(site)
                self._on_event(f"{plan.label}: power off {site}: SIGKILL {', '.join(killed) or 'nothing'}")
            for action in plan.instances_to("kill"):
                self._backend.kill_instance(action.instance)
                if action.restart:
                    self._killed.add(action.instance)
                self._on_event(f"{plan.label}: SIGKILL {action.instance}"
                               + ("" if action.restart else " (left dead: restart is false)"))
            for action in plan.instances_to("restart"):
                self._backend.restart_instance(action.instance)
                self._on_event(f"{plan.label}: restarted {action.instance}, ready again")
            for command in plan.commands:
                self._run_command(plan, command.inject, command, "inject")
            self._record("inject", plan, wall_start)
            return link_seconds

    def heal(self, plan: FaultPlan, *, restart_sites: bool = True) -> None:
        """Undo ``plan`` (idempotent). Raises if Toxiproxy or a restart fails.

        ``restart_sites=False`` heals the links and resumes paused instances only, and leaves
        powered-off sites off and killed instances dead: for a run that is ending anyway
        (interrupted, halted, failed), whose processes are about to be stopped -- restarting
        them first would only make the user wait."""
        with self._lock:
            wall_start = time.time()
            client = self._heal_client
            calls: list[Callable[[], ToxicHeal | float]] = [
                partial(heal_data_toxic, client, t.link, t.toxic_name, poller=self._poll_client)
                for t in plan.toxics if t.toxic.type in DATA_TOXICS]
            calls += [partial(_answered_at, partial(client.remove_toxic, t.link, t.toxic_name, missing_ok=True))
                      for t in plan.toxics if t.toxic.type not in DATA_TOXICS]
            calls += [partial(_answered_at, partial(client.enable, link)) for link in plan.disabled_links]
            effective: list[float] = []
            wedged: list[str] = []
            # Thawed first, and whatever Toxiproxy says: a frozen process must never outlive
            # the heal (it would also not obey the SIGTERM that stops the run).
            for action in plan.instances_to("pause"):
                if action.instance in self._paused:
                    self._backend.resume_instance(action.instance)
                    self._paused.discard(action.instance)
                    effective.append(time.time())
            # Clocks and disks next, also whatever Toxiproxy says: a file write or delete each.
            for action in plan.instances_to("clock_skew"):
                self._state_faults(plan).reset_clock(action.instance)
                effective.append(time.time())
            for action in plan.instances_to("disk_full"):
                self._state_faults(plan).free_disk(action.instance)
                effective.append(time.time())
            # The user's heal command whatever Toxiproxy says: it undoes a system we do not run.
            command_problems = []
            for command in plan.commands:
                try:
                    self._run_command(plan, command.heal, command, "heal")
                    effective.append(time.time())
                except InfrastructureError as exc:
                    command_problems.append(exc.message)
            for outcome in self._fleet.run_concurrently(calls) if calls else []:
                if isinstance(outcome, float):
                    effective.append(outcome)
                    continue
                if outcome.problem is not None:
                    self._on_event(f"[yellow]{plan.label}: {outcome.problem}")
                if outcome.inert_at is None:
                    wedged.append(outcome.problem or "a toxic could not be made inert")
                else:
                    effective.append(outcome.inert_at)
            if wedged:
                raise InfrastructureError(f"{plan.label} is not healed: {'; '.join(wedged)}",
                                          hint="restart toxiproxy-server (hchaos rollback once the run ended)")
            if command_problems:
                raise InfrastructureError(f"{plan.label} is not healed: {'; '.join(command_problems)}",
                                          hint="undo it by hand; `hchaos rollback` runs the heal command again")
            ended = max(effective, default=time.time())
            if ended - wall_start > SLOW_HEAL:
                self._on_event(f"{plan.label}: Toxiproxy took {ended - wall_start:.1f}s to heal the links")
            # The power is back when the links are: the processes' boot (restart_site waits until
            # they are ready) is the system recovering, which the checks measure -- not the fault.
            for site in plan.powered_off_sites:
                if site in self._powered_off and restart_sites:
                    restarted = self._backend.restart_site(site)
                    self._powered_off.discard(site)
                    self._on_event(f"{plan.label}: power back in {site}: restarted {', '.join(restarted)}")
            # Likewise, a killed instance's boot is recovery: the fault ended when it was started.
            for action in plan.instances_to("kill"):
                if action.instance in self._killed and restart_sites:
                    self._backend.start_instance(action.instance)
                    self._killed.discard(action.instance)
                    self._on_event(f"{plan.label}: started {action.instance} again, ready")
            self._active.pop(plan.label, None)
            self._journal.fault_healed(plan.label)
            self._record("heal", plan, wall_start, ended)

    def _run_command(self, plan: FaultPlan, argv: tuple[str, ...], command: CommandAction, what: str) -> None:
        """Run one of an action fault's commands (:mod:`harness.faults.commands`); raises
        InfrastructureError when it fails, times out or cannot start."""
        run_dir = self._journal.path.parent.resolve()
        name = f"{ACTION_PROCESS}{plan.label}"
        env = {"HCHAOS_RUN_DIR": str(run_dir), "HCHAOS_FAULT": plan.label, "HCHAOS_ACTION": what}
        if what == "inject":  # tagged: nothing an inject leaves running outlives the run. Not a
            env |= tag_environment(run_dir)  # heal: what it starts again must keep running
        outcome = run_command(argv, cwd=Path(command.cwd), timeout=command.timeout,
                              log=action_log(run_dir, plan.label), what=what, env=env,
                              on_start=lambda pid: self._journal.process_started(name, pid, ""),
                              on_exit=lambda pid: self._journal.process_stopped(name, pid))
        if outcome.problem is not None:
            self._on_event(f"[red]{plan.label}: {outcome.problem}")
            raise InfrastructureError(f"{plan.label}: {outcome.problem}")
        self._on_event(f"{plan.label}: {what} command done in {outcome.seconds:.1f}s")

    def heal_all(self, *, restart_sites: bool = True) -> list[str]:
        """Heal every active fault (newest first). Returns error messages, never raises.
        ``restart_sites`` as in :meth:`heal`."""
        errors: list[str] = []
        for plan in reversed(self.active):
            try:
                self.heal(plan, restart_sites=restart_sites)
            except Exception as exc:  # keep healing the others: leaving faults behind is worse
                errors.append(f"healing {plan.label} failed: {exc}")
        return errors

    def _state_faults(self, plan: FaultPlan) -> InstanceStateFaults:
        """The backend as :class:`InstanceStateFaults` (validation refused the plan's fault for a
        backend without them; this is the guard behind it)."""
        if not isinstance(self._backend, InstanceStateFaults):
            raise InfrastructureError(f"{plan.label}: the {getattr(self._backend, 'name', 'current')} backend cannot "
                                      f"apply {plan.fault_type!r} faults")
        return self._backend

    def close(self) -> None:
        self._fleet.close()
        self._client.close()
        self._heal_client.close()
        self._poll_client.close()

    def _record(self, action: Literal["inject", "heal"], plan: FaultPlan, started: float,
                ended: float | None = None) -> None:
        """Timeline record stamped with when the action started and when it had taken effect
        (``ended``; default now: every request of it has been answered). A fault's window runs
        from its inject's start (failover time is measured from there) to its heal's end
        (recovery from there)."""
        if self._timeline is not None:
            self._timeline.append(FaultRecord(started, action, plan.label, plan.fault_type, plan.target,
                                              plan.duration, ended=time.time() if ended is None else ended))
