"""Per-service knobs the backends pass to the hospital services (from the experiment's
``topology`` section). Pure data: backends turn them into command-line flags."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class DataOptions:
    """Synthetic data every service loads at start-up (same seed: same hospital)."""

    seed: int = 2024
    patients: int = 0


@dataclass(frozen=True)
class EhrOptions:
    """How the EHR instances replicate, fail over and fence (mock_services.ehr flags)."""

    replication: Literal["sync", "async"] = "sync"
    sync_strict: bool = False
    promote_after: float = 3.0
    heartbeat_interval: float = 0.2
    peer_timeout: float = 0.5
    fencing: bool = False
    lease_ttl: float = 2.0


@dataclass(frozen=True)
class MessagingOptions:
    """The HL7 engines' store-and-forward behaviour (mock_services.messaging flags)."""

    rotate: bool = True
    dedup: bool = True
    retry_interval: float = 0.5
    forward_timeout: float = 5.0


@dataclass(frozen=True)
class ImagingOptions:
    """The imaging archive's asynchronous replication to its replica."""

    replication_interval: float = 0.2
    qido_empty_status: int = 200


@dataclass(frozen=True)
class CareOptions:
    """The care application's downtime procedure (mock_services.care flags)."""

    downtime_mode: bool = True
    snapshot_interval: float = 30.0
    max_snapshot_age: float = 120.0
    breaker_failures: int = 3
    breaker_window: float = 10.0
    breaker_reset: float = 2.0
    dependency_timeout: float = 2.0
    max_patients: int = 200
    printer_fails: bool = False


@dataclass(frozen=True)
class ServiceOptions:
    data: DataOptions = field(default_factory=DataOptions)
    ehr: EhrOptions = field(default_factory=EhrOptions)
    messaging: MessagingOptions = field(default_factory=MessagingOptions)
    imaging: ImagingOptions = field(default_factory=ImagingOptions)
    care: CareOptions = field(default_factory=CareOptions)
