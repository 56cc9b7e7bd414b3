"""Durations: parsing, formatting, and the pydantic field types."""

from __future__ import annotations

import math
import re

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from harness.durations import (
    DURATION_PATTERN,
    Duration,
    DurationError,
    PositiveDuration,
    format_duration,
    parse_duration,
)

VALID = [
    (0, 0.0),
    (5, 5.0),
    (2.5, 2.5),
    ("0s", 0.0),
    ("250ms", 0.25),
    ("5s", 5.0),
    ("1.5s", 1.5),
    (".5s", 0.5),
    ("2m", 120.0),
    ("1m30s", 90.0),
    ("1m 30s", 90.0),
    ("  1m30s  ", 90.0),
    ("1 h", 3600.0),
    ("1h", 3600.0),
    ("3h10m", 3 * 3600 + 600.0),
    ("1h2m3s4ms", 3723.004),
    ("5ms", 0.005),
    ("90m", 5400.0),
]


@pytest.mark.parametrize(("value", "seconds"), VALID)
def test_parse_valid(value: str | int | float, seconds: float) -> None:
    assert parse_duration(value) == pytest.approx(seconds, abs=1e-12)
    assert isinstance(parse_duration(value), float)


INVALID = [
    ("", "the value is empty"),
    ("   ", "the value is empty"),
    ("5 parsecs", "unknown unit 'parsecs'"),
    ("5S", "unknown unit 'S'"),
    ("5", "a unit is missing"),
    ("ms", "a number is missing"),
    ("-5s", "cannot be negative"),
    (-1, "cannot be negative"),
    (-0.5, "cannot be negative"),
    ("30s1m", "largest first"),
    ("1m1m", "once each"),
    ("1..5s", None),
    (float("nan"), "must be finite"),
    (float("inf"), "must be finite"),
    (True, "a boolean is not a duration"),
    (False, "a boolean is not a duration"),
]


@pytest.mark.parametrize(("value", "detail"), INVALID)
def test_parse_invalid(value: object, detail: str | None) -> None:
    with pytest.raises(DurationError) as caught:
        parse_duration(value)  # type: ignore[arg-type]  # wrong types on purpose
    message = str(caught.value)
    assert message.startswith(f"cannot parse duration {value!r}: ")
    assert message.endswith("expected a number of seconds or a string such as '250ms', '5s', '1m30s', '3h'")
    if detail is not None:
        assert detail in message


def test_parse_error_is_a_value_error_with_the_documented_message() -> None:
    with pytest.raises(ValueError, match=re.escape(
        "cannot parse duration '5 parsecs': unknown unit 'parsecs' (units are h, m, s, ms); "
        "expected a number of seconds or a string such as '250ms', '5s', '1m30s', '3h'"
    )):
        parse_duration("5 parsecs")


@pytest.mark.parametrize("value", [None, [1], {"s": 1}])
def test_parse_rejects_other_types(value: object) -> None:
    with pytest.raises(DurationError, match="cannot parse duration"):
        parse_duration(value)  # type: ignore[arg-type]


FORMATTED = [
    (0, "0s"),
    (0.25, "250ms"),
    (0.001, "1ms"),
    (5, "5s"),
    (1.5, "1.5s"),
    (60, "1m"),
    (90, "1m30s"),
    (61.5, "1m1.5s"),
    (3600, "1h"),
    (3 * 3600, "3h"),
    (3 * 3600 + 600, "3h10m"),
    (3723.004, "1h2m3.004s"),
]


@pytest.mark.parametrize(("seconds", "text"), FORMATTED)
def test_format(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize(("seconds", "text"), FORMATTED)
def test_format_round_trips(seconds: float, text: str) -> None:
    assert parse_duration(text) == pytest.approx(seconds, abs=1e-9)


def test_format_never_shows_zero_for_a_positive_value() -> None:
    assert format_duration(0.0004) == "0.4ms"
    assert parse_duration(format_duration(0.0004)) == pytest.approx(0.0004)


def test_format_rounds_to_milliseconds() -> None:
    assert format_duration(1.0004) == "1s"
    assert format_duration(1.0006) == "1.001s"


@pytest.mark.parametrize("seconds", [-1, -0.001, math.nan, math.inf])
def test_format_rejects_non_durations(seconds: float) -> None:
    with pytest.raises(ValueError, match="cannot format"):
        format_duration(seconds)


# -- pydantic types ------------------------------------------------------------------------


class _Timed(BaseModel):
    wait: Duration = 0.0
    length: PositiveDuration = 1.0


def test_duration_field_accepts_strings_and_numbers() -> None:
    model = _Timed.model_validate({"wait": "1m30s", "length": 2})
    assert model.wait == 90.0
    assert model.length == 2.0


def test_duration_field_error_carries_the_parse_message() -> None:
    with pytest.raises(ValidationError) as caught:
        _Timed.model_validate({"wait": "5 parsecs"})
    (error,) = caught.value.errors()
    assert error["loc"] == ("wait",)
    assert isinstance(error["ctx"]["error"], DurationError)
    assert "cannot parse duration '5 parsecs'" in error["msg"]


@pytest.mark.parametrize("value", [0, "0s", "0ms"])
def test_positive_duration_refuses_zero(value: object) -> None:
    with pytest.raises(ValidationError, match="must be greater than 0, got 0s"):
        _Timed.model_validate({"length": value})


def test_duration_accepts_zero() -> None:
    assert _Timed.model_validate({"wait": "0s"}).wait == 0.0


def test_duration_json_schema() -> None:
    schema = TypeAdapter(Duration).json_schema()
    assert schema["anyOf"] == [
        {"type": "number", "minimum": 0, "maximum": 604800.0},
        {"type": "string", "pattern": DURATION_PATTERN, "maxLength": 64},
    ]
    assert "250ms" in schema["description"]


def test_positive_duration_json_schema_excludes_zero() -> None:
    schema = TypeAdapter(PositiveDuration).json_schema()
    assert schema["anyOf"][0] == {"type": "number", "exclusiveMinimum": 0, "maximum": 604800.0}
    assert "greater than 0" in schema["description"]


@pytest.mark.parametrize("text", ["250ms", "5s", "1.5s", "1m30s", "1m 30s", "3h10m", "0s"])
def test_schema_pattern_accepts_what_the_parser_accepts(text: str) -> None:
    # The pattern is ECMA-262 for editors, but uses only syntax Python's re shares.
    assert re.match(DURATION_PATTERN, text)


@pytest.mark.parametrize("text", ["", "5", "5 parsecs", "30s1m", "1m1m", "-5s", "ms"])
def test_schema_pattern_rejects_what_the_parser_rejects(text: str) -> None:
    assert not re.match(DURATION_PATTERN, text)


# -- bounds (issue 10: values from fuzzed files) ------------------------------------------------

WEEK = 7 * 24 * 3600.0


@pytest.mark.parametrize("value", [WEEK, int(WEEK), "168h", "167h59m59s999ms", "10080m"])
def test_parse_accepts_up_to_seven_days(value: str | int | float) -> None:
    assert parse_duration(value) <= WEEK


@pytest.mark.parametrize("value", [
    WEEK + 0.001, int(WEEK) + 1, "168h1ms", "169h", "1e6h".replace("e6", "000000"),
    1.0e306, 10**400,                          # a 401-digit integer: float() would overflow
    "1" + "0" * 40 + "s",                      # 41 digits: a finite float, absurd as seconds
], ids=["week+1ms", "week+1s", "168h1ms", "169h", "1000000h", "1e306", "401-digits", "41-digit-string"])
def test_parse_refuses_more_than_seven_days_with_the_bound_in_the_message(value: str | int | float) -> None:
    with pytest.raises(DurationError) as caught:
        parse_duration(value)
    assert "longer than 7 days ('168h')" in str(caught.value)
    assert caught.value.expected == "a duration of at most 7 days ('168h')"


def test_parse_refuses_a_digit_string_that_would_be_infinite() -> None:
    # float("1" + 400 zeros) is inf: it used to parse, `validate` said ok and `run` died.
    with pytest.raises(DurationError, match="at most 64 characters"):
        parse_duration("1" + "0" * 400 + "s")


def test_parse_refuses_long_text_before_the_grammar() -> None:
    # The diagnosis regex is quadratic on long digit runs; the length is checked first.
    with pytest.raises(DurationError, match="at most 64 characters"):
        parse_duration("1" * 100_000)


def test_parse_error_shortens_long_values_like_other_messages() -> None:
    with pytest.raises(DurationError) as caught:
        parse_duration("x" * 300)
    message = str(caught.value)
    # The loader's rule for "found" values: at most 60 characters, the cut marked "...'".
    assert "'" + "x" * 55 + "...'" in message and "x" * 56 not in message
    assert caught.value.value == "x" * 300          # the value itself, for callers that show it their way


def test_parse_error_can_be_rephrased_with_the_value_as_written() -> None:
    with pytest.raises(DurationError) as caught:
        parse_duration(math.inf)
    assert caught.value.rephrase(".inf") == (
        "cannot parse duration .inf: a duration must be finite; "
        "expected a number of seconds or a string such as '250ms', '5s', '1m30s', '3h'")
