"""The experiment's load section: every bad input is one located error before anything starts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from harness.experiment import ExperimentError, load_experiment
from harness.load.planner import persona_plans, persona_problems
from harness.runner.planning import plan_faults


def _messages(path: Path) -> list[str]:
    with pytest.raises(ExperimentError) as caught:
        plan_faults(load_experiment(path))
    return [f"{i.yaml_path}: {i.message}" for i in caught.value.issues]


def test_a_minimal_load_section_takes_the_defaults(experiment_file: Callable[..., Path]) -> None:
    loaded = load_experiment(experiment_file("load: {}\n"))
    load = loaded.experiment.load
    assert load is not None and load.users == 20 and load.shape.type == "constant" and load.processes == 1
    plans = persona_plans(load, loaded.experiment.topology.services)
    assert set(plans) == {"nurse", "physician", "lab_system", "radiology_modality", "scheduler"}
    assert plans["nurse"].tasks == {"chart_review": 33, "vitals_entry": 24, "medication_administration": 17}


def test_unknown_persona_and_task_are_named_with_a_suggestion(experiment_file: Callable[..., Path]) -> None:
    messages = _messages(experiment_file("""
        load:
          personas:
            nurses: 1
            physician: {tasks: {chart_reveiw: 1}}
        """))
    assert any(m.startswith("load.personas.nurses: unknown persona 'nurses' (did you mean 'nurse'?)")
               for m in messages), messages
    assert any(m.startswith("load.personas.physician.tasks.chart_reveiw: unknown task") and "chart_review" in m
               for m in messages), messages


@pytest.mark.parametrize(("body", "where", "words"), [
    ("load: {personas: {nurse: 0, physician: 0}}\n", "load.personas", "add up to more than 0"),
    ("load: {personas: {nurse: {tasks: {chart_review: 0}}}}\n", "load.personas.nurse.tasks", "more than 0"),
    ("load: {personas: {nurse: {tasks: {chart_review: -1}}}}\n", "load.personas.nurse.tasks.chart_review",
     "negative"),
    ("load: {personas: {nurse: -2}}\n", "load.personas.nurse.weight", "at least 0"),
    ("load: {users: -5}\n", "load.users", "at least 1"),
    ("load: {shape: {type: stages, stages: [{until: 5s, users: -1}]}}\n", "load.shape.stages[0].users",
     "at least 0"),
    ("load: {shape: {type: stages, stages: [{until: 5s, users: 2}, {until: 3s, users: 1}]}}\n",
     "load.shape.stages", "time order"),
    ("load: {shape: {type: zigzag}}\n", "load.shape.type", "morning_rounds, ramp, shift_change"),
    ("load: {think_time: {min: 3s, max: 1s}}\n", "load.think_time", "above max"),
    ("load: {processes: 2, remote_workers: 2}\n", "load.remote_workers", "processes: 1"),
    ("load: {allow_hosts: ['http://x.example/']}\n", "load.allow_hosts", "no scheme"),
])
def test_bad_load_input_is_located(experiment_file: Callable[..., Path], body: str, where: str, words: str) -> None:
    messages = _messages(experiment_file(body))
    assert any(m.startswith(where + ":") and words in m for m in messages), messages


def test_a_persona_whose_service_does_not_run_is_an_error(experiment_file: Callable[..., Path]) -> None:
    messages = _messages(experiment_file("""
        topology: {services: [ehr]}
        load: {personas: {radiology_modality: 1, physician: {tasks: {imaging_review: 2, chart_review: 1}}}}
        """))
    assert any(m.startswith("load.personas.radiology_modality: persona 'radiology_modality' needs service "
                            "'imaging'") for m in messages), messages
    assert any(m.startswith("load.personas.physician.tasks.imaging_review:") and "'imaging'" in m
               for m in messages), messages


def test_default_personas_keep_only_tasks_on_running_services(experiment_file: Callable[..., Path]) -> None:
    loaded = load_experiment(experiment_file("topology: {services: [ehr]}\nload: {}\n"))
    load = loaded.experiment.load
    assert load is not None
    assert persona_problems(load, ("ehr",)) == []
    plans = persona_plans(load, ("ehr",))
    assert set(plans) == {"nurse", "physician"}
    assert set(plans["physician"].tasks) == {"chart_review", "documentation", "orders"}


def test_persona_weights_as_numbers_or_mappings(experiment_file: Callable[..., Path]) -> None:
    loaded = load_experiment(experiment_file(
        "load: {personas: {nurse: 3, physician: {weight: 2, tasks: {orders: 5}}, scheduler: 0}}\n"))
    load = loaded.experiment.load
    assert load is not None
    plans = persona_plans(load, loaded.experiment.topology.services)
    assert {n: p.weight for n, p in plans.items()} == {"nurse": 3, "physician": 2}
    assert plans["physician"].tasks == {"orders": 5}
