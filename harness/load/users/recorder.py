"""Locust's request events as timeline records, the records file and the end-of-run summary.

Pure Python (no Locust, no gevent): the Locust wiring lives in :mod:`.transport`; this is
what it calls, and what the unit tests exercise.

:func:`request_record` turns the arguments of one Locust ``request`` event into a dict in
the timeline's :class:`~harness.timeline.events.RequestRecord` format (``kind: "request"``,
``source: "load"``, ``None`` fields dropped, like ``record_to_dict``):

* ``t`` -- the event's ``start_time`` (wall clock, ``time.time()``), ``duration`` -- its
  ``response_time`` in seconds;
* ``service`` and ``operation`` -- the context's ``service`` (else the request name up to
  its first ``:``) and the request name (``"ehr: GET Patient/{id}"``);
* ``ok`` -- no exception (the personas decide what is expected, e.g. 201 for a create);
  ``error`` -- the context's ``error`` if the persona set one (``"bad-body"``, ``"ack-AE"``,
  ``"http-404"``...), else :func:`classify_error` of the exception;
* ``status`` -- the HTTP status (``None`` without a response, and for MLLP);
* ``served_by`` / ``datacenter`` -- the response's ``X-Served-By`` / ``X-Datacenter``
  headers, else the context's (the MLLP user names the engine that answered);
* ``persona``, ``user`` -- from the context (``User.context()`` of every persona);
* write identifiers -- ``resource_id`` (``Type/id``) and ``version`` from the context or,
  failing that, from a FHIR ``Location: .../Type/id/_history/v`` header; ``message_id``,
  ``ack_code``, ``instance_uid`` from the context. They are kept on failed requests too: a
  write whose answer was a failure (a 201 with an unreadable body) may still exist.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.load.plan import RECORD_SOURCE

RECORDS_KEY = "hchaos_records"
"""Key of the records in the ``data`` of Locust's worker -> master stats report."""

SERVED_BY_HEADER = "X-Served-By"
DATACENTER_HEADER = "X-Datacenter"

_CONTEXT_FIELDS = ("persona", "user", "resource_id", "version", "message_id", "ack_code", "instance_uid",
                   "write_key", "accepted_by", "downtime_id", "patient")
# The care application stamps every answer, errors included, with its mode and data time.
MODE_HEADER = "X-Care-Mode"
AS_OF_HEADER = "X-Snapshot-As-Of"
_LOCATION = re.compile(r"/([A-Z][A-Za-z]*)/([A-Za-z0-9\-.]{1,64})/_history/([^/?#]+)/?$")

# Exception classes of geventhttpclient and Locust, recognised by name: importing them would
# import gevent into whoever imports this module.
_DISCONNECTED_NAMES = frozenset({"HTTPConnectionClosed", "EmptyResponse"})
_TIMEOUT_NAMES = frozenset({"Timeout"})  # gevent.Timeout is a BaseException, not a TimeoutError
_BAD_RESPONSE_NAMES = frozenset({"HTTPParseError"})


def _header(headers: Any, name: str) -> str | None:
    if headers is None:
        return None
    try:
        value = headers.get(name)
    except Exception:  # a headers object of another kind: no header, not a broken record
        return None
    if isinstance(value, list):  # a repeated field: geventhttpclient gives every line
        value = value[0] if value else None
    return value if isinstance(value, str) and value else None


def response_status(response: Any) -> int | None:
    """The HTTP status of Locust's response object; ``None`` when there was no response
    (Locust reports 0 for connection errors)."""
    status = getattr(response, "status_code", None) if response is not None else None
    return status if isinstance(status, int) and status > 0 else None


def parse_location(location: str | None) -> tuple[str, str] | None:
    """``("Type/id", version)`` from a FHIR ``Location`` header (``<base>/Type/id/_history/v``)."""
    if not location:
        return None
    match = _LOCATION.search(location)
    if match is None:
        return None
    return f"{match.group(1)}/{match.group(2)}", match.group(3)


def _names(exception: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exception).__mro__}


def classify_error(exception: BaseException | None, status: int | None = None) -> str | None:
    """A short error kind for a failed request: ``timeout``, ``connect`` (refused or
    unreachable), ``disconnected`` (closed or reset before an answer), ``dns``, ``tls``,
    ``bad-response`` (not HTTP), ``http-<status>``, else ``error``. ``None`` if no exception.

    geventhttpclient wraps a timeout (and an empty answer) in ``RetriesExceeded`` with the
    cause in ``original``; the cause decides.
    """
    if exception is None:
        return None
    original = getattr(exception, "original", None)
    if isinstance(original, BaseException) and original is not exception:
        return classify_error(original, status)
    names = _names(exception)
    if isinstance(exception, TimeoutError) or names & _TIMEOUT_NAMES:
        return "timeout"
    if isinstance(exception, ConnectionRefusedError):
        return "connect"
    if isinstance(exception, ConnectionResetError | ConnectionAbortedError | BrokenPipeError) or (
        names & _DISCONNECTED_NAMES
    ):
        return "disconnected"
    if names & _BAD_RESPONSE_NAMES:
        return "bad-response"
    code = getattr(exception, "code", None)
    if isinstance(code, int) and code >= 400:
        return f"http-{code}"
    if status is not None and status >= 400:
        return f"http-{status}"
    if isinstance(exception, socket.gaierror):
        return "dns"
    if "SSLError" in names:
        return "tls"
    if isinstance(exception, OSError):
        return "connect"  # unreachable host or network, no route
    return "error"


def request_record(
    *,
    name: str,
    response_time: float,
    start_time: float,
    context: Mapping[str, Any] | None,
    exception: BaseException | None,
    response: Any = None,
) -> dict[str, Any]:
    """The timeline record dict of one Locust ``request`` event (see the module docstring)."""
    context = context or {}
    headers = getattr(response, "headers", None) if response is not None else None
    status = response_status(response)
    ok = exception is None
    service = context.get("service") or name.split(":", 1)[0].strip()
    record: dict[str, Any] = {
        "t": float(start_time),
        "duration": max(0.0, float(response_time or 0.0)) / 1000.0,
        "source": RECORD_SOURCE,
        "service": str(service),
        "operation": name,
        "ok": ok,
        "kind": "request",
    }
    if status is not None:
        record["status"] = status
    if not ok:
        record["error"] = str(context.get("error") or classify_error(exception, status))
    served_by = _header(headers, SERVED_BY_HEADER) or context.get("served_by")
    datacenter = _header(headers, DATACENTER_HEADER) or context.get("datacenter")
    if served_by:
        record["served_by"] = str(served_by)
    if datacenter:
        record["datacenter"] = str(datacenter)
    for field in _CONTEXT_FIELDS:
        value = context.get(field)
        if value is not None and value != "":
            record[field] = str(value)
    mode = _header(headers, MODE_HEADER) or context.get("mode")
    if mode:
        record["mode"] = str(mode)
    as_of = _header(headers, AS_OF_HEADER) or context.get("as_of")
    if as_of:
        with contextlib.suppress(ValueError):  # not a time: the staleness check counts it as undated
            record["as_of"] = float(as_of)
    if "resource_id" not in record:
        located = parse_location(_header(headers, "Location"))
        if located is not None:
            record["resource_id"], version = located
            record.setdefault("version", version)
    return record


def encode_record(record: Mapping[str, Any]) -> str:
    """One record as its JSON line (without the newline), the form buffers and reports carry:
    encoded where the request ran, so a master receiving many workers' records only writes."""
    return json.dumps(record, separators=(",", ":"))


class RecordsFile:
    """Appends encoded records (:func:`encode_record`) to the run's records file as JSON lines,
    one ``write`` per batch (the harness reads complete lines only, so a batch caught
    half-written is read next time)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.written = 0
        self._file: Any = None

    def append(self, lines: Sequence[str]) -> None:
        if not lines:
            return
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")
        self._file.write("".join(line + "\n" for line in lines))
        self._file.flush()
        self.written += len(lines)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def build_summary(*, requests: int, failures: int, recorded: int, by_name: Mapping[str, Mapping[str, int]],
                  workers: int, recording: bool) -> dict[str, Any]:
    """The ``load-summary.json`` document: Locust's counts next to the records written."""
    return {
        "locust_requests": requests,
        "locust_failures": failures,
        "recorded": recorded,
        "by_name": {name: dict(counts) for name, counts in sorted(by_name.items())},
        "workers": workers,
        "recording": recording,
    }


def write_summary(path: Path, summary: Mapping[str, Any]) -> None:
    """Write the summary atomically (the harness may read it the moment Locust exits)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    os.replace(partial, path)
