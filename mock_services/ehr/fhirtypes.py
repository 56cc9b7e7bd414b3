"""FHIR R4 primitive and datatype checks, and the value extraction search indexes are built from.

Everything here is a pure function of JSON values. Validation is deliberately partial: it
checks the shape of the elements this server relies on (for search indexes, references and
required elements) and nothing else, so that a client's extra elements pass through
untouched. Failures raise :class:`InvalidResource` with the element's path, e.g.
``Observation.category[0].coding[1].system: expected a string, got 5``.

Dates: a FHIR ``date`` / ``dateTime`` / ``instant`` with precision P is the half-open range
``[start, start + P)`` in UTC epoch seconds (a date without a time zone is read as UTC).
Search comparisons (:mod:`.search`) are made between such ranges, as the FHIR spec asks.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from collections.abc import Callable, Iterator
from datetime import datetime

Validator = Callable[[object, str], None]

ID_PATTERN = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_DATE_TIME = re.compile(
    r"(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:T(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?P<fraction>\.\d+)?)?"
    r"(?P<zone>Z|[+-]\d{2}:\d{2})?)?)?)?"
)


class InvalidResource(ValueError):
    """A resource (or one of its elements) does not have the shape FHIR requires."""


def _type_name(value: object) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(type(value), repr(value))


def expect_string(value: object, path: str) -> None:
    if not isinstance(value, str):
        raise InvalidResource(f"{path}: expected a string, got {_type_name(value)}")


def expect_object(value: object, path: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise InvalidResource(f"{path}: expected a JSON object, got {_type_name(value)}")
    return value


def code_of(*allowed: str) -> Validator:
    """A ``code`` restricted to ``allowed`` (a required binding), or any string if empty."""

    def check(value: object, path: str) -> None:
        expect_string(value, path)
        if allowed and value not in allowed:
            raise InvalidResource(f"{path}: {value!r} is not one of {'|'.join(allowed)}")

    return check


def list_of(item: Validator) -> Validator:
    def check(value: object, path: str) -> None:
        if not isinstance(value, list):
            raise InvalidResource(f"{path}: expected a list, got {_type_name(value)}")
        for index, element in enumerate(value):
            item(element, f"{path}[{index}]")

    return check


def _fields(obj: dict[str, object], path: str, **validators: Validator) -> None:
    for key, validator in validators.items():
        if key in obj:
            validator(obj[key], f"{path}.{key}")


def coding(value: object, path: str) -> None:
    _fields(expect_object(value, path), path, system=expect_string, code=expect_string, display=expect_string)


def codeable_concept(value: object, path: str) -> None:
    _fields(expect_object(value, path), path, coding=list_of(coding), text=expect_string)


def reference(value: object, path: str) -> None:
    _fields(expect_object(value, path), path, reference=expect_string, display=expect_string)


def identifier(value: object, path: str) -> None:
    _fields(expect_object(value, path), path, system=expect_string, value=expect_string)


def human_name(value: object, path: str) -> None:
    _fields(
        expect_object(value, path),
        path,
        family=expect_string,
        given=list_of(expect_string),
        text=expect_string,
        prefix=list_of(expect_string),
        suffix=list_of(expect_string),
    )


def date_time(value: object, path: str) -> None:
    expect_string(value, path)
    assert isinstance(value, str)
    if date_range(value) is None:
        raise InvalidResource(f"{path}: {value!r} is not a FHIR dateTime (YYYY, YYYY-MM, YYYY-MM-DD or with a time)")


def date(value: object, path: str) -> None:
    expect_string(value, path)
    assert isinstance(value, str)
    if not re.fullmatch(r"\d{4}(-\d{2}(-\d{2})?)?", value) or date_range(value) is None:
        raise InvalidResource(f"{path}: {value!r} is not a FHIR date (YYYY, YYYY-MM or YYYY-MM-DD)")


def period(value: object, path: str) -> None:
    _fields(expect_object(value, path), path, start=date_time, end=date_time)


# -- dates as ranges -----------------------------------------------------------------------


def date_range(text: str) -> tuple[float, float] | None:
    """``[start, end)`` of a FHIR date/dateTime in UTC epoch seconds, or None if malformed."""
    if len(text) == 20 and text[19] == "Z" and text[10] == "T":
        # Fast path for the common "YYYY-MM-DDThh:mm:ssZ" (bulk loads parse ~300 000 of them).
        try:
            start = datetime.fromisoformat(text).timestamp()
        except ValueError:
            return None
        return start, start + 1
    match = _DATE_TIME.fullmatch(text)
    if match is None:
        return None
    parts = match.groupdict()
    year = int(parts["year"])
    month = int(parts["month"] or 1)
    day = int(parts["day"] or 1)
    hour, minute = int(parts["hour"] or 0), int(parts["minute"] or 0)
    second = int(parts["second"] or 0)
    if not (1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]):
        return None
    if hour > 23 or minute > 59 or second > 60:
        return None
    start = float(calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)))
    zone = parts["zone"]
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        start -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    if parts["fraction"]:
        start += float(parts["fraction"])
        return start, start + 10.0 ** -(len(parts["fraction"]) - 1)
    if parts["second"]:
        return start, start + 1
    if parts["minute"]:
        return start, start + 60
    if parts["day"]:
        return start, start + 86400
    if parts["month"]:
        next_year, next_month = (year + 1, 1) if month == 12 else (year, month + 1)
        return start, float(calendar.timegm((next_year, next_month, 1, 0, 0, 0, 0, 0, 0)))
    return start, float(calendar.timegm((year + 1, 1, 1, 0, 0, 0, 0, 0, 0)))


# -- extraction (for search indexes; tolerant: malformed parts are skipped) ----------------


def normalize_string(text: str) -> str:
    """FHIR string search is case- and accent-insensitive: ``Lefèvre`` -> ``lefevre``."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def as_list(value: object) -> list[object]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def codings(value: object) -> Iterator[tuple[str, str]]:
    """(system, code) of every Coding of a CodeableConcept (or list of them); system '' if none."""
    for concept in value if type(value) is list else (value,):
        if type(concept) is dict:
            items = concept.get("coding")
            if type(items) is list:
                for item in items:
                    if type(item) is dict:
                        code = item.get("code")
                        if type(code) is str:
                            system = item.get("system")
                            yield (system if type(system) is str else ""), code


def reference_target(value: object) -> str | None:
    """``Type/id`` of a Reference (relative or absolute URL), or None if it names none."""
    if type(value) is not dict:
        return None
    ref = value.get("reference")
    if type(ref) is not str:
        return None
    if ref.count("/") == 1:  # the usual relative "Type/id"
        kind, _, ident = ref.partition("/")
        return ref if ident and kind[:1].isupper() else None
    parts = ref.split("/_history/")[0].rstrip("/").split("/")
    if len(parts) < 2 or not parts[-1] or not parts[-2][:1].isupper():
        return None
    return f"{parts[-2]}/{parts[-1]}"
