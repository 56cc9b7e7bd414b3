"""Strict JSON for request bodies: what ``json.loads`` lets through that no service can keep.

``json.loads`` is more lenient than JSON (RFC 8259), and each leniency became a 500 -- or
worse, a stored document no client can read back -- once a fuzzer sent it:

* ``NaN`` / ``Infinity`` / ``-Infinity``, and numbers too large for a float (``1e400`` is
  parsed as ``inf``): not JSON. Stored, they make every later answer invalid JSON; echoed,
  Starlette's ``JSONResponse`` refuses to render them (a 500 *after* the write committed).
* lone UTF-16 surrogates (``"\\ud800"``, in a string or a key): not Unicode, and SQLite (UTF-8)
  cannot store them (``UnicodeEncodeError``).
* nesting deeper than Python's recursion limit: ``RecursionError``, not ``ValueError``; a
  little less deep and the service's own recursive validators and encoders hit it instead.

:func:`loads` refuses all of them with :class:`InvalidJson` (a ``ValueError``, so existing
``except ValueError`` handlers answer 400) whose message says what was wrong; anything else
is exactly ``json.loads``. A valid surrogate *pair* (``"\\ud83d\\ude00"``) is one character and
passes. Cost: one iterative walk of the parsed value (strings are only scanned when the raw
text has a surrogate escape at all).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_DEPTH = 100  # FHIR resources nest ~10 deep; 100 leaves room and stays far from recursion limits
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")  # only such an escape can produce a surrogate


class InvalidJson(ValueError):
    """A body that is not strict JSON (or nests deeper than :data:`MAX_DEPTH`); the message says why."""


def _refuse_constant(name: str) -> Any:
    raise InvalidJson(f"{name} is not JSON (RFC 8259 has no NaN or Infinity)")


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def loads(raw: bytes | str, max_depth: int = MAX_DEPTH) -> Any:
    """Parse ``raw`` (UTF-8 bytes or text) as strict JSON; raises :class:`InvalidJson`."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as error:
        raise InvalidJson(f"not UTF-8: {error}") from None
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise InvalidJson(f"nested deeper than {max_depth} levels") from None
    except InvalidJson:
        raise
    except ValueError as error:  # JSONDecodeError, and int('9' * 5000)'s digit limit
        raise InvalidJson(str(error)) from None
    _check(value, max_depth, check_strings=_SURROGATE_ESCAPE.search(text) is not None)
    return value


def _check(value: Any, max_depth: int, *, check_strings: bool) -> None:
    """Depth, finite numbers and (if asked) Unicode strings and keys, without recursion."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            if depth > max_depth:
                raise InvalidJson(f"nested deeper than {max_depth} levels")
            if check_strings and not all(_is_unicode(key) for key in item):
                raise InvalidJson("a key holds a lone UTF-16 surrogate (\\ud800-\\udfff): not Unicode text")
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            if depth > max_depth:
                raise InvalidJson(f"nested deeper than {max_depth} levels")
            stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, float) and not math.isfinite(item):
            raise InvalidJson("a number is too large to be finite (JSON numbers must be finite)")
        elif check_strings and isinstance(item, str) and not _is_unicode(item):
            raise InvalidJson("a string holds a lone UTF-16 surrogate (\\ud800-\\udfff): not Unicode text")
