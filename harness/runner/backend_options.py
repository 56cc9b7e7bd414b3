"""The local backend's options from an experiment's ``topology`` section (one place: the
runner and ``hchaos up`` both use it)."""

from __future__ import annotations

from pathlib import Path

from harness.backends.local.backend import LocalOptions
from harness.backends.local.haproxy import FrontDoorTiming
from harness.experiment import Experiment
from harness.experiment.faults import ClockSkewFault, DiskFullFault
from harness.services import ServiceOptions


def local_options(experiment: Experiment, services_dir: Path | None = None) -> LocalOptions:
    """The local backend's knobs from the experiment's ``topology`` section; ``services_dir`` is
    where user services' relative paths start (``LoadedExperiment.services_dir``). Instances that a
    ``clock_skew`` fault targets start under libfaketime; those a ``disk_full`` targets get a
    data filesystem of the largest ``size_mb`` asked for them."""
    config = experiment.topology
    disk_limits: dict[str, int] = {}
    for fault in experiment.faults:
        if isinstance(fault, DiskFullFault):
            disk_limits[fault.target] = max(disk_limits.get(fault.target, 0), fault.size_mb)
    door = config.front_door
    return LocalOptions(
        services=ServiceOptions(data=config.data, ehr=config.ehr, messaging=config.messaging, imaging=config.imaging,
                                care=config.care),
        front_door=FrontDoorTiming(check_interval=door.check_interval, check_timeout=door.check_timeout,
                                   fall=door.fall, rise=door.rise),
        front_door_port=door.port,
        base_dir=services_dir,
        clock_skewed=frozenset(fault.target for fault in experiment.faults if isinstance(fault, ClockSkewFault)),
        disk_limits=disk_limits,
    )
