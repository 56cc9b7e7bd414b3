"""The library's public API: what a script drives the harness with, in one import.

Everything a hospital team scripts against is here: experiment files (load, validate, the JSON
Schema), the topology, running and judging a run, the local backend, faults and their rollback,
the probers, the timeline, the errors and the exit codes. Names not listed in ``__all__`` (and
the sub-modules' own names) may change between versions; these are kept stable.

Loading and validating an experiment, as ``hchaos validate`` does (run from the repository's
root)::

    >>> from harness import api
    >>> loaded = api.load_experiment("experiments/dc-a-power-loss.yaml")
    >>> loaded.experiment.name
    'dc-a-power-loss'
    >>> [plan.label for plan in api.plan_faults(loaded)]   # names checked against the topology
    ['power-dc-a']
    >>> [instance.name for instance in api.validate_topology(loaded).instances]
    ['ehr-a', 'ehr-b']

Bad input is one :class:`ExperimentError` listing every problem, located in the file (exit code 2)::

    >>> try:
    ...     api.parse_experiment("{version: 1, name: Bad Name}")
    ... except api.ExperimentError as exc:
    ...     print(exc.exit_code == api.EXIT_INVALID_INPUT, exc.issues[0].yaml_path, exc.issues[0].line)
    True name 1

Running it (a minute or so; needs the tools ``hchaos doctor`` lists), then re-judging the run
offline from its folder, as ``hchaos run`` and ``hchaos report`` do::

    result = api.run_experiment(loaded, api.default_runs_dir())   # heals and stops everything, always
    for verdict in result.verdicts:
        print(verdict.check, verdict.outcome.value, verdict.measured, verdict.bound)
    again = api.judge_run(api.load_experiment(result.run_dir / "experiment.yaml"), result.run_dir)
    assert api.worst(v.outcome for v in again) is result.outcome
    raise SystemExit(result.exit_code)                             # api.EXIT_PASS when every check passed

What a run would contact and do, for approval, without starting anything (``hchaos plan``):
``api.build_run_plan(loaded)`` (``.allowed``, ``.contacts``, ``.actions``, ``.to_json()``);
``api.request_abort(run_dir, "why")`` stops a running one from elsewhere (``hchaos abort``).

A run killed half-way leaves toxics and processes behind: ``api.rollback_run(run_dir)`` for each
of ``api.unfinished_runs(api.default_runs_dir())`` undoes them (``hchaos rollback``).

Importing this module is cheap: each name is imported on first use (PEP 562), so a script that
only validates never imports Polars, httpx or the checkers.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.backends import Backend, Endpoints
    from harness.backends.local import LocalBackend, LocalOptions
    from harness.checks import Outcome, Verdict, worst
    from harness.errors import (
        EXIT_ABORTED,
        EXIT_CHECK_FAILED,
        EXIT_INFRASTRUCTURE,
        EXIT_INVALID_INPUT,
        EXIT_PASS,
        HarnessError,
        InfrastructureError,
        InvalidInput,
        ToolMissing,
    )
    from harness.experiment import (
        Experiment,
        ExperimentError,
        ExperimentIssue,
        LoadedExperiment,
        experiment_json_schema,
        load_experiment,
        parse_experiment,
    )
    from harness.faults import (
        FaultPlan,
        Nemesis,
        RollbackResult,
        plan_fault,
        rollback_run,
        unfinished_runs,
    )
    from harness.interrupt import Interrupted, Interruption
    from harness.probe import Prober, ProberSettings, ProbeTarget, make_prober
    from harness.run import Journal
    from harness.run.abort import request_abort
    from harness.runner import (
        RunObserver,
        RunResult,
        SilentObserver,
        default_runs_dir,
        judge_run,
        plan_faults,
        run_experiment,
    )
    from harness.runner.targets import validate_topology
    from harness.runplan import RunPlan, build_run_plan
    from harness.timeline import TimelineWriter, read_timeline
    from harness.topology import (
        Instance,
        Link,
        Service,
        Site,
        Topology,
        TopologyProblems,
        build_topology,
        reference_topology,
    )

# Each name from its package where the package re-exports it (a move inside a package then
# changes nothing here); tests/test_api.py checks that every one resolves.
_WHERE: dict[str, str] = {
    # experiment files
    "Experiment": "harness.experiment",
    "ExperimentError": "harness.experiment",
    "ExperimentIssue": "harness.experiment",
    "LoadedExperiment": "harness.experiment",
    "experiment_json_schema": "harness.experiment",
    "load_experiment": "harness.experiment",
    "parse_experiment": "harness.experiment",
    "plan_faults": "harness.runner",
    "validate_topology": "harness.runner.targets",
    "RunPlan": "harness.runplan",
    "build_run_plan": "harness.runplan",
    # topology
    "Instance": "harness.topology",
    "Link": "harness.topology",
    "Service": "harness.topology",
    "Site": "harness.topology",
    "Topology": "harness.topology",
    "TopologyProblems": "harness.topology",
    "build_topology": "harness.topology",
    "reference_topology": "harness.topology",
    # running and judging
    "RunObserver": "harness.runner",
    "RunResult": "harness.runner",
    "SilentObserver": "harness.runner",
    "default_runs_dir": "harness.runner",
    "judge_run": "harness.runner",
    "run_experiment": "harness.runner",
    "request_abort": "harness.run.abort",
    "Interrupted": "harness.interrupt",
    "Interruption": "harness.interrupt",
    "Outcome": "harness.checks",
    "Verdict": "harness.checks",
    "worst": "harness.checks",
    # backends
    "Backend": "harness.backends",
    "Endpoints": "harness.backends",
    "LocalBackend": "harness.backends.local",
    "LocalOptions": "harness.backends.local",
    # faults, the journal, rollback
    "FaultPlan": "harness.faults",
    "Journal": "harness.run",
    "Nemesis": "harness.faults",
    "RollbackResult": "harness.faults",
    "plan_fault": "harness.faults",
    "rollback_run": "harness.faults",
    "unfinished_runs": "harness.faults",
    # probes and the timeline
    "ProbeTarget": "harness.probe",
    "Prober": "harness.probe",
    "ProberSettings": "harness.probe",
    "make_prober": "harness.probe",
    "TimelineWriter": "harness.timeline",
    "read_timeline": "harness.timeline",
    # errors and exit codes
    "EXIT_ABORTED": "harness.errors",
    "EXIT_CHECK_FAILED": "harness.errors",
    "EXIT_INFRASTRUCTURE": "harness.errors",
    "EXIT_INVALID_INPUT": "harness.errors",
    "EXIT_PASS": "harness.errors",
    "HarnessError": "harness.errors",
    "InfrastructureError": "harness.errors",
    "InvalidInput": "harness.errors",
    "ToolMissing": "harness.errors",
}

__all__ = [
    "EXIT_ABORTED",
    "EXIT_CHECK_FAILED",
    "EXIT_INFRASTRUCTURE",
    "EXIT_INVALID_INPUT",
    "EXIT_PASS",
    "Backend",
    "Endpoints",
    "Experiment",
    "ExperimentError",
    "ExperimentIssue",
    "FaultPlan",
    "HarnessError",
    "InfrastructureError",
    "Instance",
    "Interrupted",
    "Interruption",
    "InvalidInput",
    "Journal",
    "Link",
    "LoadedExperiment",
    "LocalBackend",
    "LocalOptions",
    "Nemesis",
    "Outcome",
    "ProbeTarget",
    "Prober",
    "ProberSettings",
    "RollbackResult",
    "RunObserver",
    "RunPlan",
    "RunResult",
    "Service",
    "SilentObserver",
    "Site",
    "TimelineWriter",
    "ToolMissing",
    "Topology",
    "TopologyProblems",
    "Verdict",
    "build_run_plan",
    "build_topology",
    "default_runs_dir",
    "experiment_json_schema",
    "judge_run",
    "load_experiment",
    "make_prober",
    "parse_experiment",
    "plan_fault",
    "plan_faults",
    "read_timeline",
    "reference_topology",
    "request_abort",
    "rollback_run",
    "run_experiment",
    "unfinished_runs",
    "validate_topology",
    "worst",
]


def _import_on_first_use(name: str) -> Any:
    """Import ``name`` from where it lives on first use, and keep it (later uses are plain lookups)."""
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if not TYPE_CHECKING:
    # Bound at run time only: a type checker sees just the imports above, so a script's typo
    # (``api.load_experimnt``) is its error, not an ``Any``.
    __getattr__ = _import_on_first_use
