"""Strict JSON for request bodies (:mod:`mock_services.common.jsonbody`)."""

from __future__ import annotations

import pytest

from mock_services.common.jsonbody import InvalidJson, loads


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"[NaN]", "NaN is not JSON"),
        (b'{"a": -Infinity}', "Infinity"),
        (b"[1e400]", "finite"),
        (b'{"a": "\\ud800"}', "surrogate"),
        (b'{"\\udfff": 1}', "surrogate"),
        (b'["\\ud83d"]', "surrogate"),  # half a pair
        (b"[" * 101 + b"]" * 101, "nested deeper than 100"),
        (b"[" * 100_000 + b"]" * 100_000, "nested deeper than 100"),  # json.loads: RecursionError
        (b"\xff", "not UTF-8"),
        (b"{", "Expecting"),
        (b"[" + b"9" * 5000 + b"]", "digits"),
    ],
)
def test_refuses_what_json_loads_lets_through_and_says_why(raw: bytes, why: str) -> None:
    with pytest.raises(InvalidJson, match=why):
        loads(raw)


def test_takes_everything_else_as_json_loads_does() -> None:
    assert loads(b'{"name": "Am\\u00e9lie", "smile": "\\ud83d\\ude00", "n": [1, 2.5, -0.0, null, true]}') == {
        "name": "Amélie", "smile": "\U0001f600", "n": [1, 2.5, -0.0, None, True],
    }  # fmt: skip
    assert loads("[" * 100 + "]" * 100) == loads(b"[" * 100 + b"]" * 100)  # 100 deep is fine, text or bytes
    assert loads(b'"a literal \\\\ud800 is no surrogate"') == "a literal \\ud800 is no surrogate"
    assert isinstance(InvalidJson("x"), ValueError)  # existing ``except ValueError`` handlers keep working
