"""Every address a run would contact, and the located refusal of those not allowed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from harness.experiment import ExperimentError, load_experiment
from harness.runner.targets import topology_for
from harness.safety.contacts import (
    OWN_CONTAINERS,
    decide_contacts,
    docker_engine_contact,
    require_allowed,
    run_contacts,
)

BODY = "topology: {services: [ehr]}\n"


@pytest.mark.parametrize(("value", "host", "port"), [
    ("tcp://10.9.9.9:2376", "10.9.9.9", 2376), ("tcp://docker.staging.example", "docker.staging.example", 2375),
    ("ssh://ops@docker.staging.example", "docker.staging.example", 22), ("10.9.9.9:2376", "10.9.9.9", 2376)])
def test_a_remote_docker_engine_is_a_contact(value: str, host: str, port: int) -> None:
    contact = docker_engine_contact({"DOCKER_HOST": value})
    assert contact is not None and (contact.host, contact.port, contact.source) == (host, port, "$DOCKER_HOST")


@pytest.mark.parametrize("value", ["", "unix:///var/run/docker.sock"])
def test_the_local_socket_is_not(value: str) -> None:
    assert docker_engine_contact({"DOCKER_HOST": value} if value else {}) is None


def test_what_each_backend_contacts(experiment_file: Callable[..., Path]) -> None:
    loaded = load_experiment(experiment_file(BODY))
    topology = topology_for(loaded.experiment)
    local = run_contacts(loaded, topology, "local", env={})
    assert [(c.host, c.kind) for c in local] == [("127.0.0.1", "contact")]
    docker = run_contacts(loaded, topology, "docker", env={"DOCKER_HOST": "tcp://10.9.9.9:2376"})
    assert [(c.host, c.kind) for c in docker] == [("10.9.9.9", "contact"), ("127.0.0.1", "contact"),
                                                  (OWN_CONTAINERS, "contact")]
    compose = run_contacts(loaded, topology, "compose", env={})
    assert compose[0].kind == "socket" and "Compose project 'hchaos-hospital'" in compose[2].what


def test_a_refused_contact_is_a_located_error_and_allow_lets_it_through(
        experiment_file: Callable[..., Path]) -> None:
    env = {"DOCKER_HOST": "tcp://10.9.9.9:2376"}
    refused = load_experiment(experiment_file(BODY))
    checked = decide_contacts(refused, run_contacts(refused, topology_for(refused.experiment), "docker", env))
    with pytest.raises(ExperimentError, match=r"allow: the run would contact 10\.9\.9\.9:2376, the Docker engine "
                                              r"\(from \$DOCKER_HOST\): not loopback"):
        require_allowed(refused, checked)
    allowed = load_experiment(experiment_file("allow: [10.9.0.0/16]\n" + BODY, name="allowed"))
    checked = decide_contacts(allowed, run_contacts(allowed, topology_for(allowed.experiment), "docker", env))
    require_allowed(allowed, checked)
    assert checked[0].decision.reason == "in allow: 10.9.0.0/16"


def test_remote_workers_are_listened_for_not_contacted(experiment_file: Callable[..., Path]) -> None:
    loaded = load_experiment(experiment_file(BODY + "load: {users: 2, remote_workers: 2, master_bind: 0.0.0.0}\n"))
    contacts = run_contacts(loaded, topology_for(loaded.experiment), "local", env={})
    listen = [c for c in contacts if c.kind == "listen"]
    assert [(c.host, c.port) for c in listen] == [("0.0.0.0", 5557)]
    require_allowed(loaded, decide_contacts(loaded, contacts))  # listening is not contacting


def test_a_bad_allow_entry_is_located(experiment_file: Callable[..., Path]) -> None:
    with pytest.raises(ExperimentError, match=r"allow\[1\]: 'https://ehr.example/fhir' is not a host"):
        load_experiment(experiment_file("allow: [10.0.0.0/8, 'https://ehr.example/fhir']\n" + BODY))


def test_a_bad_load_allow_hosts_entry_is_located_not_a_traceback_later(experiment_file: Callable[..., Path]) -> None:
    with pytest.raises(ExperimentError, match=r"load\.allow_hosts\[0\]|load\.allow_hosts: .*not a valid host name"):
        load_experiment(experiment_file(BODY + "load: {users: 2, allow_hosts: ['a..b']}\n"))
