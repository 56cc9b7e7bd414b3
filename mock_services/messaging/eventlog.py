"""Notable-event logging for the HL7 engine: one line per event on stderr.

Format (the same as the EHR's, so lines from every service sort and grep alike)::

    2024-08-03T10:15:30.123Z msg-a[dc-a] WARNING event=forward-failed seq=12 control_id=MSG1 error="..."

Events are start/stop, listener and forwarder state changes, rejected frames (garbage,
oversize, unreadable), forwarding failures and give-ups -- never one line per message.
Failures that repeat (a destination that stays down) are logged on the first failure and on
recovery, not on every retry.
"""

from __future__ import annotations

import logging

from mock_services.common.eventlog import configure, log_to

# Its own logger name (not the shared one): tests and operators select this service's events by it.
LOGGER_NAME = "mock_services.messaging"
logger = logging.getLogger(LOGGER_NAME)


def log_event(event: str, *, level: int = logging.INFO, **fields: object) -> None:
    """Log one notable event (see the module docstring for the line format)."""
    log_to(logger, event, level, **fields)


def setup_logging(name: str, datacenter: str) -> None:
    """Send this package's events to stderr with UTC timestamps. Idempotent."""
    configure(logger, name, datacenter)
