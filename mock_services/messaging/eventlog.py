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
import sys
import time

LOGGER_NAME = "mock_services.messaging"
logger = logging.getLogger(LOGGER_NAME)


def _format_value(value: object) -> str:
    text = str(value)
    if not text or any(ch.isspace() or ch in '"=' for ch in text):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "\\r").replace("\n", "\\n") + '"'
    return text


def format_event(event: str, fields: dict[str, object]) -> str:
    """``event=<event> k=v ...`` in the given field order."""
    parts = [f"event={event}"]
    parts.extend(f"{key}={_format_value(value)}" for key, value in fields.items())
    return " ".join(parts)


def log_event(event: str, *, level: int = logging.INFO, **fields: object) -> None:
    """Log one notable event (see the module docstring for the line format)."""
    logger.log(level, format_event(event, fields))


def setup_logging(name: str, datacenter: str) -> None:
    """Send this package's events to stderr with UTC timestamps. Idempotent."""
    formatter = logging.Formatter(
        fmt=f"%(asctime)s.%(msecs)03dZ {name}[{datacenter}] %(levelname)s %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S",
    )
    formatter.converter = time.gmtime  # UTC: lines from both data centers sort on one clock
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
