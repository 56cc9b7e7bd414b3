"""The knobs of every built-in service together, as a backend receives them (each model is its
driver's: :mod:`harness.services`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.services.care import CareOptions
from harness.services.data import DataOptions
from harness.services.ehr import EhrOptions
from harness.services.imaging import ImagingOptions
from harness.services.messaging import MessagingOptions


@dataclass(frozen=True)
class ServiceOptions:
    """The built-in services' options of one run (from the experiment's ``topology`` section)."""

    data: DataOptions = field(default_factory=DataOptions)
    ehr: EhrOptions = field(default_factory=EhrOptions)
    messaging: MessagingOptions = field(default_factory=MessagingOptions)
    imaging: ImagingOptions = field(default_factory=ImagingOptions)
    care: CareOptions = field(default_factory=CareOptions)
