"""The experiment models: defaults, each fault and check type, cross-field rules, helpers."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from harness.experiment import (
    CHECK_TYPES,
    FAULT_TYPES,
    LINK_FAULT_TYPES,
    AvailabilityCheck,
    BandwidthFault,
    BlackholeFault,
    Experiment,
    FailoverTimeCheck,
    KillFault,
    LatencyFault,
    LinkDownFault,
    PartitionFault,
    PauseFault,
    PowerLossFault,
    ProbeMix,
    ResetPeerFault,
    RestartFault,
)
from harness.experiment.base import CONSISTENCY_ERROR, Problem
from harness.experiment.faults import ActionFault, ClockSkewFault, DiskFullFault

MINIMAL: dict[str, Any] = {"version": 1, "name": "minimal"}


def experiment(**fields: Any) -> Experiment:
    return Experiment.model_validate({**MINIMAL, **fields})


def test_minimal_experiment_gets_every_default() -> None:
    e = experiment()
    assert e.description is None
    assert e.backend == "local"
    assert e.topology.preset == "reference"
    assert e.topology.ehr.replication == "sync"
    assert e.topology.ehr.promote_after == 3.0
    assert e.topology.ehr.heartbeat_interval == 0.2
    assert e.topology.front_door.check_interval == 0.2
    assert e.topology.front_door.check_timeout == 0.3
    assert e.topology.front_door.fall == 2
    assert e.topology.front_door.rise == 2
    assert e.probe.service is None  # the EHR when it runs, else the first service (harness.runner.probe_target)
    assert e.probe.rate == 20.0
    assert e.probe.timeout == 1.0
    assert e.probe.mix.weights() == {"read": 6.0, "create": 3.0, "search": 1.0}
    assert e.phases.steady_state == 5.0
    assert e.phases.recovery == 15.0
    assert e.faults == ()
    assert e.checks == ()


def test_partial_mix_leaves_other_weights_at_zero() -> None:
    assert experiment(probe={"mix": {"create": 1}}).probe.mix.weights() == {
        "read": 0.0, "create": 1.0, "search": 0.0,
    }


def test_mix_must_not_be_all_zero() -> None:
    with pytest.raises(ValidationError, match="at least one of read, create, search"):
        ProbeMix(read=0, create=0, search=0)


@pytest.mark.parametrize(("rate", "ok"), [(0.5, True), (500, True), (0, False), (500.5, False), (-1, False)])
def test_probe_rate_bounds(rate: float, ok: bool) -> None:
    if ok:
        assert experiment(probe={"rate": rate}).probe.rate == rate
    else:
        with pytest.raises(ValidationError):
            experiment(probe={"rate": rate})


@pytest.mark.parametrize(("field", "value"), [
    ("fall", True), ("fall", 2.5), ("fall", 0), ("rise", "2"),
])
def test_front_door_counts_are_strict_positive_integers(field: str, value: object) -> None:
    with pytest.raises(ValidationError):
        experiment(topology={"front_door": {field: value}})


@pytest.mark.parametrize("version", [2, 0, "1", True, 1.0])
def test_only_integer_version_1(version: object) -> None:
    with pytest.raises(ValidationError):
        experiment(version=version)


@pytest.mark.parametrize("name", ["", "Upper", "-leading-dash", "under_score", "sp ace"])
def test_experiment_name_pattern(name: str) -> None:
    with pytest.raises(ValidationError):
        experiment(name=name)


def test_models_are_frozen() -> None:
    e = experiment()
    with pytest.raises(ValidationError):
        e.name = "other"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        e.phases.recovery = 1.0  # type: ignore[misc]


# -- faults --------------------------------------------------------------------------------

FAULTS: list[tuple[dict[str, Any], type, dict[str, Any]]] = [
    (
        {"type": "power_loss", "target": "dc-a", "duration": "10s"},
        PowerLossFault,
        {"target": "dc-a", "at": 0.0, "duration": 10.0},
    ),
    (
        {"type": "latency", "target": "frontdoor-ehr-a", "latency": "200ms", "duration": 5},
        LatencyFault,
        {"latency": 0.2, "jitter": 0.0, "direction": "downstream"},
    ),
    (
        {"type": "bandwidth", "target": "repl-ehr-a-b", "rate_kbps": 64, "duration": "5s"},
        BandwidthFault,
        {"rate_kbps": 64, "direction": "downstream"},
    ),
    (
        {"type": "blackhole", "target": "repl-ehr-a-b", "duration": "5s"},
        BlackholeFault,
        {"direction": "both"},
    ),
    (
        {"type": "reset_peer", "target": "frontdoor-ehr-b", "duration": "5s"},
        ResetPeerFault,
        {"after": 0.0, "direction": "upstream"},
    ),
    (
        {"type": "link_down", "target": "frontdoor-ehr-a", "duration": "1m"},
        LinkDownFault,
        {"duration": 60.0},
    ),
    ({"type": "kill", "target": "ehr-a", "duration": "5s"}, KillFault, {"restart": True}),
    ({"type": "pause", "target": "ehr-a", "duration": "5s"}, PauseFault, {"at": 0.0}),
    ({"type": "restart", "target": "ehr-a", "duration": "5s"}, RestartFault, {"duration": 5.0}),
    ({"type": "clock_skew", "target": "ehr-a", "offset": "+30s", "duration": "5s"}, ClockSkewFault,
     {"offset": 30.0, "rate": 1.0, "faketime": "+30.000"}),
    ({"type": "disk_full", "target": "ehr-a", "duration": "5s"}, DiskFullFault, {"size_mb": 64}),
    ({"type": "partition", "groups": [["dc-a"], ["dc-b"]], "duration": "5s"}, PartitionFault,
     {"one_way": False, "target": "dc-a | dc-b"}),
    ({"type": "action", "target": "ehr-vm-a", "inject": ["true"], "heal": ["true"], "duration": "5s"}, ActionFault,
     {"timeout": 60.0, "workdir": None, "hosts": ()}),
]


def test_fault_table_covers_every_type() -> None:
    assert sorted(raw["type"] for raw, _, _ in FAULTS) == list(FAULT_TYPES)
    assert len(FAULT_TYPES) == 13
    assert frozenset(FAULT_TYPES) - LINK_FAULT_TYPES == {"power_loss", "partition", "kill", "pause", "restart",
                                                         "clock_skew", "disk_full", "action"}


@pytest.mark.parametrize(("raw", "model", "defaults"), FAULTS, ids=[r["type"] for r, _, _ in FAULTS])
def test_fault_type_selects_model_and_defaults(
    raw: dict[str, Any], model: type, defaults: dict[str, Any]
) -> None:
    (fault,) = experiment(faults=[raw]).faults
    assert type(fault) is model
    for field, value in defaults.items():
        assert getattr(fault, field) == value


@pytest.mark.parametrize(("raw", "model", "defaults"), FAULTS, ids=[r["type"] for r, _, _ in FAULTS])
def test_fault_round_trips_through_dump(
    raw: dict[str, Any], model: type, defaults: dict[str, Any]
) -> None:
    e = experiment(faults=[raw])
    dumped = e.model_dump(mode="json")
    assert Experiment.model_validate(dumped) == e
    assert dumped["faults"][0]["type"] == raw["type"]


def test_fault_names_default_to_type_and_index() -> None:
    e = experiment(faults=[
        {"type": "latency", "target": "l", "latency": "1ms", "duration": 1},
        {"type": "link_down", "target": "l", "duration": 1, "name": "cut"},
        {"type": "latency", "target": "l", "latency": "1ms", "duration": 1},
    ])
    assert [f.label for f in e.faults] == ["latency-0", "cut", "latency-2"]
    assert [f.name for f in e.faults] == ["latency-0", "cut", "latency-2"]


def test_standalone_fault_label_without_index() -> None:
    fault = LinkDownFault(type="link_down", target="l", duration=1)
    assert fault.label == "link_down"
    assert fault.label_at(4) == "link_down-4"
    assert LinkDownFault(type="link_down", target="l", duration=1, name="x").label_at(4) == "x"


def test_discriminator_picks_only_the_named_model() -> None:
    # A latency field on a power_loss fault is unknown to power_loss, even though
    # another fault type has it: the discriminator decides, not the best match.
    with pytest.raises(ValidationError) as caught:
        experiment(faults=[{"type": "power_loss", "target": "dc-a", "duration": 1, "latency": "1s"}])
    (error,) = caught.value.errors()
    assert error["type"] == "extra_forbidden"
    assert error["loc"] == ("faults", 0, "power_loss", "latency")


def test_unknown_discriminator_lists_expected_tags() -> None:
    with pytest.raises(ValidationError) as caught:
        experiment(faults=[{"type": "powerloss", "target": "dc-a", "duration": 1}])
    (error,) = caught.value.errors()
    assert error["type"] == "union_tag_invalid"
    assert "power_loss" in error["ctx"]["expected_tags"]


def test_missing_discriminator() -> None:
    with pytest.raises(ValidationError) as caught:
        experiment(checks=[{"max": "1s"}])
    (error,) = caught.value.errors()
    assert error["type"] == "union_tag_not_found"
    assert error["loc"] == ("checks", 0)


@pytest.mark.parametrize("field", ["at", "jitter"])
def test_negative_durations_rejected(field: str) -> None:
    raw = {"type": "latency", "target": "l", "latency": "1ms", "duration": 1, field: "-1s"}
    with pytest.raises(ValidationError, match="cannot be negative"):
        experiment(faults=[raw])


def test_bandwidth_rate_is_a_positive_integer() -> None:
    for rate in (0, -5, 1.5, "64"):
        with pytest.raises(ValidationError):
            experiment(faults=[{"type": "bandwidth", "target": "l", "rate_kbps": rate, "duration": 1}])


# -- checks --------------------------------------------------------------------------------


def test_check_defaults() -> None:
    e = experiment(
        faults=[{"type": "power_loss", "target": "dc-a", "duration": 10}],
        checks=[{"type": "availability"}, {"type": "failover_time", "max": "8s"}],
    )
    availability, failover = e.checks
    assert isinstance(availability, AvailabilityCheck)
    assert availability.service == "ehr"
    assert availability.phases == ("steady_state",)
    assert availability.max_error_rate == 0.01
    assert availability.max_p95 == 0.5
    assert availability.label == "availability-0"
    assert isinstance(failover, FailoverTimeCheck)
    assert failover.service == "ehr"
    assert failover.fault is None
    assert failover.max == 8.0
    assert failover.sustained == 1.0
    assert failover.min_success_rate == 1.0
    assert failover.label == "failover_time-1"
    assert sorted(CHECK_TYPES) == [
        "availability", "blast_radius", "downtime_orders", "failover_time", "lab_turnaround", "ledger",
        "patient_identity", "reconnection", "recovery_order", "schedule_staleness", "split_brain", "staleness",
        "time_to_degraded"]


@pytest.mark.parametrize("phases", [[], ["fault"], ["recovery", "recovery"]])
def test_availability_phases(phases: list[str]) -> None:
    with pytest.raises(ValidationError):
        experiment(checks=[{"type": "availability", "phases": phases}])


@pytest.mark.parametrize(("field", "value"), [
    ("max_error_rate", -0.1), ("max_error_rate", 1.5), ("max_p95", 0),
])
def test_availability_bounds(field: str, value: object) -> None:
    with pytest.raises(ValidationError):
        experiment(checks=[{"type": "availability", field: value}])


@pytest.mark.parametrize(("rate", "ok"), [(1.0, True), (0.5, True), (0, False), (1.01, False)])
def test_min_success_rate_bounds(rate: float, ok: bool) -> None:
    raw = {"faults": [{"type": "link_down", "target": "l", "duration": 1}],
           "checks": [{"type": "failover_time", "max": 1, "min_success_rate": rate}]}
    if ok:
        assert experiment(**raw).checks[0].min_success_rate == rate  # type: ignore[union-attr]
    else:
        with pytest.raises(ValidationError):
            experiment(**raw)


def test_failover_time_requires_max() -> None:
    with pytest.raises(ValidationError, match="max"):
        experiment(faults=[{"type": "link_down", "target": "l", "duration": 1}],
                   checks=[{"type": "failover_time"}])


# -- cross-field rules ----------------------------------------------------------------------


def _consistency_problems(error: ValidationError) -> tuple[Problem, ...]:
    (details,) = error.errors()
    assert details["type"] == CONSISTENCY_ERROR
    problems: tuple[Problem, ...] = details["ctx"]["problems"]
    return problems


def test_duplicate_fault_names_are_located_on_the_second() -> None:
    with pytest.raises(ValidationError) as caught:
        experiment(faults=[
            {"type": "link_down", "target": "l", "duration": 1, "name": "cut"},
            {"type": "link_down", "target": "m", "duration": 1, "name": "cut"},
        ])
    (problem,) = _consistency_problems(caught.value)
    assert problem.loc == ("faults", 1, "name")
    assert "already used by faults[0]" in problem.message


def test_explicit_name_clashing_with_a_default_name() -> None:
    with pytest.raises(ValidationError) as caught:
        experiment(faults=[
            {"type": "link_down", "target": "l", "duration": 1, "name": "link_down-1"},
            {"type": "link_down", "target": "m", "duration": 1},
        ])
    (problem,) = _consistency_problems(caught.value)
    assert problem.loc == ("faults", 1, "name")
    assert "called 'link_down-1' by default" in problem.message


def test_duplicate_check_names() -> None:
    with pytest.raises(ValidationError) as caught:
        experiment(checks=[{"type": "availability", "name": "a"}, {"type": "availability", "name": "a"}])
    (problem,) = _consistency_problems(caught.value)
    assert problem.loc == ("checks", 1, "name")


def test_failover_time_must_name_an_existing_fault() -> None:
    with pytest.raises(ValidationError) as caught:
        experiment(
            faults=[{"type": "power_loss", "target": "dc-a", "duration": 10, "name": "power-dc-a"}],
            checks=[{"type": "failover_time", "max": 8, "fault": "power-dc-b"}],
        )
    (problem,) = _consistency_problems(caught.value)
    assert problem.loc == ("checks", 0, "fault")
    assert "did you mean 'power-dc-a'?" in problem.message
    assert problem.expected == "one of: power-dc-a"
    assert problem.found == "'power-dc-b'"


def test_failover_time_may_name_a_default_label() -> None:
    e = experiment(
        faults=[{"type": "link_down", "target": "l", "duration": 1},
                {"type": "power_loss", "target": "dc-a", "duration": 10}],
        checks=[{"type": "failover_time", "max": 8, "fault": "power_loss-1"}],
    )
    check = e.checks[0]
    assert isinstance(check, FailoverTimeCheck)
    assert e.measured_fault(check) is e.faults[1]


def test_failover_time_requires_a_fault() -> None:
    with pytest.raises(ValidationError) as caught:
        experiment(checks=[{"type": "failover_time", "max": 8}])
    (problem,) = _consistency_problems(caught.value)
    assert problem.loc == ("checks", 0)
    assert "no faults" in problem.message


def test_all_cross_field_problems_reported_together() -> None:
    with pytest.raises(ValidationError) as caught:
        experiment(
            faults=[{"type": "link_down", "target": "l", "duration": 1, "name": "x"},
                    {"type": "link_down", "target": "l", "duration": 1, "name": "x"}],
            checks=[{"type": "failover_time", "max": 1, "fault": "y"},
                    {"type": "availability", "name": "z"}, {"type": "availability", "name": "z"}],
        )
    locs = [p.loc for p in _consistency_problems(caught.value)]
    assert locs == [("faults", 1, "name"), ("checks", 2, "name"), ("checks", 0, "fault")]
    # Without the loader, the message still names every path.
    assert "faults[1].name" in str(caught.value) and "checks[0].fault" in str(caught.value)


# -- computed helpers -----------------------------------------------------------------------


def test_fault_phase_duration_is_latest_end() -> None:
    e = experiment(
        phases={"steady_state": "5s", "recovery": "15s"},
        faults=[
            {"type": "link_down", "target": "l", "at": "2s", "duration": "10s"},
            {"type": "latency", "target": "l", "latency": "1ms", "at": "1s", "duration": "5s"},
        ],
    )
    assert [f.ends_at for f in e.faults] == [12.0, 6.0]
    assert e.fault_phase_duration == 12.0
    assert e.total_duration == 5 + 12 + 15


def test_fault_phase_is_empty_without_faults() -> None:
    e = experiment(phases={"steady_state": 1, "recovery": 0})
    assert e.fault_phase_duration == 0.0
    assert e.total_duration == 1.0


def test_measured_fault_defaults_to_first() -> None:
    e = experiment(
        faults=[{"type": "power_loss", "target": "dc-a", "duration": 10},
                {"type": "link_down", "target": "l", "duration": 1}],
        checks=[{"type": "failover_time", "max": 8}],
    )
    check = e.checks[0]
    assert isinstance(check, FailoverTimeCheck)
    assert e.measured_fault(check) is e.faults[0]


def test_fault_named_unknown_raises_key_error() -> None:
    with pytest.raises(KeyError):
        experiment().fault_named("nope")
