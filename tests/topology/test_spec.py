"""The topology as data: presets, user services, overrides, topology files, and every bad input
as a located error (file:line, YAML path) before anything starts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from harness.experiment import ExperimentError, load_experiment
from harness.runner.planning import plan_faults
from harness.runner.targets import topology_for
from harness.topology import Topology, reference_topology

MY_FHIR = """\
topology:
  services:
    - ehr
    - name: my-fhir
      command: [my-fhir-server, --port, "{port}", --ehr, "{url.ehr}"]
      speaks: [fhir-r4]
      instances:
        - {name: fhir-a, site: dc-a, role: primary}
        - {name: fhir-b, site: dc-b, role: standby}
      front_door: {mode: primary, check: /primary}
      depends_on: [ehr]
"""


def _topology(experiment_file: Callable[..., Path], body: str) -> Topology:
    return topology_for(load_experiment(experiment_file(body)).experiment)


def _errors(path: Path) -> str:
    with pytest.raises(ExperimentError) as caught:
        plan_faults(load_experiment(path))
    return str(caught.value)


def test_the_preset_is_the_reference_hospital() -> None:
    topo = reference_topology(("ehr", "messaging", "care"), witness=True, workstations=3)
    assert topo.service_names == ("ehr", "messaging", "care", "witness", "notify")
    assert [i.name for i in topo.instances_of("care")] == ["care-1", "care-2", "care-3"]
    assert {"ehr-a-witness", "ehr-b-witness", "care-3-notify", "care-1-frontdoor-ehr", "campus-msg-a",
            "msg-b-frontdoor-ehr", "repl-ehr-a-b"} <= set(topo.link_names)
    assert "care-1-frontdoor-labs" not in topo.link_names  # optional dependency that does not run
    assert topo.service("ehr").capabilities == ("fhir-r4",) and topo.service("ehr").builtin == "ehr"


def test_a_user_service_gets_its_front_door_and_dependency_links(experiment_file: Callable[..., Path]) -> None:
    topo = _topology(experiment_file, MY_FHIR)
    assert topo.service_names == ("ehr", "my-fhir")
    route = topo.route_of("my-fhir")
    assert route is not None and route.mode == "primary" and route.check_path == "/primary"
    assert route.backend_links == ("frontdoor-fhir-a", "frontdoor-fhir-b")
    assert {"campus-frontdoor-my-fhir", "fhir-a-frontdoor-ehr", "fhir-b-frontdoor-ehr"} <= set(topo.link_names)
    assert topo.service("my-fhir").command == ("my-fhir-server", "--port", "{port}", "--ehr", "{url.ehr}")


def test_a_preset_service_can_be_moved_and_others_dropped(experiment_file: Callable[..., Path]) -> None:
    topo = _topology(experiment_file, """\
        topology:
          services: [ehr, {name: labs, instances: [{name: labs-a, site: dc-b}]}]
        """)
    assert [(i.name, i.site) for i in topo.instances_of("labs")] == [("labs-a", "dc-b")]
    assert "frontdoor-labs-b" not in topo.link_names and "imaging" not in topo.service_names
    assert topo.service("labs").builtin == "labs"  # what was not written is the preset's


def test_a_topology_without_preset_declares_its_sites(experiment_file: Callable[..., Path]) -> None:
    topo = _topology(experiment_file, """\
        topology:
          preset: none
          sites: [{name: room-1, kind: datacenter}, {name: room-2, kind: datacenter}]
          services:
            - name: cache
              command: [my-cache, "{port}"]
              speaks: [tcp]
              instances: [{name: cache-1, site: room-1}, {name: cache-2, site: room-2}]
              clients: direct
          links: [{name: sync-1-2, source: cache-1, target: cache-2, port: tcp}]
        """)
    assert topo.datacenter_names == ("room-1", "room-2")
    assert set(topo.link_names) == {"campus-cache-1", "campus-cache-2", "sync-1-2"}
    assert topo.link("campus-cache-1").port == "tcp"


def test_a_topology_file_is_loaded_relative_to_the_experiment_and_inline_keys_win(tmp_path: Path) -> None:
    (tmp_path / "topologies").mkdir()
    (tmp_path / "topologies" / "hospital.yaml").write_text("services: [ehr, labs]\nehr: {replication: async}\n")
    exp = tmp_path / "exp.yaml"
    exp.write_text("version: 1\nname: t\ntopology:\n  file: topologies/hospital.yaml\n  ehr: {promote_after: 1s}\n")
    loaded = load_experiment(exp)
    assert loaded.experiment.topology.ehr.promote_after == 1.0
    assert loaded.experiment.topology.ehr.replication == "sync"  # the whole 'ehr' key was written inline
    assert topology_for(loaded.experiment).service_names == ("ehr", "labs")


def test_errors_in_a_topology_file_name_that_file_and_its_line(tmp_path: Path) -> None:
    (tmp_path / "hospital.yaml").write_text("services:\n  - ehr\n  - name: x\n    speaks: [fhir-r5]\n")
    exp = tmp_path / "exp.yaml"
    exp.write_text("version: 1\nname: t\ntopology: {file: hospital.yaml}\n")
    with pytest.raises(ExperimentError) as caught:
        load_experiment(exp)
    assert f"{tmp_path / 'hospital.yaml'}:4:" in str(caught.value) and "fhir-r5" in str(caught.value)
    # a semantic problem of a service written in the file is located in the file too
    (tmp_path / "hospital.yaml").write_text("services:\n  - ehr\n  - name: x\n    builtin: ehr\n    speaks: [http]\n"
                                            "    instances: [{name: x-1, site: dc-c}]\n")
    message = _errors(exp)
    assert f"{tmp_path / 'hospital.yaml'}:6:" in message and "unknown site 'dc-c'" in message
    (tmp_path / "exp.yaml").write_text("version: 1\nname: t\ntopology: {file: nowhere.yaml}\n")
    with pytest.raises(ExperimentError) as caught:
        load_experiment(exp)
    message = str(caught.value)
    assert f"{exp}:3:" in message and "nowhere.yaml" in message


@pytest.mark.parametrize(("body", "where", "text"), [
    ("topology: {services: [ehr, imagin]}", "topology.services[1]", "did you mean 'imaging'?"),
    ("topology: {services: [ehr, {name: x, command: [sleep, '1'], speaks: [tcp], instances: [{name: x-1, site: dc-a}],"
     " front_door: {}}]}", "topology.services[1].front_door", "routes HTTP services only"),
    ("topology: {services: [ehr, {name: x, command: [sleep, '{url.labs}'], speaks: [tcp],"
     " instances: [{name: x-1, site: dc-a}]}]}", "topology.services[1].command[1]", "not one of this service's"),
    ("topology: {services: [ehr, {name: x, command: [sleep, '{prot}'], speaks: [tcp],"
     " instances: [{name: x-1, site: dc-a}]}]}", "topology.services[1].command[1]", "unknown placeholder {prot}"),
    ("topology: {services: [ehr, {name: x, command: [sleep], speaks: [tcp], ports: {tcp: 7001},"
     " instances: [{name: x-1, site: dc-a}]}, {name: y, command: [sleep], speaks: [tcp], ports: {tcp: 7001},"
     " instances: [{name: y-1, site: dc-b}]}]}", "topology.services[2].ports.tcp", "two services on one fixed port"),
    ("topology: {services: [{name: x, command: [sleep], speaks: [http], instances: [{name: x-1, site: dc-a}],"
     " front_door: {}, depends_on: [y]}, {name: y, command: [sleep], speaks: [http],"
     " instances: [{name: y-1, site: dc-a}], front_door: {}, depends_on: [x]}]}", "topology.services[0].depends_on",
     "dependency cycle: x -> y -> x"),
    ("topology: {services: [{name: x, image: 'hapi:7', speaks: [fhir-r4], instances: [{name: x-1, site: dc-a}]}]}",
     "topology.services[0].image", "the local backend runs processes (use backend: docker"),
    ("topology: {services: [{name: x, url: 'https://fhir.example.org', speaks: [fhir-r4],"
     " instances: [{name: x-1, site: dc-a}]}]}", "topology.services[0].url", "needs the external backend"),
    ("topology: {services: [{name: x, speaks: [tcp], instances: [{name: x-1, site: dc-a}]}]}",
     "topology.services[0]", "exactly one of builtin"),
    ("topology: {services: [{name: x, command: [sleep], speaks: [tcp], instances: [{name: x, site: dc-a, count: 3}]}]}",
     "topology.services[0].instances[0].name", "name template with '{n}'"),
    ("topology: {services: [{name: x, command: [no-such-program-hchaos], speaks: [tcp],"
     " instances: [{name: x-1, site: dc-a}]}]}", "topology.services[0].command[0]", "not found on PATH"),
    ("topology: {services: [labs]}", "topology.services[0]", "needs ehr"),
])
def test_bad_topologies_are_located_errors(experiment_file: Callable[..., Path], body: str, where: str,
                                           text: str) -> None:
    message = _errors(experiment_file(body + "\nprobe: {service: x}\n" if "name: x" in body else body + "\n"))
    assert f": {where}: " in message, message
    assert text in message, message


def test_a_command_service_is_refused_on_the_docker_backend(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("version: 1\nname: x\nbackend: docker\nprobe: {service: x}\ntopology: {services: [{name: x, "
                    "command: [sleep], speaks: [tcp], instances: [{name: x-1, site: dc-a}]}]}\n")
    message = _errors(path)
    assert ": topology.services[0].command: " in message and "the docker backend runs containers" in message, message


def test_an_unknown_capability_is_refused_by_the_schema(experiment_file: Callable[..., Path]) -> None:
    with pytest.raises(ExperimentError) as caught:
        load_experiment(experiment_file("topology: {services: [{name: x, command: [sleep], speaks: [smtp]}]}\n"))
    assert "topology.services[0]" in str(caught.value) and "smtp" in str(caught.value)


def test_the_whole_reference_hospital_keeps_every_link_name() -> None:
    """Pinned from the code-built reference topology this preset replaced (every combination of
    its arguments was compared link for link): experiments name these links."""
    from harness.topology import ALL_SERVICES

    topo = reference_topology(ALL_SERVICES, witness=True, workstations=2)
    assert sorted(topo.link_names) == [
        "campus-care-1", "campus-care-2", "campus-frontdoor-ehr", "campus-frontdoor-imaging", "campus-frontdoor-labs",
        "campus-frontdoor-scheduling", "campus-msg-a", "campus-msg-b", "care-1-frontdoor-ehr",
        "care-1-frontdoor-imaging", "care-1-frontdoor-labs", "care-1-frontdoor-scheduling", "care-1-notify",
        "care-2-frontdoor-ehr", "care-2-frontdoor-imaging", "care-2-frontdoor-labs", "care-2-frontdoor-scheduling",
        "care-2-notify", "ehr-a-witness", "ehr-b-witness", "frontdoor-ehr-a", "frontdoor-ehr-b", "frontdoor-labs-a",
        "frontdoor-labs-b", "frontdoor-pacs-a", "frontdoor-pacs-b", "frontdoor-sched-a", "labs-a-frontdoor-ehr",
        "labs-b-frontdoor-ehr", "msg-a-frontdoor-ehr", "msg-b-frontdoor-ehr", "repl-ehr-a-b", "repl-ehr-b-a",
        "repl-pacs-a-b"]
    assert [s.name for s in topo.sites] == ["campus", "dc-a", "dc-b", "witness", "oob"]
    assert topo.link("campus-msg-a").port == "mllp" and topo.link("ehr-a-witness").purpose == "witness"
    assert topo.link("care-1-notify").purpose == "notification" and topo.link("repl-pacs-a-b").purpose == "replication"


@pytest.mark.parametrize("where", ["topologies/hospital.yaml", "../shared/hospital.yaml"])
def test_a_run_folder_keeps_the_topology_file_for_re_judging(tmp_path: Path, where: str) -> None:
    from harness.runner.rundir import create_run_dir

    experiments = tmp_path / "experiments"
    topology = (experiments / where).resolve()
    topology.parent.mkdir(parents=True)
    topology.write_text("services: [ehr, labs]\n")
    experiments.mkdir(exist_ok=True)
    exp = experiments / "exp.yaml"
    exp.write_text(f"version: 1\nname: t\ntopology: {{file: '{where}', ehr: {{fencing: true}}}}\n")
    loaded = load_experiment(exp)
    assert loaded.topology_source is not None
    run_dir = create_run_dir(tmp_path / "runs", "t", loaded.path, loaded.topology_source.path)
    again = load_experiment(run_dir / "experiment.yaml")  # the run folder alone is enough
    assert topology_for(again.experiment).service_names == ("ehr", "labs", "witness")


@pytest.mark.parametrize(("body", "where", "text"), [
    # renaming a preset service's instances would silently drop its replication links
    ("topology: {services: [{name: ehr, instances: [{name: ehr-1, site: dc-a, role: primary},"
     " {name: ehr-2, site: dc-b, role: standby}]}]}", "topology.services[0].instances", "repl-ehr-a-b"),
    ("topology: {preset: none}", "topology.preset", "declare your services under topology.services"),
    ("topology: {services: [ehr, {name: x, command: [sleep], speaks: [http], instances: [{name: x-1, site: dc-a}],"
     " front_door: {}, depends_on: [{service: ehr, when: ehr.fencnig}]}]}", "topology.services[1].depends_on[0].when",
     "not an on/off knob"),
    ("topology: {services: [{name: y, command: [sleep], speaks: [http], instances: [{name: y-1, site: dc-a}],"
     " front_door: {}}, {name: x, command: [sleep], speaks: [http], instances: [{name: frontdoor-y, site: dc-a}],"
     " clients: direct}]}", "topology.services", "two links would both be named 'campus-frontdoor-y'"),
    ("topology: {services: [ehr], ehr: {promote_after: 100ms}}", "topology.ehr",
     "promote_after (0.1s) must be longer than heartbeat_interval"),
    ("topology: {services: [ehr, {name: x, command: [sleep, '{url.labs}'], speaks: [http],"
     " instances: [{name: x-1, site: dc-a}], front_door: {}, depends_on: [{service: labs, optional: true}]}]}",
     "topology.services[1].command[1]", "not one of this service's dependencies"),
])
def test_more_bad_topologies_are_located_errors(experiment_file: Callable[..., Path], body: str, where: str,
                                                text: str) -> None:
    with pytest.raises(ExperimentError) as caught:
        plan_faults(load_experiment(experiment_file(body + "\n")))
    message = str(caught.value)
    assert f": {where}: " in message, message
    assert text in message, message


def test_an_optional_dependency_that_does_not_run_is_no_dependency(experiment_file: Callable[..., Path]) -> None:
    topo = _topology(experiment_file, """\
        topology:
          services:
            - ehr
            - {name: x, command: [sleep], speaks: [http], instances: [{name: x-1, site: dc-a}], front_door: {},
               depends_on: [ehr, {service: labs, optional: true}]}
        """)
    assert topo.service("x").depends_on == ("ehr",)
    assert "x-1-frontdoor-labs" not in topo.link_names


def test_replacing_a_preset_service_with_your_own_command_drops_the_builtin(
        experiment_file: Callable[..., Path]) -> None:
    topo = _topology(experiment_file, """\
        topology:
          services: [{name: ehr, command: [sleep], speaks: [fhir-r4], base_path: /fhir}]
        """)
    ehr = topo.service("ehr")
    assert (ehr.builtin, ehr.command, ehr.base_path) == (None, ("sleep",), "/fhir")
    assert [i.name for i in topo.instances_of("ehr")] == ["ehr-a", "ehr-b"]  # the preset's placement stays
    route = topo.route_of("ehr")
    assert route is not None and route.check_path == "/primary"


def test_a_user_services_health_check_defaults_to_its_readiness_path_else_the_root(
        experiment_file: Callable[..., Path]) -> None:
    topo = _topology(experiment_file, """\
        topology:
          services:
            - {name: x, command: [sleep], speaks: [http], instances: [{name: x-1, site: dc-a}], front_door: {}}
            - {name: y, command: [sleep], speaks: [http], instances: [{name: y-1, site: dc-a}], front_door: {},
               ready: {http: {path: /status}}}
        """)
    assert [topo.route_of(s).check_path for s in ("x", "y")] == ["/", "/status"]  # type: ignore[union-attr]


def test_a_relative_program_and_workdir_start_from_the_file_that_declares_the_service(tmp_path: Path) -> None:
    (tmp_path / "topologies" / "bin").mkdir(parents=True)
    script = tmp_path / "topologies" / "bin" / "serve.sh"
    script.write_text("#!/bin/sh\nexec sleep 1\n")
    script.chmod(0o755)
    (tmp_path / "topologies" / "h.yaml").write_text(
        "services:\n  - {name: x, command: [./serve.sh], workdir: bin, speaks: [tcp],"
        " instances: [{name: x-1, site: dc-a}], clients: direct}\n")
    exp = tmp_path / "exp.yaml"
    exp.write_text("version: 1\nname: t\ntopology: {file: topologies/h.yaml}\nprobe: {service: x}\n")
    loaded = load_experiment(exp)
    plan_faults(loaded)  # found, from the topology file's folder
    assert loaded.services_dir == tmp_path / "topologies"
    service = topology_for(loaded.experiment).service("x")
    assert service.working_dir(loaded.services_dir) == tmp_path / "topologies" / "bin"


def test_an_instance_named_like_another_site_is_refused(experiment_file: Callable[..., Path]) -> None:
    with pytest.raises(ExperimentError) as caught:
        plan_faults(load_experiment(experiment_file(
            "topology: {services: [{name: x, command: [sleep], speaks: [tcp], clients: direct,"
            " instances: [{name: dc-a, site: dc-b}]}]}\nprobe: {service: x}\n")))
    assert "topology.services[0].instances: instance name 'dc-a' is also a site's" in str(caught.value)
