"""The runner: up -> steady state -> scheduled faults -> heal -> recovery -> checks -> report.

Safety contract: once anything has started, the ``finally`` block heals every active fault
and stops every process, whether the run ends normally, a check fails, an exception is
raised, or the user presses Ctrl-C / sends SIGTERM. Signals never interrupt an action:
they only request a stop (:mod:`harness.interrupt`), which the run obeys at its next safe
point -- while waiting out a phase, between two scheduled faults, while a process starts up,
between two read-backs -- within a fraction of a second. The journal, written before every
fault, and the run's lifeline (:mod:`harness.faults.lifeline`), which rolls back the moment
the runner dies, cover the one case ``finally`` cannot: a SIGKILLed runner.

Verdicts are computed from the timeline *file*, read back after it is closed, so a run can
be re-judged offline from its folder with exactly the same result.
"""

from __future__ import annotations

import atexit
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness.backends.factory import create_backend
from harness.checks import Outcome, RunData, Verdict, judge_data, worst
from harness.errors import EXIT_ABORTED, EXIT_CHECK_FAILED, EXIT_PASS
from harness.experiment import Experiment, LoadedExperiment
from harness.faults import FaultPlan, Nemesis
from harness.faults.lifeline import Lifeline
from harness.interrupt import Interrupted, Interruption, deferred_interrupts, signal_name
from harness.load.planner import build_plan
from harness.load.session import LoadSession, LoadSummary
from harness.probe import Prober, ProberSettings, make_prober
from harness.run.abort import ABORT_FILE, AbortRequest, read_abort_request
from harness.run.journal import Journal
from harness.runner.collectors import Collecting, collect
from harness.runner.halts import Halted, HaltMonitor
from harness.runner.observer import RunObserver, SilentObserver
from harness.runner.planning import preflight
from harness.runner.probe_target import probe_target
from harness.runner.rundir import create_run_dir
from harness.runner.targets import topology_for
from harness.timeline import TIMELINE_FILE, AbortRecord, HaltRecord, PhaseRecord, TimelineWriter
from harness.timeline.events import RunPhase

TICK = 0.25


@dataclass
class RunResult:
    run_dir: Path
    verdicts: list[Verdict] = field(default_factory=list)
    outcome: Outcome = Outcome.UNKNOWN
    heal_errors: list[str] = field(default_factory=list)
    load: LoadSummary | None = None
    halted: str | None = None
    """Why a halt condition stopped the run early (None: it ran to the end)."""
    aborted: str | None = None
    """Who aborted the run and why (``hchaos abort``; None: it was not)."""

    @property
    def exit_code(self) -> int:
        if self.aborted is not None:
            return EXIT_ABORTED
        return EXIT_PASS if self.outcome is Outcome.PASS else EXIT_CHECK_FAILED


def run_experiment(loaded: LoadedExperiment, runs_dir: Path, observer: RunObserver | None = None,
                   interruption: Interruption | None = None) -> RunResult:
    """Run ``loaded`` end to end and return its verdicts. Raises ``InvalidInput`` before
    anything starts; ``InfrastructureError`` if the topology cannot come up (after stopping
    whatever had started); :class:`~harness.interrupt.Interrupted` after healing and stopping
    everything, when SIGINT/SIGTERM/SIGHUP or ``interruption.request()`` asked the run to stop.
    A run stopped by ``hchaos abort`` (its ``abort.request`` file) returns, healed, with
    ``aborted`` set and exit code 4."""
    obs = observer or SilentObserver()
    interruption = interruption if interruption is not None else Interruption()
    plans = preflight(loaded)
    with deferred_interrupts(interruption):
        result = _Run(loaded, runs_dir, obs, interruption, plans).execute()
    interruption.clear_abort()  # obeyed: the run ended aborted (a signal after it is still obeyed below)
    # A stop asked for after the last safe point: obeyed now that everything is clean.
    interruption.check()
    result.verdicts = judge_run(loaded, result.run_dir)
    result.outcome = worst(v.outcome for v in result.verdicts)
    write_report(result, loaded.experiment)
    obs.verdicts(result.verdicts)
    return result


class _Run:
    """One run's moving parts, from bring-up to clean-up (see the module docstring)."""

    def __init__(self, loaded: LoadedExperiment, runs_dir: Path, obs: RunObserver, interruption: Interruption,
                 plans: list[FaultPlan]) -> None:
        self.exp = exp = loaded.experiment
        self.obs = obs
        self.interruption = interruption
        self.plans = plans
        self.run_dir = run_dir = create_run_dir(
            runs_dir, exp.name, loaded.path, loaded.topology_source.path if loaded.topology_source else None)
        self.result = RunResult(run_dir)
        self.journal = Journal(run_dir, run_dir.name)
        self.lifeline = Lifeline(run_dir)
        self.lifeline.start()
        self.timeline = TimelineWriter(run_dir / TIMELINE_FILE)
        self.backend = create_backend(loaded, topology_for(exp), run_dir, journal=self.journal, timeline=self.timeline,
                                      interruption=interruption)
        self.nemesis: Nemesis | None = None
        self.prober: Prober | None = None
        self.load: LoadSession | None = None
        self.halts = HaltMonitor(exp.halt) if exp.halt else None
        self.current_phase: RunPhase = "up"
        self.phase_open = False
        self.status = "failed"  # until the run completes, halts, or is interrupted or aborted
        self.cleaned = False
        interruption.watch_abort(run_dir / ABORT_FILE)

    def execute(self) -> RunResult:
        self.obs.run_started(str(self.run_dir), self.exp.name, self.exp.total_duration)
        atexit.register(self.clean_up)
        try:
            self._phases()
            self.status = "completed"
        except Halted as halt:
            # Faults are healed and processes stopped by clean_up below, like any early end.
            self.result.halted = halt.reason.describe()
            now = time.time()
            self._end_open_phase(now)
            self.timeline.append(HaltRecord(now, halt.reason.condition, halt.reason.service, self.result.halted))
            self.obs.event(f"[bold red]{self.result.halted}: stopping the faults, healing everything, ending the run")
            self.status = "halted"
        except Interrupted as stop:
            if not stop.aborted:
                self.status = "interrupted"
                self.obs.event(f"[yellow]interrupted by {signal_name(stop.signum)} during {self.current_phase}: "
                               "healing faults, stopping processes")
                raise
            request = read_abort_request(self.run_dir) or AbortRequest(time.time(), "unknown", "no reason given")
            self.result.aborted = f"{request.by}: {request.reason}"
            now = time.time()
            self._end_open_phase(now)
            self.timeline.append(AbortRecord(now, request.by, request.reason))
            self.obs.event(f"[bold red]aborted by {request.by} during {self.current_phase} ({request.reason}): "
                           "stopping the faults, healing everything, ending the run")
            self.status = "aborted"
        finally:
            self.clean_up()
            atexit.unregister(self.clean_up)
        return self.result

    # -- the phases ----------------------------------------------------------------------

    def _phases(self) -> None:
        exp, obs = self.exp, self.obs
        self._phase("up", 0, self._bring_up)
        assert self.backend.endpoints is not None and self.nemesis is not None
        tap = self.halts.observe if self.halts is not None else None
        target = probe_target(exp, self.backend.topology, self.backend.endpoints)
        self.prober = make_prober(ProberSettings(
            target=target, rate=exp.probe.rate, timeout=exp.probe.timeout, mix=exp.probe.mix.weights(),
            run_id=self.run_dir.name), self.timeline, tap=tap)
        self.prober.start()
        if exp.load is not None:
            self.load = self._start_load()
            if not self.load.wait_started():
                obs.event("[yellow]load: no request recorded yet; starting the steady state anyway")
        self._phase("steady_state", exp.phases.steady_state,
                    lambda: self._wait(exp.phases.steady_state, time.monotonic()))
        self._phase("faults", exp.fault_phase_duration, self._run_fault_schedule)
        self._phase("recovery", exp.phases.recovery, lambda: self._wait(exp.phases.recovery, time.monotonic()))
        if self.load is not None:
            self._stop_load(self.load)
            self.load = None
        self.prober.stop()
        self.prober = None
        # What the checks declared they need (notifications, read-back, schedule diffs), each
        # after a safe point of the interruption.
        collect(Collecting(self.backend, self.run_dir, self.timeline, obs, self.interruption, exp.checks))

    def _phase(self, name: RunPhase, seconds: float, body: Callable[[], None]) -> None:
        self.interruption.check()
        self.current_phase = name
        self.obs.phase_started(name, seconds)
        self.timeline.append(PhaseRecord(time.time(), name, "start"))
        self.phase_open = True
        body()
        self.timeline.append(PhaseRecord(time.time(), name, "end"))
        self.phase_open = False
        self.timeline.flush()

    def _end_open_phase(self, now: float) -> None:
        """An early end (halt, abort) closes the phase it came in, if one is open: a phase
        ended twice would stretch its window over what came after (read-backs)."""
        if self.phase_open:
            self.timeline.append(PhaseRecord(now, self.current_phase, "end"))
            self.phase_open = False

    def _bring_up(self) -> None:
        t0 = time.monotonic()
        endpoints = self.backend.up()
        door = f"front door {endpoints.front_door_url}, " if endpoints.front_door_url else ""
        self.obs.event(f"topology up in {time.monotonic() - t0:.2f}s: {door}Toxiproxy {endpoints.toxiproxy_url}")
        self.nemesis = Nemesis(endpoints, self.backend, self.journal, self.timeline, on_event=self.obs.event)

    def _wait(self, seconds: float, started: float) -> None:
        """Wait out ``seconds`` from ``started`` (monotonic), ticking: the live view, the load's
        health, halt conditions, and the interruption (every sleep is a safe point)."""
        deadline = started + seconds
        while (now := time.monotonic()) < deadline:
            self.interruption.sleep(min(TICK, deadline - now))
            self.timeline.flush()
            if self.load is not None:
                self.load.check_running()
            self.obs.tick(time.monotonic() - started, self.prober.stats.snapshot() if self.prober else None,
                          self.nemesis.active if self.nemesis else [], self.load.stats() if self.load else None)
            if self.halts is not None and (reason := self.halts.check(self.current_phase, time.time())) is not None:
                raise Halted(reason)

    def _run_fault_schedule(self) -> None:
        """Inject each plan at its ``at`` and heal it at ``at + duration`` (offsets from now).
        Each inject and heal runs whole; the interruption is looked at between them."""
        assert self.nemesis is not None
        nemesis = self.nemesis
        events: list[tuple[float, int, str, FaultPlan]] = []
        for plan in self.plans:
            # Heals sort before injects at the same instant (0 < 1): back-to-back faults on one
            # target do not overlap.
            events.append((plan.at, 1, "inject", plan))
            events.append((plan.ends_at, 0, "heal", plan))
        events.sort(key=lambda e: (e[0], e[1]))
        started = time.monotonic()
        for offset, _, action, plan in events:
            remaining = started + offset - time.monotonic()
            if remaining > 0:
                self._wait(remaining, time.monotonic())
            self.interruption.check()
            if action == "inject":
                seconds = nemesis.inject(plan)
                self.obs.event(f"injected {plan.label} ({plan.fault_type} {plan.target}): {plan.describe()} "
                               f"[Toxiproxy part in {seconds * 1000:.0f} ms]")
            else:
                nemesis.heal(plan)
                self.obs.event(f"healed {plan.label} ({plan.fault_type} {plan.target})")

    def _start_load(self) -> LoadSession:
        """Start the experiment's load and wait for its first request (bounded). The session is
        returned even when waiting fails, so that clean-up stops it."""
        exp, backend = self.exp, self.backend
        assert exp.load is not None and backend.endpoints is not None
        topology = backend.topology
        ours = [s.name for s in topology.services if s.builtin == s.name]
        # MLLP load goes to our engines only (a user's hl7v2-mllp service is probed, not loaded by personas).
        sites = {i.name: i.site for i in topology.instances if i.service == "messaging" and "messaging" in ours}
        load = LoadSession(build_plan(exp, backend.endpoints, self.run_dir, self.run_dir.name, sites, ours),
                           self.run_dir,
                           self.timeline, processes=exp.load.processes, remote_workers=exp.load.remote_workers,
                           master_bind=(exp.load.master_bind, exp.load.master_port) if exp.load.remote_workers
                           else None, journal=self.journal, on_event=self.obs.event,
                           tap=self.halts.observe if self.halts is not None else None,
                           interruption=self.interruption)
        self.load = load  # before start(): whatever happens next, clean-up stops it
        load.start()
        personas = ", ".join(f"{name} x{p.weight:g}" for name, p in load.plan.personas.items())
        self.obs.event(f"load: up to {max(s.users for s in load.plan.stages)} users ({personas}), "
                       f"{exp.load.processes} Locust process(es), log {self.run_dir.name}/locust.log")
        return load

    def _stop_load(self, session: LoadSession) -> None:
        summary = session.stop()
        self.result.load = summary
        self.obs.event(summary.describe() if summary.counts_match else f"[red]{summary.describe()}")

    # -- clean-up ------------------------------------------------------------------------

    def clean_up(self) -> None:
        """Heal, stop, close: each step runs even if an earlier one failed. Runs once, from
        ``finally`` or, as a safety net, at interpreter exit. Faults first: a fault left in
        place is the worst outcome, and stopping the load can take seconds. Sites a run that
        did not complete powered off are not restarted: every process is stopped next."""
        if self.cleaned:
            return
        self.cleaned = True
        result = self.result
        steps: list[tuple[str, Callable[[], None]]] = []
        if self.nemesis is not None:
            active = self.nemesis

            def heal() -> None:
                result.heal_errors += active.heal_all(restart_sites=self.status == "completed")
                active.close()
            steps.append(("heal faults", heal))
        if self.load is not None:
            session = self.load
            steps.append(("stop the load", lambda: self._stop_load(session)))
        if self.prober is not None:
            steps.append(("stop the prober", self.prober.stop))
        steps += [("stop processes", self.backend.down), ("close the timeline", self.timeline.close)]
        for what, step in steps:
            try:
                step()
            except Exception as exc:  # keep cleaning: a leftover fault or process is worse
                result.heal_errors.append(f"could not {what}: {type(exc).__name__}: {exc}")
        for message in result.heal_errors:
            self.obs.event(f"[red]{message}")
        self.journal.run_ended(self.status if not result.heal_errors else f"{self.status}-with-cleanup-errors")
        self.journal.close()
        self.lifeline.release()


def judge_run(loaded: LoadedExperiment, run_dir: Path) -> list[Verdict]:
    """Judge a finished run from its folder: timeline and read-back files (also used to
    re-judge offline)."""
    return judge_data(loaded.experiment, RunData.load(run_dir))


def write_report(result: RunResult, experiment: Experiment) -> None:
    report = {
        "schema": "hchaos.report/1",
        "experiment": experiment.name,
        "run_dir": str(result.run_dir),
        "outcome": result.outcome.value,
        "exit_code": result.exit_code,
        "heal_errors": result.heal_errors,
        "halted": result.halted,
        "aborted": result.aborted,
        "load": None if result.load is None else {**asdict(result.load), "counts_match": result.load.counts_match},
        "verdicts": [v.to_json() for v in result.verdicts],
    }
    (result.run_dir / "report.json").write_text(json.dumps(report, indent=2))
