"""Choosing and building the backend an experiment runs on (``backend:`` in the file), so the
runner and ``hchaos up`` never name a backend class.

``local``, ``docker`` and ``compose`` exist; the external backend plugs in here, each behind the
:class:`~harness.backends.base.Backend` protocol, with the fault types it supports declared in
:mod:`harness.backends.registry` (which validation reads without importing any backend).
"""

from __future__ import annotations

from pathlib import Path

from harness.backends.base import Backend
from harness.experiment import LoadedExperiment
from harness.interrupt import NEVER, Interruption
from harness.run.journal import Journal
from harness.timeline import TimelineWriter
from harness.topology import Topology


def create_backend(loaded: LoadedExperiment, topology: Topology, run_dir: Path, *, journal: Journal | None = None,
                   timeline: TimelineWriter | None = None, interruption: Interruption = NEVER) -> Backend:
    """The backend ``loaded`` asks for, built for ``topology`` under ``run_dir`` (not started)."""
    backend = loaded.experiment.backend
    if backend == "local":
        from harness.backends.local import LocalBackend
        from harness.runner.backend_options import local_options

        return LocalBackend(topology, run_dir, options=local_options(loaded.experiment, loaded.services_dir),
                            journal=journal, timeline=timeline, interruption=interruption)
    if backend == "docker":
        from harness.backends.docker.backend import DockerBackend
        from harness.runner.backend_options import local_options

        return DockerBackend(topology, run_dir, options=local_options(loaded.experiment, loaded.services_dir),
                             journal=journal, timeline=timeline, interruption=interruption)
    if backend == "compose":
        from harness.backends.compose.backend import ComposeBackend
        from harness.runner.backend_options import local_options

        return ComposeBackend(topology, run_dir, project=loaded.experiment.compose.project,
                              options=local_options(loaded.experiment, loaded.services_dir), journal=journal,
                              timeline=timeline, interruption=interruption)
    raise AssertionError(f"unknown backend {backend!r}: the experiment's validation refuses it first")
