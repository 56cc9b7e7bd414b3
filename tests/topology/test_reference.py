import pytest

from harness.topology import DEFAULT_SERVICES, FRONT_DOOR, Instance, Link, Topology, reference_topology


def test_ehr_only_topology_shape() -> None:
    topo = reference_topology(("ehr",))
    assert topo.datacenter_names == ("dc-a", "dc-b")
    assert topo.service_names == ("ehr",)
    assert [i.role for i in topo.instances_of("ehr")] == ["primary", "standby"]
    assert topo.instance("ehr-a").site == "dc-a"
    assert set(topo.link_names) == {
        "campus-frontdoor-ehr", "frontdoor-ehr-a", "frontdoor-ehr-b", "repl-ehr-a-b", "repl-ehr-b-a"}
    route = topo.front_door.route("ehr")
    assert (route.mode, route.check_path) == ("primary", "/primary")


def test_full_reference_topology_has_every_service_and_its_links() -> None:
    topo = reference_topology()
    assert topo.service_names == DEFAULT_SERVICES
    assert {i.name for i in topo.instances_in("dc-a")} == {"ehr-a", "msg-a", "pacs-a", "labs-a", "sched-a"}
    assert {i.name for i in topo.instances_in("dc-b")} == {"ehr-b", "msg-b", "pacs-b", "labs-b"}
    assert topo.front_door.services == ("ehr", "imaging", "labs", "scheduling")  # messaging is MLLP, direct
    assert topo.link("campus-msg-a").port == "mllp"
    dependency = topo.link("labs-b-frontdoor-ehr")
    assert (dependency.target, dependency.service, dependency.source_site) == (FRONT_DOOR, "ehr", "dc-b")
    assert topo.front_door.route("imaging").backend_links == ("frontdoor-pacs-a", "frontdoor-pacs-b")
    assert topo.front_door.route("scheduling").backend_links == ("frontdoor-sched-a",)


def test_links_touching_a_datacenter_include_both_directions_of_replication() -> None:
    topo = reference_topology()
    names = {link.name for link in topo.links_touching("dc-a")}
    assert {"frontdoor-ehr-a", "repl-ehr-a-b", "repl-ehr-b-a", "repl-pacs-a-b", "campus-msg-a",
            "msg-a-frontdoor-ehr", "labs-a-frontdoor-ehr", "frontdoor-sched-a"} <= names
    assert not {"campus-frontdoor-ehr", "frontdoor-ehr-b", "campus-msg-b"} & names


def test_witness_site_only_with_fencing() -> None:
    assert "witness" not in {s.name for s in reference_topology().sites}
    topo = reference_topology(("ehr",), witness=True)
    assert topo.link("ehr-b-witness").target_site == "witness"
    # A data-center cut isolates its EHR from the witness too, never the other one.
    assert "ehr-b-witness" not in {link.name for link in topo.links_touching("dc-a")}


def test_missing_dependency_and_unknown_service_are_rejected() -> None:
    with pytest.raises(ValueError, match="'labs' needs ehr"):
        reference_topology(("labs",))
    with pytest.raises(ValueError, match="unknown service"):
        reference_topology(("ehr", "pharmacy"))


def test_replication_link_and_peers() -> None:
    topo = reference_topology()
    assert topo.replication_link("ehr-a", "ehr-b").name == "repl-ehr-a-b"
    assert topo.replication_link("pacs-a", "pacs-b").name == "repl-pacs-a-b"
    assert [p.name for p in topo.peers("ehr-b")] == ["ehr-a"]
    with pytest.raises(KeyError):
        topo.replication_link("pacs-b", "pacs-a")


def test_topology_is_frozen() -> None:
    topo = reference_topology()
    with pytest.raises(AttributeError):
        topo.name = "other"  # type: ignore[misc]


def test_inconsistent_topology_is_rejected_with_every_problem() -> None:
    ref = reference_topology(("ehr",))
    bad_instances = (*ref.instances, Instance("ehr-c", "ehr", "dc-z", "standby"))
    bad_links = (*ref.links, Link("x", "nobody", "campus", "ehr-a", "dc-a", "client"),
                 Link("y", "campus", "campus", "ehr-a", "dc-a", "client", port="mllp"))
    with pytest.raises(ValueError) as info:
        Topology("bad", ref.sites, ref.services, bad_instances, bad_links, ref.front_door)
    message = str(info.value)
    assert "unknown site 'dc-z'" in message
    assert "unknown component 'nobody'" in message
    assert "'ehr-a' has no 'mllp' port" in message
