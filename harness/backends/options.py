"""The built-in services' options as backends receive them: the models of their drivers
(:mod:`harness.services`), gathered in :class:`ServiceOptions`. Re-exported here because every
backend takes them; defined once, in each driver."""

from harness.services import CareOptions, DataOptions, EhrOptions, ImagingOptions, MessagingOptions, ServiceOptions

__all__ = ["CareOptions", "DataOptions", "EhrOptions", "ImagingOptions", "MessagingOptions", "ServiceOptions"]
