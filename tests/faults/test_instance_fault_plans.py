"""Planning the instance faults and partitions on the reference topology (pure data, no process)."""

from __future__ import annotations

import pytest

from harness.experiment.faults import KillFault, PartitionFault, PauseFault, RestartFault
from harness.faults.plan import FaultPlan, InstanceAction, partition_links, plan_fault
from harness.topology import reference_topology

TOPOLOGY = reference_topology()


def partition(*groups: list[str], one_way: bool = False) -> PartitionFault:
    return PartitionFault(type="partition", groups=tuple(tuple(g) for g in groups), one_way=one_way,
                          duration=5, name="split")


def cut_links(plan: FaultPlan) -> set[str]:
    return {t.link for t in plan.toxics}


def test_partition_between_data_centers_cuts_exactly_the_links_between_them() -> None:
    plan = plan_fault(partition(["dc-a"], ["dc-b"]), "split", TOPOLOGY)
    expected = {link.name for link in TOPOLOGY.links
                if {link.source_site, link.target_site} == {"dc-a", "dc-b"}}
    assert expected == {"repl-ehr-a-b", "repl-ehr-b-a", "repl-pacs-a-b"}  # the topology's own fact
    assert cut_links(plan) == expected
    # Each cut is a blackhole on both streams, named after the fault.
    assert sorted((t.link, t.toxic.stream) for t in plan.toxics) == sorted(
        (link, stream) for link in expected for stream in ("upstream", "downstream"))
    assert {(t.toxic.type, t.toxic.attributes["timeout"]) for t in plan.toxics} == {("timeout", 0)}
    assert {t.toxic_name for t in plan.toxics} == {"hchaos-split-upstream", "hchaos-split-downstream"}
    assert plan.instances == () and plan.disabled_links == () and plan.powered_off_sites == ()
    assert plan.target == "dc-a | dc-b"


def test_partition_with_campus_cuts_every_link_between_groups_and_no_other() -> None:
    groups = [["dc-a"], ["dc-b", "campus"]]
    plan = plan_fault(partition(*groups), "split", TOPOLOGY)
    side = {"dc-a": 0, "dc-b": 1, "campus": 1}
    expected = {link.name for link in TOPOLOGY.links if side[link.source_site] != side[link.target_site]}
    assert cut_links(plan) == expected
    assert "frontdoor-ehr-a" in expected and "msg-a-frontdoor-ehr" in expected
    assert "frontdoor-ehr-b" not in expected and "campus-frontdoor-ehr" not in expected
    assert plan.target == "dc-a | dc-b,campus"


def test_a_listed_instance_wins_over_its_site() -> None:
    # ehr-a is isolated from everything else, its own data center included.
    links = {link.name for link in partition_links(partition(["ehr-a"], ["dc-a", "dc-b", "campus"]), TOPOLOGY)}
    assert links == {link.name for link in TOPOLOGY.links if "ehr-a" in (link.source, link.target)}
    # With dc-a in the same group as ehr-a, only dc-b is cut off from dc-a: the same as dc-a | dc-b.
    same = partition_links(partition(["ehr-a", "dc-a"], ["dc-b"]), TOPOLOGY)
    assert {link.name for link in same} == {"repl-ehr-a-b", "repl-ehr-b-a", "repl-pacs-a-b"}


def test_what_no_group_lists_is_not_cut() -> None:
    links = partition_links(partition(["ehr-a"], ["ehr-b"]), TOPOLOGY)
    assert {link.name for link in links} == {"repl-ehr-a-b", "repl-ehr-b-a"}


def test_one_way_cuts_only_links_from_earlier_to_later_groups() -> None:
    two_way = partition_links(partition(["dc-a"], ["dc-b", "campus"]), TOPOLOGY)
    one_way = partition_links(partition(["dc-a"], ["dc-b", "campus"], one_way=True), TOPOLOGY)
    side = {"dc-a": 0, "dc-b": 1, "campus": 1}
    assert {link.name for link in one_way} == {
        link.name for link in TOPOLOGY.links if side[link.source_site] == 0 and side[link.target_site] == 1}
    assert {link.name for link in one_way} == {"repl-ehr-a-b", "repl-pacs-a-b", "msg-a-frontdoor-ehr",
                                               "labs-a-frontdoor-ehr"}
    assert set(one_way) < set(two_way)
    # Reversing the groups cuts the other direction, and together they are the two-way cut.
    reverse = partition_links(partition(["dc-b", "campus"], ["dc-a"], one_way=True), TOPOLOGY)
    assert set(one_way).isdisjoint(reverse) and set(one_way) | set(reverse) == set(two_way)
    assert partition(["dc-a"], ["dc-b"], one_way=True).target == "dc-a -> dc-b"


def test_three_groups_cut_every_pair() -> None:
    links = partition_links(partition(["dc-a"], ["dc-b"], ["front-door"]), TOPOLOGY)
    group = {"dc-a": 0, "dc-b": 1}

    def side(component: str, site: str) -> int | None:
        return 2 if component == "front-door" else group.get(site)

    expected = {link.name for link in TOPOLOGY.links
                if None not in (a := side(link.source, link.source_site), b := side(link.target, link.target_site))
                and a != b}
    assert {link.name for link in links} == expected
    assert "campus-frontdoor-ehr" not in expected  # campus is in no group
    assert all(link.target != "front-door" or link.source_site != "campus" for link in links)


def test_overlapping_groups_are_the_validation_error_not_a_plan_concern() -> None:
    # Documented assumption of partition_links: disjoint groups. An overlap resolves to the
    # first group listing the name, so the overlap cuts nothing between those two groups.
    links = partition_links(partition(["dc-a"], ["dc-a", "dc-b"]), TOPOLOGY)
    assert {link.name for link in links} == {"repl-ehr-a-b", "repl-ehr-b-a", "repl-pacs-a-b"}


@pytest.mark.parametrize(("fault", "action", "words"), [
    (KillFault(type="kill", target="ehr-a", duration=5), InstanceAction("kill", "ehr-a", restart=True),
     "SIGKILL ehr-a, start it again at the heal"),
    (KillFault(type="kill", target="ehr-a", duration=5, restart=False), InstanceAction("kill", "ehr-a", False),
     "SIGKILL ehr-a, leave it dead"),
    (PauseFault(type="pause", target="ehr-b", duration=5), InstanceAction("pause", "ehr-b"),
     "SIGSTOP ehr-b, SIGCONT at the heal"),
    (RestartFault(type="restart", target="msg-a", duration=5), InstanceAction("restart", "msg-a"),
     "restart msg-a (SIGTERM, start, wait until ready)"),
])
def test_instance_faults_plan_one_instance_action(fault: KillFault | PauseFault | RestartFault,
                                                  action: InstanceAction, words: str) -> None:
    plan = plan_fault(fault, "f", TOPOLOGY)
    assert plan.instances == (action,)
    assert plan.toxics == () and plan.disabled_links == () and plan.powered_off_sites == ()
    assert plan.target == fault.target and plan.fault_type == fault.type
    assert plan.describe() == words
    assert plan.instances_to(action.kind) == (action,)
