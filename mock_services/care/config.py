"""Settings of one care application instance (a clinicians' workstation; validated; built from the command line)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

#: An instance name goes into downtime identifiers (``DT-O-<name>-000001``), which must stay FHIR
#: ids and identifier values: letters, digits, ``-`` and ``.``, at most 40 characters.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-.]{0,39}")
PREFIX_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9]{0,7}")
DEPENDENCIES = ("ehr", "labs", "imaging", "scheduling")


def _check_url(flag: str, url: str | None) -> str | None:
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{flag} must be an http(s) URL, got {url!r}")
    return url.rstrip("/")


@dataclass(frozen=True)
class Config:
    """One care application instance's settings. Durations are float seconds.

    * ``ehr_url`` / ``labs_url`` / ``imaging_url`` / ``scheduling_url``: the dependencies'
      bases (the front door in production runs); ``None`` = not configured, and the screens that
      need it say so. ``notify_url``: the out-of-band notification sink (``None`` = none; the
      notifications are still kept in the outbox and listed by ``/downtime/status``).
    * ``state_dir``: the SQLite database (queue, outbox, counters) and the snapshot files.
    * ``downtime_mode``: ``False`` is the misconfigured application with no downtime procedure:
      no snapshot, no queue; with the EHR down it just answers errors.
    * breaker: ``breaker_failures`` failures within ``breaker_window`` open a dependency's
      breaker; after ``breaker_reset`` one probe call is let through (half-open). Each call is
      bounded by ``dependency_timeout``; ``probe_interval`` paces the background health probes.
    * snapshot: refreshed every ``snapshot_interval``; older than ``max_snapshot_age`` it is
      flagged stale on every screen; at most ``max_patients`` patients (in-progress encounters
      of ``wards``, or of every ward when empty, then recently viewed patients).
    * queue: at most ``queue_capacity`` entries waiting; downtime identifiers are
      ``<id_prefix>-O-<name>-<n>`` (orders) and ``<id_prefix>-P-<name>-<n>`` (patients).

    Raises ValueError naming the flag on any invalid value.
    """

    name: str
    state_dir: Path
    datacenter: str = "campus"
    host: str = "127.0.0.1"
    port: int = 0
    ehr_url: str | None = None
    labs_url: str | None = None
    imaging_url: str | None = None
    scheduling_url: str | None = None
    notify_url: str | None = None
    downtime_mode: bool = True
    snapshot_interval: float = 30.0  # the defaults are the harness's (harness/services/care.py: CareOptions)
    max_snapshot_age: float = 120.0
    max_patients: int = 200
    wards: tuple[str, ...] = ()
    breaker_failures: int = 3
    breaker_window: float = 10.0
    breaker_reset: float = 2.0
    dependency_timeout: float = 2.0
    probe_interval: float = 1.0
    queue_capacity: int = 10_000
    id_prefix: str = "DT"
    printer_failing: bool = False
    urls: dict[str, str | None] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not NAME_PATTERN.fullmatch(self.name):
            raise ValueError("--name must be 1-40 letters, digits, '-' or '.', starting alphanumeric, "
                             f"got {self.name!r}")
        if not self.datacenter.strip():
            raise ValueError("--datacenter must not be empty")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"--port must be in 0..65535, got {self.port}")
        urls = {}
        for dependency in (*DEPENDENCIES, "notify"):
            attribute = f"{dependency}_url"
            checked = _check_url(f"--{dependency}-url", getattr(self, attribute))
            object.__setattr__(self, attribute, checked)
            urls[dependency] = checked
        object.__setattr__(self, "urls", urls)
        for flag, value in (
            ("snapshot-interval", self.snapshot_interval),
            ("max-snapshot-age", self.max_snapshot_age),
            ("breaker-window", self.breaker_window),
            ("breaker-reset", self.breaker_reset),
            ("dependency-timeout", self.dependency_timeout),
            ("probe-interval", self.probe_interval),
        ):
            if not value > 0:
                raise ValueError(f"--{flag} must be > 0 seconds, got {value}")
        if self.max_snapshot_age < self.snapshot_interval:
            raise ValueError(
                f"--max-snapshot-age ({self.max_snapshot_age} s) must be >= --snapshot-interval "
                f"({self.snapshot_interval} s), or every snapshot would be stale before the next refresh"
            )
        if self.breaker_failures < 1:
            raise ValueError(f"--breaker-failures must be >= 1, got {self.breaker_failures}")
        if not 1 <= self.max_patients <= 100_000:
            raise ValueError(f"--max-patients must be in 1..100000, got {self.max_patients}")
        if not 1 <= self.queue_capacity <= 1_000_000:
            raise ValueError(f"--queue-capacity must be in 1..1000000, got {self.queue_capacity}")
        if not PREFIX_PATTERN.fullmatch(self.id_prefix):
            raise ValueError("--id-prefix must be 1-8 letters or digits starting with a letter, "
                             f"got {self.id_prefix!r}")
        if any(not ward.strip() for ward in self.wards):
            raise ValueError("--ward must not be empty")

    def configured(self, dependency: str) -> bool:
        return self.urls.get(dependency) is not None
