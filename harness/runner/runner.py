"""The runner: up -> steady state -> scheduled faults -> heal -> recovery -> checks -> report.

Safety contract: once anything has started, the ``finally`` block heals every active fault
and stops every process, whether the run ends normally, a check fails, an exception is
raised, or the user presses Ctrl-C / sends SIGTERM. The journal, written before every fault,
covers the one case ``finally`` cannot: a SIGKILLed runner (``hchaos rollback``).

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

import httpx
import polars as pl

from harness.backends import CareOptions, DataOptions, EhrOptions, ImagingOptions, MessagingOptions, ServiceOptions
from harness.backends.local import FrontDoorTiming, LocalBackend, LocalOptions
from harness.checks import Outcome, RunData, Verdict, judge_data, worst
from harness.checks.schedule_staleness import SCHEDULE_PREFIX
from harness.errors import EXIT_CHECK_FAILED, EXIT_PASS
from harness.experiment import DEGRADED_CHECKS, Experiment, LedgerCheck, LoadedExperiment
from harness.faults import FaultPlan, Journal, Nemesis, plan_fault
from harness.load.planner import build_plan
from harness.load.session import LoadSession, LoadSummary
from harness.probe import ProbeConfig, Prober
from harness.readback import READBACK_FILE, read_back, write_readback
from harness.readback.schedules import SCHEDULE_DIFFS_FILE, read_schedule_diffs, write_schedule_diffs
from harness.readback.table import READBACK_TABLE_FILE, write_readback_table
from harness.runner.halts import Halted, HaltMonitor
from harness.runner.observer import RunObserver, SilentObserver
from harness.runner.rundir import create_run_dir
from harness.runner.signals import signals_raise
from harness.runner.targets import topology_for, validate_services, validate_targets
from harness.timeline import (
    TIMELINE_FILE,
    HaltRecord,
    NotificationRecord,
    PhaseRecord,
    RequestTap,
    TimelineWriter,
)
from harness.timeline.events import PhaseName
from harness.timeline.store import load_run_timeline

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

    @property
    def exit_code(self) -> int:
        return EXIT_PASS if self.outcome is Outcome.PASS else EXIT_CHECK_FAILED


def local_options(experiment: Experiment) -> LocalOptions:
    """The local backend's knobs from the experiment's ``topology`` section."""
    config = experiment.topology
    ehr, door, care = config.ehr, config.front_door, config.care
    return LocalOptions(
        services=ServiceOptions(
            data=DataOptions(seed=config.data.seed, patients=config.data.patients),
            ehr=EhrOptions(replication=ehr.replication, sync_strict=ehr.sync_strict, promote_after=ehr.promote_after,
                           heartbeat_interval=ehr.heartbeat_interval, fencing=ehr.fencing, lease_ttl=ehr.lease_ttl),
            messaging=MessagingOptions(rotate=config.messaging.rotate, dedup=config.messaging.dedup,
                                       retry_interval=config.messaging.retry_interval,
                                       forward_timeout=config.messaging.forward_timeout),
            imaging=ImagingOptions(replication_interval=config.imaging.replication_interval),
            care=CareOptions(downtime_mode=care.downtime_mode, snapshot_interval=care.snapshot_interval,
                             max_snapshot_age=care.max_snapshot_age, breaker_failures=care.breaker_failures,
                             breaker_window=care.breaker_window, breaker_reset=care.breaker_reset,
                             dependency_timeout=care.dependency_timeout, max_patients=care.max_patients,
                             printer_fails=care.printer == "fail"),
        ),
        front_door=FrontDoorTiming(check_interval=door.check_interval, check_timeout=door.check_timeout,
                                   fall=door.fall, rise=door.rise),
        front_door_port=door.port,
    )


def plan_faults(loaded: LoadedExperiment) -> list[FaultPlan]:
    """Validate targets against the topology and plan every fault (raises InvalidInput)."""
    validate_services(loaded)
    topology = topology_for(loaded.experiment)
    validate_targets(loaded, topology)
    exp = loaded.experiment
    return [plan_fault(f, f.label, topology) for f in exp.faults]


def run_experiment(loaded: LoadedExperiment, runs_dir: Path, observer: RunObserver | None = None) -> RunResult:
    """Run ``loaded`` end to end and return its verdicts. Raises ``InvalidInput`` before
    anything starts; ``InfrastructureError`` if the topology cannot come up (after
    stopping whatever had started); ``KeyboardInterrupt``/``Terminated`` after healing."""
    obs = observer or SilentObserver()
    exp = loaded.experiment
    plans = plan_faults(loaded)
    topology = topology_for(exp)
    run_dir = create_run_dir(runs_dir, exp.name, loaded.path)
    result = RunResult(run_dir)
    journal = Journal(run_dir, run_dir.name)
    timeline = TimelineWriter(run_dir / TIMELINE_FILE)
    backend = LocalBackend(topology, run_dir, options=local_options(exp), journal=journal, timeline=timeline)
    nemesis: Nemesis | None = None
    prober: Prober | None = None
    load: LoadSession | None = None
    halts = HaltMonitor(exp.halt) if exp.halt else None
    tap = halts.observe if halts is not None else None
    current_phase: PhaseName = "up"
    status = "aborted"
    obs.run_started(str(run_dir), exp.name, exp.total_duration)

    def phase(name: PhaseName, seconds: float, body: Callable[[], None]) -> None:
        nonlocal current_phase
        current_phase = name
        obs.phase_started(name, seconds)
        timeline.append(PhaseRecord(time.time(), name, "start"))
        body()
        timeline.append(PhaseRecord(time.time(), name, "end"))
        timeline.flush()

    def wait(seconds: float, started: float) -> None:
        deadline = started + seconds
        while (now := time.monotonic()) < deadline:
            time.sleep(min(TICK, deadline - now))
            timeline.flush()
            if load is not None:
                load.check_running()
            obs.tick(time.monotonic() - started, prober.stats.snapshot() if prober else None,
                     nemesis.active if nemesis else [], load.stats() if load else None)
            if halts is not None and (reason := halts.check(current_phase, time.time())) is not None:
                raise Halted(reason)

    cleaned = False

    def clean_up() -> None:
        """Heal, stop, close: each step runs even if an earlier one failed. Runs once, from
        ``finally`` or, as a safety net, at interpreter exit."""
        nonlocal cleaned
        if cleaned:
            return
        cleaned = True
        steps: list[tuple[str, Callable[[], None]]] = []
        if load is not None:
            session = load
            steps.append(("stop the load", lambda: stop_load(session)))
        if prober is not None:
            steps.append(("stop the prober", prober.stop))
        if nemesis is not None:
            active = nemesis

            def heal() -> None:
                result.heal_errors += active.heal_all()
                active.close()
            steps.append(("heal faults", heal))
        steps += [("stop processes", backend.down), ("close the timeline", timeline.close)]
        for what, step in steps:
            try:
                step()
            except Exception as exc:  # keep cleaning: a leftover fault or process is worse
                result.heal_errors.append(f"could not {what}: {type(exc).__name__}: {exc}")
        for message in result.heal_errors:
            obs.event(f"[red]{message}")
        journal.run_ended(status if not result.heal_errors else f"{status}-with-cleanup-errors")
        journal.close()

    def stop_load(session: LoadSession) -> None:
        summary = session.stop()
        result.load = summary
        obs.event(summary.describe() if summary.counts_match else f"[red]{summary.describe()}")

    atexit.register(clean_up)
    try:
        with signals_raise():
            def bring_up() -> None:
                nonlocal nemesis
                t0 = time.monotonic()
                endpoints = backend.up()
                obs.event(f"topology up in {time.monotonic() - t0:.2f}s: front door {endpoints.front_door_url}, "
                          f"Toxiproxy {endpoints.toxiproxy_url}")
                nemesis = Nemesis(endpoints, backend, journal, timeline, on_event=obs.event)

            phase("up", 0, bring_up)
            assert backend.endpoints is not None
            prober = Prober(ProbeConfig(
                base_url=backend.endpoints.front_door_url, service=exp.probe.service, rate=exp.probe.rate,
                timeout=exp.probe.timeout, mix=exp.probe.mix.weights(), run_id=run_dir.name), timeline, tap=tap)
            prober.start()
            if exp.load is not None:
                load = _start_load(exp, backend, run_dir, journal, timeline, obs, tap)
                if not load.wait_started():
                    obs.event("[yellow]load: no request recorded yet; starting the steady state anyway")
            phase("steady_state", exp.phases.steady_state,
                  lambda: wait(exp.phases.steady_state, time.monotonic()))
            assert nemesis is not None
            active_nemesis = nemesis
            phase("faults", exp.fault_phase_duration,
                  lambda: _run_fault_schedule(plans, active_nemesis, obs, wait))
            phase("recovery", exp.phases.recovery, lambda: wait(exp.phases.recovery, time.monotonic()))
            if load is not None:
                stop_load(load)
                load = None
            prober.stop()
            prober = None
            _collect_notifications(backend, timeline, obs)
            ledger_services = {check.service for check in exp.checks if isinstance(check, LedgerCheck)}
            ledger_services |= {"care" for check in exp.checks if check.type in DEGRADED_CHECKS}
            ledger_services |= {check.service for check in exp.checks if check.type == "lab_turnaround"}
            if ledger_services:
                _read_back(backend, ledger_services, run_dir, timeline, obs)
            if any(check.type == "schedule_staleness" for check in exp.checks):
                _read_schedule_diffs(backend, run_dir, timeline, obs)
            status = "completed"
    except Halted as halt:
        # Faults are healed and processes stopped by clean_up below, like any early end.
        result.halted = halt.reason.describe()
        now = time.time()
        timeline.append(PhaseRecord(now, current_phase, "end"))
        timeline.append(HaltRecord(now, halt.reason.condition, halt.reason.service, result.halted))
        obs.event(f"[bold red]{result.halted}: stopping the faults, healing everything, ending the run")
        status = "halted"
    finally:
        clean_up()
        atexit.unregister(clean_up)

    result.verdicts = judge_run(loaded, run_dir)
    result.outcome = worst(v.outcome for v in result.verdicts)
    write_report(result, exp)
    obs.verdicts(result.verdicts)
    return result


def _start_load(exp: Experiment, backend: LocalBackend, run_dir: Path, journal: Journal, timeline: TimelineWriter,
                obs: RunObserver, tap: RequestTap | None) -> LoadSession:
    """Start the experiment's load and wait for its first request (bounded). The session is
    returned even when waiting fails, so that the caller's clean-up stops it."""
    assert exp.load is not None and backend.endpoints is not None
    sites = {instance.name: instance.site for instance in backend.topology.instances}
    load = LoadSession(build_plan(exp, backend.endpoints, run_dir, run_dir.name, sites), run_dir, timeline,
                       processes=exp.load.processes, remote_workers=exp.load.remote_workers,
                       master_bind=(exp.load.master_bind, exp.load.master_port) if exp.load.remote_workers else None,
                       journal=journal, on_event=obs.event, tap=tap)
    load.start()
    personas = ", ".join(f"{name} x{p.weight:g}" for name, p in load.plan.personas.items())
    obs.event(f"load: up to {max(s.users for s in load.plan.stages)} users ({personas}), "
              f"{exp.load.processes} Locust process(es), log {run_dir.name}/locust.log")
    return load


def _run_fault_schedule(plans: list[FaultPlan], nemesis: Nemesis, obs: RunObserver,
                        wait: Callable[[float, float], None]) -> None:
    """Inject each plan at its ``at`` and heal it at ``at + duration`` (offsets from now)."""
    events: list[tuple[float, int, str, FaultPlan]] = []
    for plan in plans:
        # Heals sort before injects at the same instant (0 < 1): back-to-back faults on one
        # target do not overlap.
        events.append((plan.at, 1, "inject", plan))
        events.append((plan.ends_at, 0, "heal", plan))
    events.sort(key=lambda e: (e[0], e[1]))
    started = time.monotonic()
    for offset, _, action, plan in events:
        remaining = started + offset - time.monotonic()
        if remaining > 0:
            wait(remaining, time.monotonic())
        if action == "inject":
            seconds = nemesis.inject(plan)
            obs.event(f"injected {plan.label} ({plan.fault_type} {plan.target}): {plan.describe()} "
                      f"[Toxiproxy part in {seconds * 1000:.0f} ms]")
        else:
            nemesis.heal(plan)
            obs.event(f"healed {plan.label} ({plan.fault_type} {plan.target})")


def _collect_notifications(backend: LocalBackend, timeline: TimelineWriter, obs: RunObserver) -> None:
    """Put what the out-of-band notification sink received during the run on the timeline (the
    sink's own receive times: the checks measure when a notification got out, not when sent)."""
    assert backend.endpoints is not None
    sink = backend.endpoints.instance_urls.get("notify")
    if sink is None:
        return
    try:
        answer = httpx.get(f"{sink}/notifications", timeout=5.0)
        answer.raise_for_status()
        received = answer.json()["notifications"]
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        obs.event(f"[yellow]could not read the notification sink: {type(exc).__name__}: {exc}")
        return
    for item in received:
        timeline.append(NotificationRecord(float(item["received_at"]), str(item["event"]), str(item["source"]),
                                           item.get("t"), item.get("reason")))
    obs.event(f"notifications: {len(received)} received by the out-of-band channel "
              f"({', '.join(sorted({str(i['event']) for i in received})) or 'none'})")


def _read_schedule_diffs(backend: LocalBackend, run_dir: Path, timeline: TimelineWriter, obs: RunObserver) -> None:
    """After recovery: each care workstation's schedule diff for the wards of the schedules the
    run changed, into the run folder (for the schedule-staleness check, and re-judging)."""
    assert backend.endpoints is not None
    scheduling = backend.endpoints.front_door_urls.get("scheduling")
    if scheduling is None or not backend.endpoints.workstation_urls:
        obs.event("[yellow]schedule diffs: the run has no scheduling service or no care workstation")
        return
    timeline.checkpoint()
    written = load_run_timeline(run_dir).requests.filter(
        pl.col("ok") & pl.col("resource_id").cast(pl.String).str.starts_with(SCHEDULE_PREFIX)
    ).select(pl.col("resource_id").cast(pl.String).str.strip_prefix(SCHEDULE_PREFIX)).unique().collect().to_series()
    diffs = read_schedule_diffs(scheduling, backend.endpoints.workstation_urls, written.to_list())
    write_schedule_diffs(run_dir / SCHEDULE_DIFFS_FILE, diffs)
    obs.event(f"schedule diffs: {len(written)} changed schedule(s), read from "
              f"{len(backend.endpoints.workstation_urls)} workstation(s)")


def _read_back(backend: LocalBackend, services: set[str], run_dir: Path, timeline: TimelineWriter,
               obs: RunObserver) -> None:
    """After recovery, with every client stopped: read back every write of ``services``
    through the front doors (FHIR creates and HL7 results from the EHR, images from the
    archive), into the run folder (for the ledger, and offline re-judging)."""
    assert backend.endpoints is not None
    timeline.checkpoint()  # every request so far in the segments: the keys come from the columns
    keys = load_run_timeline(run_dir).requests.filter(
        pl.col("service").cast(pl.String).is_in(sorted(services)) & pl.col("write_key").is_not_null()
    ).select("write_key").collect().get_column("write_key").to_list()
    started = time.monotonic()
    results = read_back(backend.endpoints.front_door_urls, keys,
                             progress=lambda done, total: obs.event(f"read back {done}/{total} writes")
                             if total >= 2000 else None)
    write_readback(run_dir / READBACK_FILE, results)
    write_readback_table(run_dir / READBACK_TABLE_FILE, results)
    failed = sum(1 for r in results if r.error)
    obs.event(f"read back {len(results)} writes in {time.monotonic() - started:.1f}s"
              + (f" ([yellow]{failed} could not be read[/])" if failed else ""))


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
        "load": None if result.load is None else {**asdict(result.load), "counts_match": result.load.counts_match},
        "verdicts": [v.to_json() for v in result.verdicts],
    }
    (result.run_dir / "report.json").write_text(json.dumps(report, indent=2))
