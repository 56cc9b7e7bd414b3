"""The nemesis: applies and heals fault plans against Toxiproxy and the backend.

Contracts:

* ``inject`` journals the plan's actions *before* touching anything, then sends every
  Toxiproxy request of the plan together (one round trip of wall time, not one per link),
  then powers off sites.
* ``heal`` is idempotent: it removes toxics that may already be gone, enables proxies that
  may already be enabled, restarts sites only if this nemesis powered them off. Links are
  healed *before* processes restart, as when power returns: network first, then servers,
  so a restarted primary sees its peer's newer epoch and rejoins as a standby.
* ``heal_all`` heals every active fault, newest first, and keeps going past errors (it is
  what the runner calls in ``finally``); it returns the errors instead of raising.

Why heals get a long timeout and a retry: Toxiproxy 2.12.0 can take several seconds to
remove a latency or bandwidth toxic when a client disconnects at the same moment (upstream
issue #558: ``RemoveToxic`` holds the proxy's lock while flushing held data with a 5 s write
timeout per chunk). Giving up after the usual 2 s would leave the fault in place; waiting,
and retrying once (a repeated removal is a no-op), heals it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Literal

import httpx

from harness.backends.base import Backend, Endpoints
from harness.faults.journal import Action, Journal
from harness.faults.plan import FaultPlan
from harness.timeline import FaultRecord, TimelineWriter
from harness.toxiproxy import ToxiproxyClient, ToxiproxyFleet, ToxiproxyUnreachable

HEAL_TIMEOUT = 20.0
"""Seconds a heal request may take (see the module docstring)."""

SLOW_HEAL = 2.0
"""A heal slower than this is reported as an event."""


def _retry_once(call: Callable[[], object]) -> object:
    """Run ``call``; if Toxiproxy did not answer in time, run it once more (heals are
    idempotent, so the second try is safe whether or not the first one landed)."""
    try:
        return call()
    except ToxiproxyUnreachable:
        return call()


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
        self._fleet = ToxiproxyFleet([self._client])
        self._lock = threading.RLock()
        self._active: dict[str, FaultPlan] = {}
        self._powered_off: set[str] = set()

    @property
    def active(self) -> list[FaultPlan]:
        with self._lock:
            return list(self._active.values())

    def journal_actions(self, plan: FaultPlan) -> list[Action]:
        server = self._endpoints.toxiproxy_url
        actions: list[Action] = [
            {"kind": "toxic", "server": server, "proxy": t.link, "toxic": t.toxic_name} for t in plan.toxics]
        actions += [{"kind": "proxy-disabled", "server": server, "proxy": link} for link in plan.disabled_links]
        actions += [{"kind": "site-killed", "site": site} for site in plan.powered_off_sites]
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
            started = time.perf_counter()
            calls: list[Callable[[], object]] = [partial(self._client.add_toxic, t.link, t.toxic) for t in plan.toxics]
            calls += [partial(self._client.disable, link) for link in plan.disabled_links]
            self._fleet.run_concurrently(calls)
            link_seconds = time.perf_counter() - started
            for site in plan.powered_off_sites:
                killed = self._backend.kill_site(site)
                self._powered_off.add(site)
                self._on_event(f"{plan.label}: power off {site}: SIGKILL {', '.join(killed) or 'nothing'}")
            self._record("inject", plan, wall_start)
            return link_seconds

    def heal(self, plan: FaultPlan, *, restart_sites: bool = True) -> None:
        """Undo ``plan`` (idempotent). Raises if Toxiproxy or a restart fails.

        ``restart_sites=False`` heals the links only and leaves powered-off sites off: for a
        run that is ending anyway (interrupted, halted, failed), whose processes are about to
        be stopped -- restarting them first would only make the user wait."""
        with self._lock:
            wall_start = time.time()
            client = self._heal_client
            calls: list[Callable[[], object]] = [
                partial(_retry_once, partial(client.remove_toxic, t.link, t.toxic_name, missing_ok=True))
                for t in plan.toxics]
            calls += [partial(_retry_once, partial(client.enable, link)) for link in plan.disabled_links]
            started = time.perf_counter()
            self._fleet.run_concurrently(calls)
            if (seconds := time.perf_counter() - started) > SLOW_HEAL:
                self._on_event(f"{plan.label}: Toxiproxy took {seconds:.1f}s to heal the links "
                               "(a client disconnected mid-removal; Toxiproxy issue #558)")
            for site in plan.powered_off_sites:
                if site in self._powered_off and restart_sites:
                    restarted = self._backend.restart_site(site)
                    self._powered_off.discard(site)
                    self._on_event(f"{plan.label}: power back in {site}: restarted {', '.join(restarted)}")
            self._active.pop(plan.label, None)
            self._journal.fault_healed(plan.label)
            self._record("heal", plan, wall_start)

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

    def close(self) -> None:
        self._fleet.close()
        self._client.close()
        self._heal_client.close()

    def _record(self, action: Literal["inject", "heal"], plan: FaultPlan, started: float) -> None:
        """Timeline record stamped with when the action started and when it had taken effect
        (now: every request of it has been answered). A fault's window runs from its inject's
        start (failover time is measured from there) to its heal's end (recovery from there)."""
        if self._timeline is not None:
            self._timeline.append(FaultRecord(started, action, plan.label, plan.fault_type,
                                              plan.target, plan.duration, ended=time.time()))
