"""Human-friendly durations: ``"250ms"``, ``"5s"``, ``"1m30s"``, ``"3h"`` <-> seconds.

Experiment files give every time value as either a plain number of seconds or a string of
one or more ``<number><unit>`` parts, largest unit first (``h``, ``m``, ``s``, ``ms``), each
unit at most once, optionally separated by spaces (``"1m 30s"``). Everything inside the
harness works in seconds as ``float``.

Contract:

* :func:`parse_duration` returns seconds in ``[0, MAX_DURATION]`` or raises
  :class:`DurationError` (a :class:`ValueError`) whose message quotes the input (shortened
  past 60 characters) and shows accepted forms.
* Bounds: at most :data:`MAX_DURATION` (7 days) and, as text, at most
  :data:`MAX_DURATION_TEXT` characters. A chaos run holds its faults and probes for its
  whole length, so a longer value is a slip of unit (``"10080h"`` for minutes), and the bound
  keeps every derived number exact and small: milliseconds for Toxiproxy (Go ``int64``),
  ``at + duration``, schedules. The text bound is checked before any regular expression runs
  (the diagnosis of a long digit run is quadratic) and makes infinity unreachable
  (``float("1" + "0" * 400)`` is ``inf``).
* :func:`format_duration` is the display inverse: for any whole number of milliseconds,
  ``parse_duration(format_duration(x))`` gives ``x`` back (up to float rounding).
* :data:`Duration` / :data:`PositiveDuration` are pydantic field types (``float`` to type
  checkers) that accept the same inputs and publish a JSON Schema editors can use.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Final

from pydantic import AfterValidator, BeforeValidator, WithJsonSchema

__all__ = [
    "DURATION_PATTERN",
    "MAX_DURATION",
    "MAX_DURATION_TEXT",
    "Duration",
    "DurationError",
    "PositiveDuration",
    "format_duration",
    "parse_duration",
    "shorten",
]

# Seconds per unit, largest first: the order the grammar requires.
_UNITS: Final[dict[str, float]] = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}

MAX_DURATION: Final = 7 * 24 * 3600.0
"""The longest duration, in seconds (7 days, ``"168h"``): see the module docstring."""

MAX_DURATION_TEXT: Final = 64
"""The longest duration string, in characters (``"1h 2m 3.5s 4ms"`` is 14)."""

_BOUND_WORDS: Final = "7 days ('168h')"

_SHOWN_MAX: Final = 60
"""Longest rendering of a value in a message, as the experiment loader cuts "found" values."""

_NUMBER: Final = r"(?:\d+(?:\.\d*)?|\.\d+)"


def _grammar(named: bool) -> str:
    """One regular expression for both the parser and the JSON Schema ``pattern``.

    Each unit is an optional group, in decreasing order, so "30s1m" and "1m1m" do not
    match. The leading look-ahead requires at least one digit, otherwise the all-optional
    groups would accept "" and "   ". The ``m`` group refuses to be followed by ``s`` so
    that "5ms" is read as milliseconds even before backtracking. ``named`` adds Python
    named groups; JSON Schema (ECMA-262) spells named groups differently, and the schema
    does not need them.
    """
    parts = []
    for unit in _UNITS:
        group = f"(?P<{unit}>{_NUMBER})" if named else _NUMBER
        guard = "(?!s)" if unit == "m" else ""
        parts.append(rf"(?:{group}\s*{unit}{guard}\s*)?")
    return r"^(?=.*\d)\s*" + "".join(parts) + "$"


DURATION_PATTERN: Final[str] = _grammar(named=False)
"""ECMA-262 compatible pattern of the string form, as published in the JSON Schema."""

_DURATION_RE: Final = re.compile(_grammar(named=True))
_PART_RE: Final = re.compile(rf"{_NUMBER}\s*([A-Za-z]+)")

_EXPECTED: Final = "expected a number of seconds or a string such as '250ms', '5s', '1m30s', '3h'"


class DurationError(ValueError):
    """A value that is not a valid duration; the message is meant for the user as is.

    ``value`` is the input as given (``None`` when the error is not about one input) and
    ``expected`` a short phrase of what would have been accepted, when it is more precise
    than "a duration". :meth:`rephrase` gives the message with the value shown another way,
    for callers that render values as the user wrote them (the experiment loader shows
    YAML's ``.inf``, not Python's ``inf``).
    """

    def __init__(self, message: str, *, value: object = None, expected: str | None = None,
                 around: tuple[str, str] | None = None) -> None:
        super().__init__(message)
        self.value = value
        self.expected = expected
        self._around = around

    def rephrase(self, shown: str) -> str:
        """The message with the value rendered as ``shown`` (the message itself when it does
        not quote a value)."""
        if self._around is None:
            return str(self)
        before, after = self._around
        return f"{before}{shown}{after}"


def shorten(text: str, limit: int = _SHOWN_MAX) -> str:
    """``text`` cut to at most ``limit`` characters, the cut marked with ``...`` (and the
    closing quote kept when ``text`` is a quoted rendering): how messages show long values."""
    if len(text) <= limit:
        return text
    quote = text[-1] if len(text) > 1 and text[0] in "'\"" and text[-1] == text[0] else ""
    return text[: limit - 3 - len(quote)] + "..." + quote


def _error(value: object, before: str, after: str, expected: str | None = None) -> DurationError:
    return DurationError(f"{before}{shorten(repr(value))}{after}", value=value, expected=expected,
                         around=(before, after))


def _fail(value: object, detail: str | None = None) -> DurationError:
    return _error(value, "cannot parse duration ", f": {detail}; {_EXPECTED}" if detail else f": {_EXPECTED}")


def _too_long(value: object) -> DurationError:
    return _error(value, "duration ", f" is longer than {_BOUND_WORDS}, the longest an experiment may use",
                  expected=f"a duration of at most {_BOUND_WORDS}")


def parse_duration(value: str | int | float) -> float:
    """Return ``value`` in seconds.

    Numbers are seconds and must be finite and ``>= 0``; ``bool`` is refused even though
    Python treats it as an ``int`` (YAML turns ``yes``/``no`` into booleans, and "yes
    seconds" is always a mistake). Strings follow the grammar in the module docstring.

    Raises:
        DurationError: for anything else, with a message naming the input.
    """
    # Checked at run time as well: values come straight from YAML, whatever the annotation.
    if isinstance(value, bool):
        raise _fail(value, "a boolean is not a duration (YAML reads yes/no/on/off as booleans)")
    if not isinstance(value, (str, int, float)):
        raise _fail(value)
    if isinstance(value, (int, float)):
        # Compared before float(): a 401-digit int overflows float() and math.isfinite().
        if isinstance(value, float) and not math.isfinite(value):
            raise _fail(value, "a duration must be finite")
        if value < 0:
            raise _fail(value, "a duration cannot be negative")
        if value > MAX_DURATION:
            raise _too_long(value)
        return float(value)
    if len(value) > MAX_DURATION_TEXT:
        raise _fail(value, f"a duration is at most {MAX_DURATION_TEXT} characters")
    text = value.strip()
    if text.startswith("-"):
        raise _fail(value, "a duration cannot be negative")
    match = _DURATION_RE.match(text)
    if match is None:
        raise _fail(value, _diagnose(text))
    seconds = sum(float(amount) * _UNITS[unit] for unit, amount in match.groupdict().items() if amount)
    if seconds > MAX_DURATION:
        raise _too_long(value)
    return seconds


def _diagnose(text: str) -> str | None:
    """Explain why ``text`` failed the grammar, when there is a more precise reason."""
    if not text:
        return "the value is empty"
    if not any(char.isdigit() for char in text):
        return "a number is missing"
    units = _PART_RE.findall(text)
    unknown = [unit for unit in units if unit not in _UNITS]
    if unknown:
        return f"unknown unit {unknown[0]!r} (units are h, m, s, ms)"
    if not units:
        return "a unit is missing (write e.g. '5s' rather than '5')"
    if len(set(units)) != len(units) or units != sorted(units, key=list(_UNITS).index):
        return "units must appear once each, largest first (h, m, s, ms)"
    return None


def format_duration(seconds: float) -> str:
    """Render ``seconds`` for people: ``"250ms"``, ``"5s"``, ``"1.5s"``, ``"1m30s"``, ``"3h10m"``.

    Values are rounded to the millisecond, the resolution of everything the harness
    schedules; below one second the whole value is shown in milliseconds (below one
    millisecond with three significant digits, so a non-zero value never reads "0s").
    ``0`` gives ``"0s"``.

    Raises:
        ValueError: for negative or non-finite values, which are not durations.
    """
    if isinstance(seconds, bool) or not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"cannot format {seconds!r} as a duration: expected a finite number >= 0")
    if seconds == 0:
        return "0s"
    total_ms = round(seconds * 1000)
    if total_ms == 0:
        # Rounding would print "0s" for something that is not zero; show the fraction.
        return f"{seconds * 1000:.3g}ms"
    if total_ms < 1000:
        return f"{total_ms}ms"
    hours, rest_ms = divmod(total_ms, 3_600_000)
    minutes, rest_ms = divmod(rest_ms, 60_000)
    parts = []
    if hours:
        parts.append(f"{hours}h")
    if minutes:
        parts.append(f"{minutes}m")
    if rest_ms:
        whole, ms = divmod(rest_ms, 1000)
        # "1.5s" reads better than "1s500ms"; trailing zeros of the fraction are dropped.
        parts.append(f"{whole}.{ms:03d}".rstrip("0") + "s" if ms else f"{whole}s")
    return "".join(parts)


def _validate_duration(value: Any) -> float:
    """pydantic ``BeforeValidator``: YAML/JSON value -> seconds (``DurationError`` on failure)."""
    return parse_duration(value)


def _require_positive(seconds: float) -> float:
    if seconds <= 0:
        raise DurationError(f"the duration must be greater than 0, got {format_duration(seconds)}")
    return seconds


def _json_schema(*, positive: bool) -> dict[str, Any]:
    number: dict[str, Any] = {"type": "number", "exclusiveMinimum": 0} if positive else {
        "type": "number",
        "minimum": 0,
    }
    number["maximum"] = MAX_DURATION
    bound = "greater than 0" if positive else "0 or more"
    return {
        "anyOf": [number, {"type": "string", "pattern": DURATION_PATTERN, "maxLength": MAX_DURATION_TEXT}],
        "description": (
            f"A duration, {bound} and at most {_BOUND_WORDS}: a number of seconds, or a string of "
            "<number><unit> parts with units h, m, s, ms, largest first "
            "(e.g. '250ms', '5s', '1.5s', '1m30s', '3h10m')."
        ),
    }


Duration = Annotated[
    float,
    BeforeValidator(_validate_duration),
    WithJsonSchema(_json_schema(positive=False)),
]
"""A duration ``>= 0`` in seconds; accepts numbers and strings such as ``"1m30s"``."""

PositiveDuration = Annotated[
    float,
    BeforeValidator(_validate_duration),
    AfterValidator(_require_positive),
    WithJsonSchema(_json_schema(positive=True)),
]
"""A duration ``> 0`` in seconds; ``0`` and ``"0s"`` are refused."""
