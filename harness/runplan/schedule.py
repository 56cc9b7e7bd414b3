"""The time-ordered actions of a run, from its fault plans: which proxy gets which toxic with which
attributes, which proxy is disabled, which instance is killed, paused or restarted, at what
time -- and what each heal undoes. The same order the runner follows (heals before injects at
the same instant, :meth:`harness.runner.runner._Run._run_fault_schedule`).

Times are seconds from the start of the steady state: bring-up comes first and takes as long
as it takes (the systems' start-up is not part of the plan).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.experiment import Experiment
from harness.faults.plan import CommandAction, FaultPlan, InstanceAction
from harness.topology import Topology


@dataclass(frozen=True)
class Step:
    """One concrete action: ``kind`` on ``target`` (a proxy, an instance or a site), with its
    details (a toxic's type, stream and attributes; a site's instances)."""

    kind: str
    target: str
    detail: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        d = self.detail
        match self.kind:
            case "add toxic":
                attrs = ", ".join(f"{k}={v}" for k, v in d["attributes"].items())
                return f"proxy {self.target}: add toxic {d['name']} ({d['type']}, {d['stream']}" \
                       f"{', ' + attrs if attrs else ''})"
            case "remove toxic":
                return f"proxy {self.target}: remove toxic {d['name']}"
            case "disable proxy" | "enable proxy":
                return f"proxy {self.target}: {self.kind.split()[0]}"
            case "power off":
                return f"site {self.target}: SIGKILL every instance ({', '.join(d['instances']) or 'none'})"
            case "power on":
                return f"site {self.target}: start its instances again, wait until ready ({', '.join(d['instances'])})"
            case "run inject command" | "run heal command":
                hosts = f"; contacts {', '.join(d['hosts'])}" if d["hosts"] else ""
                return (f"{self.kind.removeprefix('run ')}: {' '.join(d['argv'])} (from {d['cwd']}, "
                        f"at most {d['timeout']:g}s{hosts})")
            case "clock skew":
                drift = "" if d["rate"] == 1 else f", running x{d['rate']:g}"
                return f"instance {self.target}: clock {d['offset']:+g}s{drift} (libfaketime)"
        return f"instance {self.target}: {self.kind}"


@dataclass(frozen=True)
class ScheduledAction:
    """What happens at ``at`` seconds: a phase starting, the probe and load, a fault's inject or
    heal (``fault`` names it) with its steps, or the end of the run."""

    at: float
    phase: str
    what: str
    summary: str
    fault: str | None = None
    steps: tuple[Step, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"at": round(self.at, 3), "phase": self.phase, "what": self.what, "summary": self.summary,
                "fault": self.fault, "steps": [{"kind": s.kind, "target": s.target, **s.detail} for s in self.steps]}


def inject_steps(plan: FaultPlan, topology: Topology) -> tuple[Step, ...]:
    """What the nemesis does at the inject of ``plan``, in its order (pauses, links, sites, kills,
    restarts)."""
    steps = [_instance_step(a) for a in plan.instances_to("pause")]
    steps += [Step("add toxic", t.link, {"name": t.toxic_name, "type": t.toxic.type, "stream": t.toxic.stream,
                                         "attributes": dict(t.toxic.attributes)}) for t in plan.toxics]
    steps += [Step("disable proxy", link) for link in plan.disabled_links]
    steps += [_instance_step(a) for a in (*plan.instances_to("clock_skew"), *plan.instances_to("disk_full"))]
    steps += [Step("power off", site, {"instances": _instances_of(topology, site)}) for site in plan.powered_off_sites]
    steps += [_instance_step(a) for a in (*plan.instances_to("kill"), *plan.instances_to("restart"))]
    steps += [_command_step("run inject command", c.inject, c) for c in plan.commands]
    return tuple(steps)


def heal_steps(plan: FaultPlan, topology: Topology) -> tuple[Step, ...]:
    """What the heal of ``plan`` undoes, in the nemesis's order (thaw, clocks and disks, the
    user's heal command, links, then power and killed instances: the network is back before
    the servers boot)."""
    steps = [Step("resume (SIGCONT)", a.instance) for a in plan.instances_to("pause")]
    steps += [Step("clock true again", a.instance) for a in plan.instances_to("clock_skew")]
    steps += [Step("delete the disk filler", a.instance) for a in plan.instances_to("disk_full")]
    steps += [_command_step("run heal command", c.heal, c) for c in plan.commands]
    steps += [Step("remove toxic", t.link, {"name": t.toxic_name}) for t in plan.toxics]
    steps += [Step("enable proxy", link) for link in plan.disabled_links]
    steps += [Step("power on", site, {"instances": _instances_of(topology, site)}) for site in plan.powered_off_sites]
    steps += [Step("start again, wait until ready", a.instance) for a in plan.instances_to("kill") if a.restart]
    return tuple(steps)


def build_schedule(exp: Experiment, plans: list[FaultPlan], topology: Topology) -> list[ScheduledAction]:
    """Every action of a run of ``exp``, in time order (see the module docstring)."""
    steady, faults_end = exp.phases.steady_state, exp.phases.steady_state + exp.fault_phase_duration
    end = faults_end + exp.phases.recovery
    actions = [ScheduledAction(0.0, "steady_state", "start", _start_summary(exp))]
    actions.append(ScheduledAction(steady, "faults", "phase", "the fault phase starts"))
    events: list[tuple[float, int, ScheduledAction]] = []
    for plan in plans:
        what = f"{plan.fault_type} {plan.target}"
        events.append((steady + plan.at, 1, ScheduledAction(
            steady + plan.at, "faults", "inject", f"inject {plan.label} ({what}, {plan.duration:g}s)", plan.label,
            inject_steps(plan, topology))))
        events.append((steady + plan.ends_at, 0, ScheduledAction(
            steady + plan.ends_at, "faults", "heal", f"heal {plan.label} ({what})", plan.label,
            heal_steps(plan, topology))))
    actions += [action for _, _, action in sorted(events, key=lambda e: (e[0], e[1]))]
    actions.append(ScheduledAction(faults_end, "recovery", "phase", "recovery starts: every fault healed"))
    checks = ", ".join(c.label for c in exp.checks) or "none"
    actions.append(ScheduledAction(end, "end", "end", f"load and probe stop; checks judged: {checks}"))
    return actions


def _start_summary(exp: Experiment) -> str:
    probe = f"probe {exp.probe.rate:g} req/s on {exp.probe.service or 'the default service'}"
    if exp.load is None:
        return f"{probe}; no load"
    personas = ", ".join(f"{name} x{p.weight:g}" for name, p in (exp.load.personas or {}).items()) or "every persona"
    return f"{probe}; load up to {exp.load.users} users ({personas})"


def _command_step(kind: str, argv: tuple[str, ...], command: CommandAction) -> Step:
    return Step(kind, argv[0], {"argv": list(argv), "cwd": command.cwd, "timeout": command.timeout,
                                "hosts": list(command.hosts)})


def _instances_of(topology: Topology, site: str) -> list[str]:
    return [i.name for i in topology.instances if i.site == site]


def _instance_step(action: InstanceAction) -> Step:
    match action.kind:
        case "kill":
            return Step("SIGKILL" + ("" if action.restart else " (left dead)"), action.instance)
        case "pause":
            return Step("freeze (SIGSTOP)", action.instance)
        case "restart":
            return Step("restart (SIGTERM, start, wait until ready)", action.instance)
        case "clock_skew":
            return Step("clock skew", action.instance, {"offset": action.offset, "rate": action.rate})
    return Step("fill the data filesystem until ENOSPC", action.instance)
