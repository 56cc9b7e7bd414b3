"""The instance faults and partitions in experiment files: they load, and bad ones get located errors
(from the loader for the shape, from :func:`fault_target_problems` for names against the topology)."""

from __future__ import annotations

import textwrap

import pytest

from harness.experiment import ExperimentError, LoadedExperiment, parse_experiment, raise_issues
from harness.experiment.faults import (
    FAULT_TYPES,
    INSTANCE_FAULT_TYPES,
    LINK_FAULT_TYPES,
    KillFault,
    PartitionFault,
    PauseFault,
    RestartFault,
)
from harness.runner.fault_targets import fault_target_problems
from harness.topology import reference_topology

FILE = "experiments/x.yaml"
TOPOLOGY = reference_topology()
EVERYTHING = frozenset(FAULT_TYPES)


def load(faults: str) -> LoadedExperiment:
    text = "version: 1\nname: x\nfaults:\n" + textwrap.indent(textwrap.dedent(faults), "  ")
    return parse_experiment(text, FILE)


def shape_errors(faults: str) -> list[str]:
    with pytest.raises(ExperimentError) as caught:
        load(faults)
    return [str(issue) for issue in caught.value.issues]


def target_errors(faults: str, supported: frozenset[str] = EVERYTHING) -> list[str]:
    """The located messages of every target problem (as ``hchaos validate`` prints them)."""
    loaded = load(faults)
    problems = fault_target_problems(loaded.experiment, TOPOLOGY, supported)
    if not problems:
        return []
    with pytest.raises(ExperimentError) as caught:
        raise_issues(loaded, problems)
    return [str(issue) for issue in caught.value.issues]


def test_every_new_fault_loads_with_its_defaults_and_targets_the_topology() -> None:
    loaded = load("""\
        - {type: kill, target: ehr-a, duration: 10s}
        - {type: kill, target: ehr-b, duration: 10s, restart: false, name: kill-for-good}
        - {type: pause, target: ehr-a, at: 1s, duration: 5s}
        - {type: restart, target: msg-a, duration: 20s}
        - {type: partition, groups: [[dc-a], [dc-b, campus]], duration: 10s}
        - {type: partition, groups: [[ehr-a], [ehr-b]], one_way: true, duration: 10s}
        """)
    kill, dead, pause, restart, split, one_way = loaded.experiment.faults
    assert isinstance(kill, KillFault) and kill.restart is True and kill.label == "kill-0"
    assert isinstance(dead, KillFault) and dead.restart is False and dead.label == "kill-for-good"
    assert isinstance(pause, PauseFault) and (pause.at, pause.duration, pause.target) == (1.0, 5.0, "ehr-a")
    assert isinstance(restart, RestartFault) and restart.target == "msg-a"
    assert isinstance(split, PartitionFault) and split.groups == (("dc-a",), ("dc-b", "campus"))
    assert split.one_way is False and split.target == "dc-a | dc-b,campus" and split.label == "partition-4"
    assert isinstance(one_way, PartitionFault) and one_way.target == "ehr-a -> ehr-b"
    assert fault_target_problems(loaded.experiment, TOPOLOGY, EVERYTHING) == []
    # A partition's dump has no target (it is not a field), so it loads again as written.
    assert "target" not in split.model_dump()
    assert PartitionFault.model_validate(split.model_dump()) == split


def test_fault_type_sets() -> None:
    assert {"kill", "pause", "restart", "partition"} <= set(FAULT_TYPES)
    assert {"kill", "pause", "restart", "clock_skew", "disk_full"} == INSTANCE_FAULT_TYPES
    assert {"latency", "bandwidth", "blackhole", "reset_peer", "link_down"} == LINK_FAULT_TYPES


@pytest.mark.parametrize(("faults", "message"), [
    ("- {type: partition, target: dc-a, groups: [[dc-a], [dc-b]], duration: 5s}",
     "experiments/x.yaml:4:23: faults[0].target: unknown field 'target'; allowed fields for type partition: "
     "at, duration, groups, name, one_way, type"),
    ("- {type: partition, groups: [[dc-a]], duration: 5s}",
     "experiments/x.yaml:4:31: faults[0].groups: expected a list of at least 2 items, found a list"),
    ("- {type: partition, groups: [[dc-a], []], duration: 5s}",
     "experiments/x.yaml:4:40: faults[0].groups[1]: expected a non-empty list, found an empty list"),
    ("- {type: kill, target: ehr-a, restart: 1, duration: 5s}",
     "experiments/x.yaml:4:42: faults[0].restart: expected true or false, found 1"),
    ("- {type: pause, duration: 5s}",
     "experiments/x.yaml:4:5: faults[0].target: missing required field 'target': the instance to freeze "
     "(e.g. 'ehr-a')"),
])
def test_bad_shapes_are_located(faults: str, message: str) -> None:
    # pydantic also reports an empty group's list as too short (it drops the bad item first).
    assert message in shape_errors(faults)


def test_unknown_instance_has_a_did_you_mean_and_the_valid_instances() -> None:
    (error,) = target_errors("- {type: kill, target: ehr-c, duration: 5s}")
    assert error == ("experiments/x.yaml:4:26: faults[0].target: unknown instance 'ehr-c' (did you mean 'ehr-b'?); "
                     "valid instances: ehr-a, ehr-b, msg-a, msg-b, pacs-a, pacs-b, labs-a, labs-b, sched-a")


@pytest.mark.parametrize(("target", "what"), [
    ("front-door", "'front-door' is the front door (HAProxy), not an instance of a service"),
    ("dc-a", "'dc-a' is a site"),
    ("repl-ehr-a-b", "'repl-ehr-a-b' is a link"),
])
def test_an_instance_fault_on_something_that_is_not_an_instance(target: str, what: str) -> None:
    (error,) = target_errors(f"- {{type: pause, target: {target}, duration: 5s}}")
    assert f"faults[0].target: {what}; an instance fault needs an instance; valid instances: ehr-a," in error


def test_partition_members_are_checked_each_at_its_place() -> None:
    errors = target_errors("""\
        - type: partition
          duration: 5s
          groups:
            - [dc-a, ehr-x]
            - [dcb]
        """)
    assert errors[0] == ("experiments/x.yaml:7:16: faults[0].groups[0][1]: unknown site or instance 'ehr-x' "
                         "(did you mean 'ehr-b'?); valid sites: campus, dc-a, dc-b; valid instances: ehr-a, ehr-b, "
                         "msg-a, msg-b, pacs-a, pacs-b, labs-a, labs-b, sched-a (or 'front-door')")
    assert errors[1].startswith("experiments/x.yaml:8:10: faults[0].groups[1][0]: unknown site or instance 'dcb' "
                                "(did you mean 'dc-b'?)")
    assert len(errors) == 2


def test_overlapping_groups_are_an_error_at_the_repeated_name() -> None:
    (error,) = target_errors("- {type: partition, groups: [[dc-a, dc-b], [campus, dc-a]], duration: 5s}")
    assert error == ("experiments/x.yaml:4:55: faults[0].groups[1][1]: 'dc-a' is in group 0 and group 1: "
                     "the groups of a partition must not overlap")


def test_a_partition_that_cuts_no_link_is_an_error() -> None:
    # msg-a and labs-a never talk to each other directly (both go through the front door).
    (error,) = target_errors("- {type: partition, groups: [[msg-a], [labs-a]], duration: 5s}")
    assert error.startswith("experiments/x.yaml:4:31: faults[0].groups: this partition cuts no link")
    # One-way from the target side of every link between them cuts nothing either.
    # Replication runs pacs-a -> pacs-b only: one-way from pacs-b to pacs-a cuts nothing.
    (one_way,) = target_errors("- {type: partition, groups: [[pacs-b], [pacs-a]], one_way: true, duration: 5s}")
    assert "cuts no link: no link goes between two of its groups from an earlier group to a later one" in one_way
    assert target_errors("- {type: partition, groups: [[pacs-a], [pacs-b]], one_way: true, duration: 5s}") == []


def test_a_fault_the_backend_cannot_do_is_an_error_on_its_type() -> None:
    errors = target_errors("""\
        - {type: pause, target: ehr-a, duration: 5s}
        - {type: partition, groups: [[dc-a], [dc-b]], duration: 5s}
        - {type: latency, target: frontdoor-ehr-a, latency: 1s, duration: 5s}
        """, supported=LINK_FAULT_TYPES)
    assert errors == [
        "experiments/x.yaml:4:12: faults[0].type: the local backend cannot pause an instance ('pause' faults); "
        "it supports: bandwidth, blackhole, latency, link_down, reset_peer",
        "experiments/x.yaml:5:12: faults[1].type: the local backend cannot partition the network ('partition' "
        "faults); it supports: bandwidth, blackhole, latency, link_down, reset_peer",
    ]


def test_the_old_target_rules_still_hold() -> None:
    errors = target_errors("""\
        - {type: power_loss, target: dc-c, duration: 5s}
        - {type: blackhole, target: repl-ehr-a-c, duration: 5s}
        """)
    assert errors[0] == ("experiments/x.yaml:4:32: faults[0].target: unknown data center 'dc-c' "
                         "(did you mean 'dc-b'?); valid data centers: dc-a, dc-b")
    assert errors[1].startswith("experiments/x.yaml:5:31: faults[1].target: unknown link 'repl-ehr-a-c' "
                                "(did you mean 'repl-ehr-a-b'?)")
