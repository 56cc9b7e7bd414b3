"""From an experiment's ``load`` section and a running topology's endpoints to the
:class:`~harness.load.plan.LoadPlan` that Locust runs.

Personas by default: every persona with at least one task on a running service, each with
the catalogue's weights, restricted to the running services. Explicit personas keep their
own weights; a task explicitly weighted on a service that does not run is an error found
earlier, by :func:`persona_problems`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from urllib.parse import urlsplit

from harness.backends import Endpoints
from harness.errors import InvalidInput
from harness.experiment import Experiment, LoadConfig
from harness.experiment.base import Loc
from harness.load.catalogue import PERSONAS
from harness.load.plan import RECORDS_FILE, STOP_FILE, SUMMARY_FILE, LoadPlan, PersonaPlan
from harness.load.safety import refused_hosts
from harness.load.shapes import compile_stages

LOAD_TAIL = 10.0
"""Seconds the shape runs past the planned end of the run: the harness stops the load
itself at the end of recovery; this only covers a slow fault injection or heal."""


def persona_problems(load: LoadConfig, services: Collection[str]) -> list[tuple[Loc, str]]:
    """Located problems of personas/tasks that need services not in the topology."""
    problems: list[tuple[Loc, str]] = []
    for name, persona in load.persona_loads().items():
        spec = PERSONAS[name]
        if persona.weight <= 0:
            continue
        if persona.tasks is not None:
            for task, weight in persona.tasks.items():
                service = spec.task(task).service
                if weight > 0 and service not in services:
                    problems.append((("load", "personas", name, "tasks", task),
                                     f"task {task!r} of {name} uses service {service!r}, which is not in "
                                     f"topology.services ({', '.join(services)})"))
        elif not any(task.service in services for task in spec.tasks):
            needed = sorted({task.service for task in spec.tasks})
            problems.append((("load", "personas", name),
                             f"persona {name!r} needs service {' or '.join(map(repr, needed))}, not in "
                             f"topology.services ({', '.join(services)})"))
    if load.personas is None and not _default_personas(services):
        problems.append((("load",), "no persona has work on the services of this topology "
                                    f"({', '.join(services)})"))
    return problems


def _default_personas(services: Collection[str]) -> dict[str, PersonaPlan]:
    plans = {}
    for spec in PERSONAS.values():
        tasks = {t.name: t.weight for t in spec.tasks if t.service in services}
        if tasks:
            plans[spec.name] = PersonaPlan(spec.weight, tasks)
    return plans


def persona_plans(load: LoadConfig, services: Collection[str]) -> dict[str, PersonaPlan]:
    """The personas to run (weight > 0) with their task weights (> 0, running services only)."""
    if load.personas is None:
        return _default_personas(services)
    plans = {}
    for name, persona in load.persona_loads().items():
        if persona.weight <= 0:
            continue
        spec = PERSONAS[name]
        written = persona.tasks if persona.tasks is not None else {t.name: t.weight for t in spec.tasks}
        tasks = {task: w for task, w in written.items() if w > 0 and spec.task(task).service in services}
        if tasks:
            plans[name] = PersonaPlan(persona.weight, tasks)
    return plans


def build_plan(experiment: Experiment, endpoints: Endpoints, run_dir: Path, run_id: str,
               instance_sites: Mapping[str, str] | None = None, services: Collection[str] | None = None,
               ) -> LoadPlan:
    """The plan for this run. Raises ``InvalidInput`` if a target is outside loopback and not
    allow-listed. ``experiment.load`` must be set. ``instance_sites`` (instance -> data center)
    lets MLLP records name the engine's data center. ``services`` are the harness's own services
    that run (the personas drive their APIs; default: the names in ``topology.services``)."""
    load = experiment.load
    assert load is not None, "build_plan needs an experiment with a load section"
    if services is None:
        services = [s if isinstance(s, str) else s.name for s in experiment.topology.services]
    # Messaging is reached over MLLP; its HTTP front door is for inspection, not for load.
    http_targets: dict[str, str] = {s: url for s, url in endpoints.front_door_urls.items()
                                    if s in services and s != "messaging"}
    if "care" in services and endpoints.workstation_urls:
        # the care application runs on each workstation (care-1, care-2...): every user sits at one
        http_targets |= dict(endpoints.workstation_urls)
        http_targets["care"] = endpoints.workstation_urls[min(endpoints.workstation_urls)]
    engines = set(instance_sites or endpoints.mllp) if "messaging" in services else set()
    mllp_names = sorted(n for n in endpoints.mllp if n in engines)  # msg-a (dc-a) first: the senders' primary
    mllp_targets = [endpoints.mllp[name] for name in mllp_names]
    hosts = [urlsplit(url).hostname or "" for url in http_targets.values()] + [h for h, _ in mllp_targets]
    # The run's own containers are the project's own targets, as loopback is.
    allowed = [*experiment.allow, *load.allow_hosts, *sorted(endpoints.own_hosts)]
    refused = refused_hosts(hosts, allowed)
    if refused:
        raise InvalidInput(f"load: the load would target {', '.join(refused)}, which is not loopback, nor one of the "
                           "run's own containers, nor allowed; add it to the experiment's allow: list to allow it")
    length = experiment.total_duration + LOAD_TAIL
    return LoadPlan(
        run_id=run_id,
        http_targets=http_targets,
        mllp_targets=mllp_targets,
        personas=persona_plans(load, services),
        stages=compile_stages(load, length, ramp_default=experiment.phases.steady_state),
        think_time=(load.think_time.min, load.think_time.max),
        timeout=load.timeout,
        patients=experiment.topology.data.patients,
        seed=experiment.topology.data.seed,
        records_path=str(run_dir / RECORDS_FILE),
        summary_path=str(run_dir / SUMMARY_FILE),
        stop_path=str(run_dir / STOP_FILE),
        extra={"allow_hosts": allowed, "mllp_names": mllp_names,
               "mllp_datacenters": [(instance_sites or {}).get(name) for name in mllp_names]},
    )
