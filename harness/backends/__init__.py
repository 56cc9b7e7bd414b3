"""Backends run a topology: ``local`` (processes on 127.0.0.1) now; docker, compose and
external later, behind the same :class:`~harness.backends.base.Backend` protocol."""

from harness.backends.base import Backend, Endpoints, LinkEndpoint
from harness.backends.options import (
    CareOptions,
    DataOptions,
    EhrOptions,
    ImagingOptions,
    MessagingOptions,
    ServiceOptions,
)

__all__ = [
    "Backend",
    "CareOptions",
    "DataOptions",
    "EhrOptions",
    "Endpoints",
    "ImagingOptions",
    "LinkEndpoint",
    "MessagingOptions",
    "ServiceOptions",
]
