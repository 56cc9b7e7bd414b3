"""The imaging instance's configuration: one frozen value built from the command line.

Every other module takes its settings from :class:`Config`, never from ``sys.argv`` or the
environment. The constructor validates: an instance that exists is a consistent one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path


class Role(StrEnum):
    """What an instance is for. Fixed for its lifetime: the imaging pair never fails over.

    ``archive`` (dc-a): accepts STOW-RS from clients and ships every new instance to its
    replica. ``replica`` (dc-b): read-only for clients; stores what the archive ships.
    """

    ARCHIVE = "archive"
    REPLICA = "replica"


QIDO_EMPTY_STATUSES = (200, 204)
"""What a QIDO-RS search that matches nothing may answer (``--qido-empty-status``)."""


@dataclass(frozen=True)
class Config:
    """One imaging instance's settings. Durations are float seconds.

    Contract (checked in ``__post_init__``, violations raise ``ValueError``):

    * ``name`` and ``datacenter`` are non-empty; ``port`` is 0..65535 (0 only in-process);
    * ``replica_url`` is ``None`` or an ``http(s)://`` URL (normalised without a trailing
      slash), and only an archive may have one;
    * ``replication_interval`` and ``peer_timeout`` are > 0;
    * ``patients`` is >= 0 (0 = no synthetic data); ``seed`` any int;
    * ``qido_empty_status`` is 200 or 204: the answer to a search that matches nothing. Real
      servers differ here and clients notice: PS3.18 8.3.4.4.1 (2019 and later editions) says
      204 No Content; Orthanc 1.10 with its DICOMweb plugin answers 200 with ``[]``. The
      default is what Orthanc does; an experiment can choose 204.
    """

    name: str
    datacenter: str
    role: Role
    storage: Path
    host: str = "127.0.0.1"
    port: int = 0
    replica_url: str | None = None
    replication_interval: float = 0.2
    peer_timeout: float = 2.0
    seed: int = 2024
    patients: int = 0
    qido_empty_status: int = 200

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValueError("name must not be empty")
        if not self.datacenter.strip():
            raise ValueError("datacenter must not be empty")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0..65535, got {self.port}")
        if self.replica_url is not None:
            if self.role is not Role.ARCHIVE:
                raise ValueError("only an archive ships to a replica: --replica-url needs --role archive")
            if not self.replica_url.startswith(("http://", "https://")):
                raise ValueError(f"replica URL must start with http:// or https://, got {self.replica_url!r}")
            # Normalised here so that callers can join paths with a plain f-string.
            object.__setattr__(self, "replica_url", self.replica_url.rstrip("/"))
        for field in ("replication_interval", "peer_timeout"):
            value = getattr(self, field)
            if not value > 0:
                raise ValueError(f"{field.replace('_', '-')} must be > 0 seconds, got {value}")
        if self.patients < 0:
            raise ValueError(f"patients must be >= 0, got {self.patients}")
        if self.qido_empty_status not in QIDO_EMPTY_STATUSES:
            raise ValueError(f"qido-empty-status must be 200 or 204, got {self.qido_empty_status}")
