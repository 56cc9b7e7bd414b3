"""The EHR instance's configuration: one frozen value built from the command line.

Everything an instance needs to know about itself and its peer lives here, so the other
modules never read ``sys.argv`` or the environment. :func:`Config.validate` is called by the
constructor: an instance that exists is a consistent one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path


class ConfiguredRole(StrEnum):
    """The role an instance is *told* to start in (its live role may differ later)."""

    PRIMARY = "primary"
    STANDBY = "standby"


class ReplicationMode(StrEnum):
    """When the primary acknowledges a write.

    ``sync``: after the standby applied it (see ``sync_strict`` for what happens when it
    cannot). ``async``: right after the local commit; the standby catches up in the background.
    """

    SYNC = "sync"
    ASYNC = "async"


@dataclass(frozen=True)
class Config:
    """One EHR instance's settings. Durations are float seconds.

    Contract (checked in ``__post_init__``, violations raise ``ValueError``):

    * ``name`` and ``datacenter`` are non-empty; ``port`` is 0..65535 (0 = let the OS choose,
      only useful in-process);
    * ``peer_url`` is ``None`` (a single instance: it keeps its configured role forever and
      never replicates) or an ``http://`` / ``https://`` URL without a trailing slash;
    * ``heartbeat_interval``, ``peer_timeout`` and ``promote_after`` are > 0, and
      ``promote_after`` is larger than ``heartbeat_interval`` (otherwise a healthy standby
      would promote itself between two heartbeats);
    * ``fencing`` needs ``witness_url`` (normalised like ``peer_url``) and ``peer_url``, and a
      ``lease_ttl`` of at least two heartbeat intervals (the lease is renewed every heartbeat;
      one lost renewal must not cost the lease);
    * ``patients`` is 0..100 000 (0 = no base snapshot), ``cluster`` is non-empty.
    """

    name: str
    datacenter: str
    role: ConfiguredRole
    db_path: Path
    host: str = "127.0.0.1"
    port: int = 0
    peer_url: str | None = None
    replication: ReplicationMode = ReplicationMode.SYNC
    sync_strict: bool = False
    promote_after: float = 3.0
    heartbeat_interval: float = 0.2
    peer_timeout: float = 0.5
    cluster: str = "ehr"
    fencing: bool = False
    witness_url: str | None = None
    lease_ttl: float = 2.0
    seed: int = 2024
    patients: int = 0

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValueError("name must not be empty")
        if not self.datacenter.strip():
            raise ValueError("datacenter must not be empty")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0..65535, got {self.port}")
        for field in ("peer_url", "witness_url"):
            url = getattr(self, field)
            if url is not None:
                if not url.startswith(("http://", "https://")):
                    raise ValueError(f"{field.replace('_', '-')} must start with http:// or https://, got {url!r}")
                # Normalised here so that callers can join paths with a plain f-string.
                object.__setattr__(self, field, url.rstrip("/"))
        if not self.cluster.strip():
            raise ValueError("cluster must not be empty")
        if not 0 <= self.patients <= 100_000:
            raise ValueError(f"patients must be 0..100000, got {self.patients}")
        for field in ("heartbeat_interval", "peer_timeout", "promote_after", "lease_ttl"):
            value = getattr(self, field)
            if not value > 0:
                raise ValueError(f"{field.replace('_', '-')} must be > 0 seconds, got {value}")
        if self.promote_after <= self.heartbeat_interval:
            raise ValueError(
                f"promote-after ({self.promote_after} s) must be larger than heartbeat-interval "
                f"({self.heartbeat_interval} s), or a healthy standby would promote itself"
            )
        if self.fencing:
            if self.witness_url is None:
                raise ValueError("fencing on needs --witness-url (the witness that grants the primary lease)")
            if self.peer_url is None:
                raise ValueError("fencing on needs --peer-url: a single instance has nobody to fence")
            if self.lease_ttl < 2 * self.heartbeat_interval:
                raise ValueError(
                    f"lease-ttl ({self.lease_ttl} s) must be at least two heartbeat intervals "
                    f"({2 * self.heartbeat_interval} s): the lease is renewed every heartbeat"
                )

    @property
    def has_peer(self) -> bool:
        """Whether this instance is one of a replicated pair."""
        return self.peer_url is not None
