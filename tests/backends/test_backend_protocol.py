"""Every backend satisfies the one protocol the runner and the nemesis use, and declares the
faults it supports where validation can read them without importing it."""

from __future__ import annotations

from harness.backends import Backend
from harness.backends.factory import create_backend
from harness.backends.fake import NoProcessesBackend
from harness.backends.local import LocalBackend
from harness.backends.registry import SUPPORTED_FAULTS
from harness.experiment import FAULT_TYPES, parse_experiment
from harness.runner.targets import topology_for


def test_the_factory_builds_the_experiments_backend(tmp_path: object) -> None:
    loaded = parse_experiment("version: 1\nname: t\nbackend: local\ntopology: {services: [ehr]}\n")
    backend: Backend = create_backend(loaded, topology_for(loaded.experiment), tmp_path)  # type: ignore[arg-type]
    assert isinstance(backend, LocalBackend) and backend.endpoints is None
    assert backend.topology.service_names == ("ehr",)


def test_every_backend_declares_its_faults_in_the_registry() -> None:
    assert LocalBackend.supported_faults == SUPPORTED_FAULTS["local"] == frozenset(FAULT_TYPES)
    fake: Backend = NoProcessesBackend()
    assert fake.topology.service_names and fake.endpoints is None
