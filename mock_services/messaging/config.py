"""The HL7 engine's configuration: one frozen value built from the command line.

The other modules never read ``sys.argv``; :class:`Config` validates itself on construction,
so an engine that exists is a consistent one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path


class Synchronous(StrEnum):
    """SQLite's ``synchronous`` setting for the message store (WAL mode in both cases).

    ``full`` (default): every commit fsyncs the WAL before the ACK is sent, so an ACKed
    message survives a SIGKILL *and* a kernel crash or power cut. ``normal``: commits reach
    the OS page cache only; an ACKed message survives a SIGKILL (what the harness does) but
    the last commits can be lost -- never corrupted -- on a kernel crash or power cut.
    """

    FULL = "full"
    NORMAL = "normal"


@dataclass(frozen=True)
class Config:
    """One engine's settings. Durations are float seconds.

    Contract (checked in ``__post_init__``, violations raise ``ValueError``):

    * ``name`` and ``datacenter`` are non-empty; ports are 0..65535 (0 = the OS chooses,
      only useful in-process, where the bound port is read back from the engine);
    * ``destination_fhir`` is ``None`` (store only) or an ``http(s)://`` base URL, kept
      without a trailing slash;
    * ``forward_retry_interval`` and ``forward_timeout`` are > 0; ``forward_max_attempts``
      is >= 0 (0 = retry forever); ``ack_delay`` >= 0;
    * ``max_frame_bytes`` >= 1 KiB, ``max_garbage_bytes`` >= 1, ``idle_timeout`` > 0.
    """

    name: str
    datacenter: str
    db_path: Path
    host: str = "127.0.0.1"
    mllp_port: int = 0
    http_port: int = 0
    destination_fhir: str | None = None
    forward_retry_interval: float = 0.5
    forward_max_attempts: int = 0
    forward_timeout: float = 5.0
    rotate: bool = False
    dedup_key: bool = True
    ack_delay: float = 0.0
    synchronous: Synchronous = Synchronous.FULL
    max_frame_bytes: int = 1024 * 1024
    max_garbage_bytes: int = 64 * 1024
    idle_timeout: float = 300.0

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValueError("name must not be empty")
        if not self.datacenter.strip():
            raise ValueError("datacenter must not be empty")
        for field in ("mllp_port", "http_port"):
            port = getattr(self, field)
            if not 0 <= port <= 65535:
                raise ValueError(f"{field.replace('_', '-')} must be 0..65535, got {port}")
        if self.destination_fhir is not None:
            if not self.destination_fhir.startswith(("http://", "https://")):
                raise ValueError(f"destination-fhir must start with http:// or https://, got {self.destination_fhir!r}")
            # Normalised so that callers can join paths with a plain f-string.
            object.__setattr__(self, "destination_fhir", self.destination_fhir.rstrip("/"))
        for field in ("forward_retry_interval", "forward_timeout", "idle_timeout"):
            if not getattr(self, field) > 0:
                raise ValueError(f"{field.replace('_', '-')} must be > 0 seconds, got {getattr(self, field)}")
        if self.forward_max_attempts < 0:
            raise ValueError(f"forward-max-attempts must be >= 0 (0 = forever), got {self.forward_max_attempts}")
        if self.ack_delay < 0:
            raise ValueError(f"ack-delay must be >= 0 seconds, got {self.ack_delay}")
        if self.max_frame_bytes < 1024:
            raise ValueError(f"max-frame-bytes must be >= 1024, got {self.max_frame_bytes}")
        if self.max_garbage_bytes < 1:
            raise ValueError(f"max-garbage-bytes must be >= 1, got {self.max_garbage_bytes}")
