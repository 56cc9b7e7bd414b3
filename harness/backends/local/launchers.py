"""The local backend's processes: each instance's command line, from its driver or its command.

A built-in service's argv comes from its driver (:mod:`harness.services`), given a
:class:`~harness.services.LaunchContext` with local addresses: its ports on 127.0.0.1 and,
for every link, the loopback port of that link's proxy. A user's ``command:`` is filled in
by :mod:`harness.backends.local.user_services`. Either way an instance only ever reaches
another one through a link (a Toxiproxy proxy), never directly: that is what makes every
dependency breakable.

Two launch options serve the instance-state faults: ``clock`` starts the process under
libfaketime (:mod:`harness.backends.local.clock`; ``LD_PRELOAD`` only works from the start),
and ``own_disk`` gives the instance ``<data_dir>/<instance>/`` (a size-limited mount,
:mod:`harness.backends.local.disks`) for its files instead of the shared ``data_dir``.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from harness.backends.local.clock import FaketimeClock
from harness.backends.local.ports import LOOPBACK
from harness.backends.local.processes import HttpReady, ProcessSpec
from harness.backends.local.user_services import user_process_spec
from harness.backends.readiness import readiness_from_spec
from harness.services import DRIVERS, LaunchContext, ServiceOptions
from harness.topology import Instance, Topology


@dataclass(frozen=True)
class LocalLaunch:
    """What the local backend knows when it starts one instance: every port of the run."""

    instance: Instance
    topology: Topology
    instance_ports: Mapping[str, Mapping[str, int]]
    link_ports: Mapping[str, int]
    data_dir: Path
    options: ServiceOptions
    base_dir: Path | None = None
    """Where relative paths of user services (``workdir``) start: the experiment file's folder."""
    clock: FaketimeClock | None = None
    """Start the process under libfaketime, reading this timestamp file (a ``clock_skew`` target)."""
    own_disk: bool = False
    """Keep the instance's files in ``data_dir/<instance>/`` (its own mount; a ``disk_full``
    target). A user service's ``{data}`` is that folder anyway; a built-in's files move into it."""

    def context(self) -> LaunchContext:
        """The backend-neutral context of the instance, with loopback addresses."""
        builtin = self.topology.service(self.instance.service).builtin is not None
        data_dir = self.data_dir / self.instance.name if self.own_disk and builtin else self.data_dir
        return LaunchContext(self.instance, self.topology, LOOPBACK, self.instance_ports[self.instance.name],
                             {name: (LOOPBACK, port) for name, port in self.link_ports.items()}, data_dir,
                             self.options)


def process_spec(launch: LocalLaunch, logs_dir: Path) -> ProcessSpec:
    """The process of ``launch.instance``: for a built-in, ``python -m mock_services.<module>``
    with its driver's argv, ready when its HTTP port answers the health path with 200 (or as the
    service's ``ready:`` says); for a user's ``command:``, :func:`user_process_spec`. Either way
    with libfaketime's environment when ``launch.clock`` is set."""
    ctx = launch.context()
    service = launch.topology.service(launch.instance.service)
    if service.builtin is None:
        spec = user_process_spec(ctx, logs_dir, launch.base_dir)
    else:
        driver = DRIVERS[service.builtin]
        argv = (sys.executable, "-m", driver.module, *driver.argv(ctx))
        ready = (readiness_from_spec(service.readiness, LOOPBACK, ctx.ports, logs_dir / f"{ctx.instance.name}.log")
                 if service.readiness is not None else HttpReady(LOOPBACK, ctx.port(), driver.health_path))
        spec = ProcessSpec(ctx.instance.name, argv, ctx.instance.site, ready)
    if launch.clock is None:
        return spec
    return dataclasses.replace(spec, env={**spec.env, **launch.clock.env({**os.environ, **spec.env})})
