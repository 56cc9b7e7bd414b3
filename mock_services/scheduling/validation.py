"""Checking what clients send: slots, PUT bodies, If-Match, query parameters.

Every failure is an :class:`ApiError` whose detail names the offending field
(``slots[2].end``, ``kind``, ``If-Match``...), answered as ``{"error", "detail"}``.

A slot is a JSON object with ``start`` and ``end`` -- ISO 8601 date-times with a UTC offset,
``start`` < ``end``, at most 24 h apart -- and optionally ``patient`` (``Patient/<FHIR id>``),
``procedure``/``shift`` (strings) and ``staff`` (a list of ``{"name", "role"}`` strings); other
fields are kept as given. Conflicts (409 ``slot-conflict``): in an ``or`` or ``scanner``
schedule two slots may not overlap in time (a room does one thing at a time); in a ``staff``
schedule two slots may not have the same ``shift``.
"""

from __future__ import annotations

import itertools
import re
from datetime import datetime, timedelta
from typing import Any

KINDS = ("staff", "or", "scanner")
MAX_SLOTS = 500
MAX_SLOT_LENGTH = timedelta(hours=24)
PATIENT_REFERENCE = re.compile(r"Patient/[A-Za-z0-9\-.]{1,64}")
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
IMMUTABLE = ("id", "kind", "unit", "date")


class ApiError(Exception):
    """An answer ``{"error": error, "detail": detail}`` with ``status`` and extra ``headers``."""

    def __init__(self, status: int, error: str, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.error, self.detail = status, error, detail
        self.headers = headers or {}


def _invalid(detail: str) -> ApiError:
    return ApiError(400, "invalid-slot", detail)


def _moment(slot: dict[str, Any], field: str, where: str) -> datetime:
    value = slot.get(field)
    if not isinstance(value, str):
        raise _invalid(f"{where}.{field} is required: an ISO 8601 date-time string")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _invalid(f"{where}.{field} is not an ISO 8601 date-time: {value!r}") from None
    if moment.tzinfo is None:
        raise _invalid(f"{where}.{field} needs a UTC offset (e.g. +02:00 or Z): {value!r}")
    return moment


def check_slot(slot: Any, where: str) -> tuple[datetime, datetime]:
    """Validate one slot (see the module docstring); returns its (start, end)."""
    if not isinstance(slot, dict):
        raise _invalid(f"{where} must be a JSON object")
    start, end = _moment(slot, "start", where), _moment(slot, "end", where)
    if not start < end:
        raise _invalid(f"{where}.end must be after {where}.start")
    if end - start > MAX_SLOT_LENGTH:
        raise _invalid(f"{where} is longer than 24 hours")
    if "patient" in slot and not (isinstance(slot["patient"], str) and PATIENT_REFERENCE.fullmatch(slot["patient"])):
        raise _invalid(f"{where}.patient must be a reference 'Patient/<id>', got {slot['patient']!r}")
    for field in ("procedure", "shift"):
        if field in slot and not isinstance(slot[field], str):
            raise _invalid(f"{where}.{field} must be a string")
    if "staff" in slot:
        staff = slot["staff"]
        if not isinstance(staff, list):
            raise _invalid(f"{where}.staff must be a list")
        for n, person in enumerate(staff):
            if not (isinstance(person, dict) and all(isinstance(person.get(k), str) for k in ("name", "role"))):
                raise _invalid(f"{where}.staff[{n}] must be an object with string name and role")
    return start, end


def check_slots(kind: str, slots: Any, new_index: int | None = None) -> None:
    """Validate a whole slot list of a schedule of ``kind`` and its conflicts.

    ``new_index``: the position of a slot being appended (named ``slot`` in errors, since the
    client sent it alone)."""
    if not isinstance(slots, list):
        raise ApiError(400, "invalid-body", "slots must be a list")
    if len(slots) > MAX_SLOTS:
        raise ApiError(400, "invalid-body", f"slots has {len(slots)} entries, at most {MAX_SLOTS} allowed")

    def name(n: int) -> str:
        return "slot" if n == new_index else f"slots[{n}]"

    spans = [check_slot(slot, name(n)) for n, slot in enumerate(slots)]
    if kind == "staff":
        seen: dict[str, int] = {}
        for n, slot in enumerate(slots):
            shift = slot.get("shift")
            if shift is not None and shift in seen:
                raise ApiError(409, "slot-conflict", f"{name(n)}.shift {shift!r} is already {name(seen[shift])}")
            if shift is not None:
                seen[shift] = n
        return
    order = sorted(range(len(slots)), key=lambda n: spans[n][0])
    for before, after in itertools.pairwise(order):
        if spans[after][0] < spans[before][1]:
            detail = f"{name(after)} starts before {name(before)} ends (slots of a {kind!r} schedule cannot overlap)"
            raise ApiError(409, "slot-conflict", detail)


def put_slots(body: Any, stored: dict[str, Any]) -> Any:
    """The ``slots`` of a PUT body ``{"slots": [...]}`` (it may repeat the schedule's other fields,
    which must then match; ``version``/``last_modified``/``slot_count`` are the server's and ignored)."""
    if not isinstance(body, dict):
        raise ApiError(400, "invalid-body", "the body must be a JSON object with a 'slots' list")
    if "slots" not in body:
        raise ApiError(400, "invalid-body", "slots is required")
    for field in IMMUTABLE:
        if field in body and body[field] != stored[field]:
            raise ApiError(400, "immutable-field", f"{field} cannot change ({stored[field]!r} -> {body[field]!r})")
    return body["slots"]


def if_match_version(header: str | None, required: bool) -> int | None:
    """The version an ``If-Match`` header asks for: ``W/"3"``, ``"3"`` or ``3``; None for ``*``
    or (when not ``required``) no header. Missing when required: 428; malformed: 400."""
    if header is None:
        if required:
            raise ApiError(428, "precondition-required", 'If-Match is required: send the ETag you read, e.g. W/"3"')
        return None
    text = header.strip()
    if text == "*":
        return None
    match = re.fullmatch(r'(?:W/)?"?(\d{1,18})"?', text)
    if match is None:
        raise ApiError(400, "invalid-header", f"If-Match must be an ETag like W/\"3\", got {header!r}")
    return int(match.group(1))


def list_filters(params: dict[str, str]) -> dict[str, str | None]:
    """``kind``/``unit``/``date`` of ``GET /schedules`` (validated); any other parameter is a 400."""
    unknown = sorted(set(params) - {"kind", "unit", "date"})
    if unknown:
        raise ApiError(400, "invalid-parameter", f"unknown query parameter {unknown[0]!r} (kind, unit, date)")
    kind, date = params.get("kind") or None, params.get("date") or None
    if kind is not None and kind not in KINDS:
        raise ApiError(400, "invalid-parameter", f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if date is not None and not DATE.fullmatch(date):
        raise ApiError(400, "invalid-parameter", f"date must be YYYY-MM-DD, got {date!r}")
    return {"kind": kind, "unit": params.get("unit") or None, "date": date}
