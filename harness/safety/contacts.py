"""Every address a run would contact, and the check that each one is allowed -- before anything
starts (``hchaos run``) or without starting anything (``hchaos plan``).

A :class:`Contact` says what is contacted (host, port when known), why (which part of the run),
and which field of the experiment led to it, so that a refusal points at the line to change.
What each backend contacts:

* ``local``: processes this run starts, on 127.0.0.1 (instances, Toxiproxy's API and links, the
  front door), on ports chosen at start.
* ``docker``: the Docker engine (``$DOCKER_HOST``: a remote one is a contact like any other),
  Toxiproxy's API published on 127.0.0.1, and the run's own containers on the networks it makes.
* ``compose``: the engine, and the Compose project's containers (labelled by ``hchaos
  compose``), Toxiproxy's API on 127.0.0.1.

Whatever backend: the hosts an ``action`` fault declares its commands contact (``hosts:``).
The load and the probe go through those same endpoints; Locust's master *listens* for remote
workers on ``load.master_bind`` (listed, not checked: nothing is contacted).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from harness.experiment import LoadedExperiment, raise_issues
from harness.experiment.base import Loc, Problem
from harness.experiment.faults import ActionFault
from harness.safety.allowlist import AllowList, Decision, Resolver, system_resolver
from harness.topology import Topology

AT_START = "(ports chosen at start)"
OWN_CONTAINERS = "(the run's own containers)"
"""The host of a contact whose addresses the engine gives at start: always allowed."""


@dataclass(frozen=True)
class Contact:
    """One address the run would contact (``kind="contact"``) or listen on (``"listen"``)."""

    host: str
    port: int | None
    what: str
    loc: Loc | None = None
    """The experiment field that led to it (None: not the file; ``source`` says what)."""
    source: str = ""
    """Where it came from when not from the file (e.g. ``$DOCKER_HOST``)."""
    kind: str = "contact"
    ports: str = ""
    """Said of the ports when ``port`` is None (e.g. chosen at start)."""

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.port is not None:
            return f"{host}:{self.port}"
        return f"{host} {self.ports}" if self.ports else host


@dataclass(frozen=True)
class CheckedContact:
    contact: Contact
    decision: Decision


def docker_engine_contact(env: Mapping[str, str]) -> Contact | None:
    """The Docker engine as a network contact, when ``$DOCKER_HOST`` names one (tcp://, ssh://);
    None for the local socket."""
    value = env.get("DOCKER_HOST", "")
    if not value or value.startswith(("unix://", "npipe://", "fd://")):
        return None
    parts = urlsplit(value if "://" in value else f"tcp://{value}")
    if not parts.hostname:
        return None
    default_port = {"ssh": 22, "tcp": 2375}.get(parts.scheme)
    return Contact(parts.hostname, parts.port or default_port, "the Docker engine", source="$DOCKER_HOST")


def run_contacts(loaded: LoadedExperiment, topology: Topology, backend: str,
                 env: Mapping[str, str] | None = None) -> list[Contact]:
    """Every address a run of ``loaded`` on ``backend`` would contact or listen on."""
    exp = loaded.experiment
    env = os.environ if env is None else env
    contacts: list[Contact] = []
    instances = len(topology.instances)
    if backend == "local":
        contacts.append(Contact("127.0.0.1", None, f"the processes this run starts: {instances} instance(s), "
                                "Toxiproxy's API and links, the front door", ("backend",), ports=AT_START))
    else:
        engine = docker_engine_contact(env)
        contacts.append(engine or Contact("/var/run/docker.sock", None, "the Docker engine (local socket)",
                                          source="$DOCKER_HOST unset", kind="socket"))
        contacts.append(Contact("127.0.0.1", None, "Toxiproxy's API, published by its container", ("backend",),
                                ports=AT_START))
        made = ("containers this run makes" if backend == "docker"
                else f"the containers of Compose project {exp.compose.project!r}")
        contacts.append(Contact(OWN_CONTAINERS, None, f"{made}: {instances} instance(s), Toxiproxy's links, "
                                "the front door, on the project's own site networks", ("backend",), ports=AT_START))
    for index, fault in enumerate(exp.faults):
        if isinstance(fault, ActionFault):
            contacts += [Contact(host, None, f"what fault {fault.label}'s commands contact (declared)",
                                 ("faults", index, "hosts", h)) for h, host in enumerate(fault.hosts)]
    if exp.load is not None and exp.load.remote_workers:
        contacts.append(Contact(exp.load.master_bind, exp.load.master_port,
                                f"Locust's master, waiting for {exp.load.remote_workers} remote worker(s)",
                                ("load", "master_bind"), kind="listen"))
    return contacts


def decide_contacts(loaded: LoadedExperiment, contacts: Sequence[Contact],
                    resolver: Resolver = system_resolver) -> list[CheckedContact]:
    """Each contact with the experiment's ``allow:`` decision on it (names resolved by
    ``resolver``; nothing else is contacted)."""
    allow = AllowList.parse(loaded.experiment.allow)
    checked: list[CheckedContact] = []
    for contact in contacts:
        if contact.kind != "contact":
            decision = Decision(contact.host, True, "listens only" if contact.kind == "listen" else "a local socket")
        elif contact.host == OWN_CONTAINERS:
            decision = Decision(contact.host, True, "the project's own containers")
        else:
            decision = allow.decide(contact.host, resolver)
        checked.append(CheckedContact(contact, decision))
    return checked


def require_allowed(loaded: LoadedExperiment, checked: Sequence[CheckedContact]) -> None:
    """Raise the loader's located error (exit 2) listing every refused contact, each at the
    field that led to it (``allow`` when none of the file's did)."""
    problems = [Problem(
        c.contact.loc or ("allow",),
        f"the run would contact {c.contact.address}, {c.contact.what}"
        f"{f' (from {c.contact.source})' if c.contact.source else ''}: {c.decision.reason}",
        expected=f"{c.contact.host} (or a network holding it) in the experiment's allow: list")
        for c in checked if not c.decision.allowed]
    if problems:
        raise_issues(loaded, problems)


def check_run_contacts(loaded: LoadedExperiment, topology: Topology, resolver: Resolver = system_resolver) -> None:
    """The runner's check before anything starts: every contact of a run of ``loaded`` on its
    backend is allowed, else the located error (exit 2)."""
    contacts = run_contacts(loaded, topology, loaded.experiment.backend)
    require_allowed(loaded, decide_contacts(loaded, contacts, resolver))
