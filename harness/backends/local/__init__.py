"""The local backend: the whole topology as processes on 127.0.0.1 (the embedded default)."""

from harness.backends.local.backend import LocalBackend, LocalOptions
from harness.backends.local.haproxy import FrontDoorTiming

__all__ = ["FrontDoorTiming", "LocalBackend", "LocalOptions"]
