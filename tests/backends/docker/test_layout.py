"""The docker layout is pure data: names and container ports, computed before anything starts."""

from __future__ import annotations

from harness.backends.docker.layout import FRONT_DOOR_ALIAS, TOXIPROXY_ALIAS, plan_layout, run_prefix
from harness.topology import FRONT_DOOR, reference_topology


def test_every_link_has_its_own_port_and_forwards_to_an_alias_on_the_target_network() -> None:
    topo = reference_topology()
    layout = plan_layout(topo, "20261202-081500-aphp-2024-08-03-dc-power-loss")
    assert len(set(layout.link_ports.values())) == len(topo.links)
    for link in topo.links:
        host, port = layout.upstream(topo, link)
        if link.target == FRONT_DOOR:
            assert host == FRONT_DOOR_ALIAS and port == layout.route_ports[link.service or ""]
        else:
            assert host == link.target and port == layout.instance_ports[link.target][link.port]
    assert TOXIPROXY_ALIAS not in {inst.name for inst in topo.instances}


def test_one_network_per_site_named_after_the_run() -> None:
    topo = reference_topology()
    layout = plan_layout(topo, "run 1/with odd:chars")
    assert set(layout.sites) == {site.name for site in topo.sites} | {topo.front_door.site}
    assert layout.network("dc-a") == "hchaos-run-1-with-odd-chars-dc-a"
    assert run_prefix("x" * 200) == "hchaos-" + "x" * 48


def test_instances_share_container_port_numbers_and_keep_pinned_ones() -> None:
    topo = reference_topology()
    layout = plan_layout(topo, "r")
    assert layout.instance_ports["ehr-a"]["http"] == layout.instance_ports["ehr-b"]["http"] == 8080
    assert layout.instance_ports["msg-a"]["mllp"] == 2575
