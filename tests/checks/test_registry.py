"""The check registry: every check type has one entry (a judge with the one signature, and the
collectors its verdict reads), and judging goes through it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from harness.checks import Outcome, judge
from harness.checks.registry import (
    COLLECTOR_NAMES,
    collectors_for,
    entry,
    readback_services,
    registry,
)
from harness.checks.rundata import RunData
from harness.experiment import CHECK_TYPES, Experiment, load_experiment

ALL_CHECKS = """
topology: {services: [ehr, messaging, imaging, labs, scheduling, care]}
faults:
  - {type: latency, name: lag, target: repl-ehr-a-b, latency: 10ms, at: 0s, duration: 1s}
checks:
  - {type: availability}
  - {type: failover_time, max: 5s}
  - {type: reconnection}
  - {type: blast_radius}
  - {type: ledger, service: imaging}
  - {type: split_brain}
  - {type: recovery_order, order: [ehr, labs]}
  - {type: time_to_degraded, max: 5s}
  - {type: staleness, max_age: 60s}
  - {type: downtime_orders}
  - {type: patient_identity}
  - {type: lab_turnaround, service: messaging}
  - {type: schedule_staleness}
"""

EXPECTED_COLLECTORS = {
    "availability": set(), "failover_time": set(), "reconnection": set(), "blast_radius": set(),
    "split_brain": set(), "recovery_order": set(), "staleness": set(),
    "ledger": {"readback"}, "downtime_orders": {"readback"}, "patient_identity": {"readback"},
    "lab_turnaround": {"readback"}, "time_to_degraded": {"notifications"}, "schedule_staleness": {"schedule_diffs"},
}


@pytest.fixture
def every_check(experiment_file: Callable[..., Path]) -> Experiment:
    experiment = load_experiment(experiment_file(ALL_CHECKS)).experiment
    assert sorted(c.type for c in experiment.checks) == sorted(CHECK_TYPES)
    return experiment


def test_every_check_type_has_exactly_one_entry() -> None:
    assert sorted(registry()) == sorted(CHECK_TYPES)
    assert all(entry(t).type == t for t in CHECK_TYPES)


def test_collectors_per_type() -> None:
    assert {t: set(entry(t).collectors) for t in CHECK_TYPES} == EXPECTED_COLLECTORS
    assert set().union(*EXPECTED_COLLECTORS.values()) == set(COLLECTOR_NAMES)


def test_an_unknown_type_is_a_key_error_naming_it() -> None:
    with pytest.raises(KeyError, match="no check of type 'nope' is registered; registered: availability"):
        entry("nope")


def test_what_the_experiment_needs_collected(every_check: Experiment) -> None:
    assert collectors_for(every_check.checks) == ("notifications", "readback", "schedule_diffs")
    # Read back: each readback check's own service; the staleness and time-to-degraded checks
    # of the care application read no write back.
    assert readback_services(every_check.checks) == {"imaging", "care", "messaging"}
    availability_only = [c for c in every_check.checks if c.type in ("availability", "staleness")]
    assert collectors_for(availability_only) == ()
    assert readback_services(availability_only) == set()


def test_every_judge_runs_through_the_registry(every_check: Experiment) -> None:
    verdicts = judge(every_check, [])
    assert [v.check_type for v in verdicts] == [c.type for c in every_check.checks]
    assert [v.check for v in verdicts] == [c.label for c in every_check.checks]
    # Nothing ran: every verdict is unknown for a stated reason, none because a judge crashed.
    assert all(v.outcome is Outcome.UNKNOWN for v in verdicts)
    assert not [v.summary for v in verdicts if "crashed" in v.summary]


def test_a_judge_refuses_a_check_of_another_type(every_check: Experiment) -> None:
    ledger = next(c for c in every_check.checks if c.type == "ledger")
    with pytest.raises(TypeError, match="the availability judge was given a ledger check"):
        entry("availability").judge(every_check, ledger, RunData.from_records([]))
