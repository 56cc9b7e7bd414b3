"""The local backend's options from an experiment's ``topology`` section (one place: the
runner and ``hchaos up`` both use it)."""

from __future__ import annotations

from harness.backends.local.backend import LocalOptions
from harness.backends.local.haproxy import FrontDoorTiming
from harness.backends.options import (
    CareOptions,
    DataOptions,
    EhrOptions,
    ImagingOptions,
    MessagingOptions,
    ServiceOptions,
)
from harness.experiment import Experiment


def local_options(experiment: Experiment) -> LocalOptions:
    """The local backend's knobs from the experiment's ``topology`` section."""
    config = experiment.topology
    ehr, door, care = config.ehr, config.front_door, config.care
    return LocalOptions(
        services=ServiceOptions(
            data=DataOptions(seed=config.data.seed, patients=config.data.patients),
            ehr=EhrOptions(replication=ehr.replication, sync_strict=ehr.sync_strict, promote_after=ehr.promote_after,
                           heartbeat_interval=ehr.heartbeat_interval, fencing=ehr.fencing, lease_ttl=ehr.lease_ttl),
            messaging=MessagingOptions(rotate=config.messaging.rotate, dedup=config.messaging.dedup,
                                       retry_interval=config.messaging.retry_interval,
                                       forward_timeout=config.messaging.forward_timeout),
            imaging=ImagingOptions(replication_interval=config.imaging.replication_interval,
                                   qido_empty_status=config.imaging.qido_empty_status),
            care=CareOptions(downtime_mode=care.downtime_mode, snapshot_interval=care.snapshot_interval,
                             max_snapshot_age=care.max_snapshot_age, breaker_failures=care.breaker_failures,
                             breaker_window=care.breaker_window, breaker_reset=care.breaker_reset,
                             dependency_timeout=care.dependency_timeout, max_patients=care.max_patients,
                             printer_fails=care.printer == "fail"),
        ),
        front_door=FrontDoorTiming(check_interval=door.check_interval, check_timeout=door.check_timeout,
                                   fall=door.fall, rise=door.rise),
        front_door_port=door.port,
    )
