"""Notable-event logging: one line per event on stderr, easy to read and to grep.

Format: ``2024-08-03T10:15:30.123Z labs-a[dc-a] WARNING event=ehr-unreachable detail="..."`` --
a UTC timestamp, who, the level, then ``event=<kind>`` and ``key=value`` fields (values with
spaces, quotes or ``=`` are quoted; a carriage return or line feed inside a value is written
``\\r`` / ``\\n``, so an event is always exactly one line, even when a value is an HL7 segment
or a multi-line error). Each service documents its events in its package docstring. Never one
line per request.

The shared logger (:data:`logger`, :func:`log_event`, :func:`setup_logging`) serves the small
services; the EHR, imaging, messaging and witness keep a logger of their own name (tests and
operators select a service's events by it) and use :func:`log_to` / :func:`configure`.
"""

from __future__ import annotations

import logging
import sys
import time

LOGGER_NAME = "mock_services.events"
logger = logging.getLogger(LOGGER_NAME)


def _format_value(value: object) -> str:
    text = str(value)
    if not text or any(ch.isspace() or ch in '"=' for ch in text):
        escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "\\r").replace("\n", "\\n")
        return '"' + escaped + '"'
    return text


def format_event(event: str, fields: dict[str, object]) -> str:
    """``event=<event> k=v ...`` in the given field order."""
    return " ".join([f"event={event}", *(f"{key}={_format_value(value)}" for key, value in fields.items())])


def log_to(target: logging.Logger, event: str, level: int = logging.INFO, **fields: object) -> None:
    """Log one notable event on ``target`` (services with their own logger name use this)."""
    target.log(level, format_event(event, fields))


def configure(target: logging.Logger, name: str, datacenter: str) -> None:
    """Send ``target``'s events to stderr with UTC timestamps, as ``name[datacenter]``. Idempotent."""
    formatter = logging.Formatter(
        fmt=f"%(asctime)s.%(msecs)03dZ {name}[{datacenter}] %(levelname)s %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S",
    )
    formatter.converter = time.gmtime  # UTC, so lines from every service sort on one clock
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    target.handlers[:] = [handler]
    target.setLevel(logging.INFO)
    target.propagate = False


def log_event(event: str, *, level: int = logging.INFO, **fields: object) -> None:
    """Log one notable event (see the module docstring for the line format)."""
    log_to(logger, event, level, **fields)


def setup_logging(name: str, datacenter: str) -> None:
    """Send this process's events to stderr with UTC timestamps. Idempotent."""
    configure(logger, name, datacenter)
