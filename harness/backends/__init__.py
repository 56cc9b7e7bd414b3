"""Backends run a topology: ``local`` (processes on 127.0.0.1) now; docker, compose and
external later, behind the same :class:`~harness.backends.base.Backend` protocol."""

from harness.backends.base import Backend, EhrOptions, Endpoints, LinkEndpoint

__all__ = ["Backend", "EhrOptions", "Endpoints", "LinkEndpoint"]
