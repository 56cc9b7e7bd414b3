"""Notable-event logging: one line per event on stderr, easy to read and to grep.

Format: ``2024-08-03T10:15:30.123Z pacs-a[dc-a] INFO event=replica-reachable backlog=3`` --
a UTC timestamp, who, the level, then ``event=<kind>`` and ``key=value`` fields (values with
spaces are quoted). Events: start/stop, seed-data progress, crash recovery, replica
reachability transitions, rejected replication batches. Never one line per request.
"""

from __future__ import annotations

import logging
import sys
import time

LOGGER_NAME = "mock_services.imaging"
logger = logging.getLogger(LOGGER_NAME)


def _format_value(value: object) -> str:
    text = str(value)
    if not text or any(ch.isspace() or ch in '"=' for ch in text):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
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
    # UTC, so lines from both data centers and the harness sort on one clock.
    formatter.converter = time.gmtime
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
