"""Notable-event logging: one line per event on stderr, easy to read and to grep.

Format: ``2024-08-03T10:15:30.123Z ehr-a[dc-a] WARNING event=promote epoch=2 lsn=15 reason="..."``
-- a UTC timestamp, who, the level, then ``event=<kind>`` and ``key=value`` fields (values
with spaces are quoted). Events are role changes, promotion, step-down, resync, peer
reachability transitions and sync-state transitions; never one line per request.
"""

from __future__ import annotations

import logging

from mock_services.common.eventlog import configure, log_to

# Its own logger name (not the shared one): tests and operators select this service's events by it.
LOGGER_NAME = "mock_services.ehr"
logger = logging.getLogger(LOGGER_NAME)


def log_event(event: str, *, level: int = logging.INFO, **fields: object) -> None:
    """Log one notable event (see the module docstring for the line format)."""
    log_to(logger, event, level, **fields)


def setup_logging(name: str, datacenter: str) -> None:
    """Send this package's events to stderr with UTC timestamps. Idempotent."""
    configure(logger, name, datacenter)
