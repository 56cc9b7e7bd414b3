"""The built-in services, one driver each: options (the only place their knobs and defaults
live), command line, health path. User services are declared in the topology instead
(:mod:`harness.topology.spec`, :mod:`harness.backends.local.user_services`)."""

from __future__ import annotations

from harness.services import care, ehr, imaging, messaging, small
from harness.services.base import Driver, LaunchContext
from harness.services.care import CareOptions
from harness.services.data import DataOptions
from harness.services.ehr import EhrOptions
from harness.services.imaging import ImagingOptions
from harness.services.messaging import MessagingOptions
from harness.services.options import ServiceOptions

DRIVERS: dict[str, Driver] = {d.name: d for d in (
    ehr.DRIVER, messaging.DRIVER, imaging.DRIVER, small.LABS, small.SCHEDULING, care.DRIVER, small.WITNESS,
    small.NOTIFY)}
"""Every built-in service by its ``builtin:`` name."""

__all__ = ["DRIVERS", "CareOptions", "DataOptions", "Driver", "EhrOptions", "ImagingOptions", "LaunchContext",
           "MessagingOptions", "ServiceOptions"]
