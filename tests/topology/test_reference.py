import pytest

from harness.topology import Instance, Link, Topology, reference_topology


def test_reference_topology_shape() -> None:
    topo = reference_topology()
    assert topo.datacenter_names == ("dc-a", "dc-b")
    assert topo.service_names == ("ehr",)
    assert [i.role for i in topo.instances_of("ehr")] == ["primary", "standby"]
    assert topo.instance("ehr-a").site == "dc-a"
    assert set(topo.link_names) == {
        "campus-frontdoor", "frontdoor-ehr-a", "frontdoor-ehr-b", "repl-ehr-a-b", "repl-ehr-b-a"}


def test_links_touching_a_datacenter_include_both_directions_of_replication() -> None:
    topo = reference_topology()
    names = {link.name for link in topo.links_touching("dc-a")}
    assert names == {"frontdoor-ehr-a", "repl-ehr-a-b", "repl-ehr-b-a"}
    assert "campus-frontdoor" not in {link.name for link in topo.links_touching("dc-b")}


def test_replication_link_and_peers() -> None:
    topo = reference_topology()
    assert topo.replication_link("ehr-a", "ehr-b").name == "repl-ehr-a-b"
    assert [p.name for p in topo.peers("ehr-b")] == ["ehr-a"]
    with pytest.raises(KeyError):
        topo.replication_link("ehr-a", "ehr-a")


def test_topology_is_frozen() -> None:
    topo = reference_topology()
    with pytest.raises(AttributeError):
        topo.name = "other"  # type: ignore[misc]


def test_inconsistent_topology_is_rejected_with_every_problem() -> None:
    ref = reference_topology()
    bad_instances = (*ref.instances, Instance("ehr-c", "ehr", "dc-z", "standby"))
    bad_links = (*ref.links, Link("x", "nobody", "campus", "ehr-a", "dc-a", "client"))
    with pytest.raises(ValueError) as info:
        Topology("bad", ref.sites, ref.services, bad_instances, bad_links, ref.front_door)
    message = str(info.value)
    assert "unknown site 'dc-z'" in message
    assert "unknown component 'nobody'" in message
