"""A topology brought up on the local backend with a nemesis, for tests that inject faults:
everything healed and stopped on the way out, whatever the test did."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.backends import Endpoints
from harness.backends.local import LocalBackend, LocalOptions
from harness.faults import Nemesis
from harness.run.journal import Journal
from harness.topology import Topology

Running = tuple[LocalBackend, Endpoints, Nemesis, Journal]


@contextmanager
def running_topology(topology: Topology, run_dir: Path, options: LocalOptions) -> Iterator[Running]:
    journal = Journal(run_dir, "t")
    backend = LocalBackend(topology, run_dir, options=options, journal=journal)
    endpoints = backend.up()
    nemesis = Nemesis(endpoints, backend, journal)
    try:
        yield backend, endpoints, nemesis, journal
    finally:
        nemesis.heal_all()
        nemesis.close()
        backend.down()
        journal.close()
