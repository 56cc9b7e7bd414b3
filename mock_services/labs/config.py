"""Settings of one lab results portal instance (validated; built from the command line)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Config:
    """``ehr_url``: base of the EHR's FHIR API (in production runs, the front door);
    ``ehr_timeout``: seconds for each EHR call (connect and read); ``cache_ttl``: seconds a
    patient's results are reused without asking the EHR again (0 = never cached).

    Raises ValueError on an empty name/datacenter, a non-http(s) EHR URL, a timeout <= 0, a
    negative TTL or a port outside 0..65535.
    """

    name: str
    datacenter: str
    ehr_url: str
    host: str = "127.0.0.1"
    port: int = 0
    ehr_timeout: float = 2.0
    cache_ttl: float = 0.0

    def __post_init__(self) -> None:
        if not self.name or not self.datacenter:
            raise ValueError("name and datacenter must not be empty")
        parts = urlsplit(self.ehr_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"--ehr-url must be an http(s) URL, got {self.ehr_url!r}")
        if not self.ehr_timeout > 0:
            raise ValueError(f"--ehr-timeout must be > 0 seconds, got {self.ehr_timeout}")
        if self.cache_ttl < 0:
            raise ValueError(f"--cache-ttl must be >= 0 seconds, got {self.cache_ttl}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"--port must be in 0..65535, got {self.port}")

    @property
    def ehr_base(self) -> str:
        """``ehr_url`` without a trailing slash."""
        return self.ehr_url.rstrip("/")
