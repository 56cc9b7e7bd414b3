"""FHIR search parameters: from a query string to the index criteria of :mod:`.index`.

Contract (FHIR R4 search, the subset this server implements):

* Parameters of one name repeated are AND-ed; comma-separated values of one parameter are
  OR-ed; ``\\`` escapes ``,`` ``|`` ``$`` and ``\\``.
* token ``[system]|[code]``: ``code`` any system, ``system|code`` both, ``|code`` no system,
  ``system|`` any code of the system. Matches codings of CodeableConcepts, identifiers
  (system|value) and plain codes.
* string: case- and accent-insensitive prefix of any indexed part (``name`` = family, given,
  text, prefix, suffix, "given family").
* date: ``[prefix]value`` with prefix ``eq`` (default) ``ne gt lt ge le sa eb`` and a value
  of any precision (``2024``, ``2024-08``, ``2024-08-03``, ``...T10:00:00Z``); both sides are
  ranges and compare as the FHIR spec says (``ge2024`` matches anything ending after
  2024-01-01T00:00Z, etc.).
* reference: ``id``, ``Type/id`` or an absolute URL ending in ``Type/id``. ``patient`` only
  matches Patients; a bare id for ``subject`` means a Patient or a Group with that id.
* ``_id`` (token-like list of ids), and the result parameters ``_count`` (0..1000, default
  50), ``_cursor`` (the paging cursor of a ``next`` link), ``_summary=count`` (total only);
  ``_format`` / ``_pretty`` / ``_total`` / ``_totalMethod`` are accepted and ignored.
* A known parameter with an empty value (``family=``) is ignored, as FHIR R4 says
  ("parameters with empty values are ignored"); an empty part of a list (``name=a,``) is
  still an error. A string value with nothing left to search once normalized (a lone
  combining accent) is an error too: as a prefix it would match every resource.

Any other parameter, a modifier (``name:exact``) or a chain (``subject.name``) is rejected
with :class:`InvalidSearch` naming it (the server answers 400). Integers (``_count``,
``_cursor``) are ASCII digits (``'²'.isdigit()`` is true, but it is no number), at most
:data:`MAX_CURSOR` (SQLite's largest integer).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from mock_services.ehr.fhirtypes import date_range, normalize_string
from mock_services.ehr.index import (
    Criterion,
    DateComparison,
    DateCriterion,
    IdCriterion,
    ReferenceCriterion,
    StringCriterion,
    TokenCriterion,
    TokenMatch,
)
from mock_services.ehr.resources import Kind, ResourceType, SearchParam

DEFAULT_COUNT = 50
MAX_COUNT = 1000
IGNORED_PARAMETERS = ("_format", "_pretty", "_total", "_totalMethod")
RESULT_PARAMETERS = ("_count", "_cursor", "_summary", *IGNORED_PARAMETERS)
DATE_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb")
MAX_CURSOR = 2**63 - 1  # SQLite INTEGER: a larger cursor cannot name a row


class InvalidSearch(ValueError):
    """A search the server cannot run; the message names the parameter (400 diagnostics)."""


@dataclass(frozen=True)
class SearchRequest:
    criteria: tuple[Criterion, ...]
    count: int
    after: int
    summary_count: bool

    @property
    def page_size(self) -> int:
        return 0 if self.summary_count else self.count

    @property
    def selective(self) -> bool:
        """Whether any criterion restricts the matches (without one, everything matches)."""
        return bool(self.criteria)


def split_unescaped(text: str, separator: str, maxsplit: int = -1) -> list[str]:
    """Split on ``separator`` not preceded by a backslash; escapes are kept for :func:`unescape`."""
    if "\\" not in text:
        return text.split(separator, maxsplit)  # the usual case, without the character loop
    parts: list[str] = []
    current: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            current.append(text[index : index + 2])
            index += 2
            continue
        if char == separator and (maxsplit < 0 or len(parts) < maxsplit):
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
        index += 1
    parts.append("".join(current))
    return parts


def unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text) if "\\" in text else text


def parse_token_list(raw: str, name: str = "identifier") -> list[TokenMatch]:
    """One token parameter's value -> the tokens it ORs together (see the module docstring)."""
    tokens: list[TokenMatch] = []
    for part in split_unescaped(raw, ","):
        pieces = split_unescaped(part, "|", maxsplit=1)
        if len(pieces) == 1:
            if not pieces[0]:
                raise InvalidSearch(f"empty token in search parameter {name!r}")
            tokens.append(TokenMatch(system=None, value=unescape(pieces[0])))
        else:
            system, value = (unescape(piece) for piece in pieces)
            if not system and not value:
                raise InvalidSearch(f"empty token '|' in search parameter {name!r}")
            tokens.append(TokenMatch(system=system, value=value or None))
    return tokens


def _values(raw: str, name: str) -> list[str]:
    values = [unescape(part) for part in split_unescaped(raw, ",")]
    if not all(values):
        raise InvalidSearch(f"empty value in search parameter {name!r}")
    return values


def _date_comparison(raw: str, name: str) -> DateComparison:
    prefix, value = ("eq", raw)
    if raw[:2].isalpha():
        prefix, value = raw[:2], raw[2:]
        if prefix not in DATE_PREFIXES:
            raise InvalidSearch(
                f"search parameter {name!r}: prefix {prefix!r} is not supported (use one of {' '.join(DATE_PREFIXES)})"
            )
    found = date_range(value.replace(" ", "+"))  # an unencoded '+' of a time zone arrives as a space
    if found is None:
        raise InvalidSearch(f"search parameter {name!r}: {value!r} is not a FHIR date or dateTime")
    return DateComparison(prefix, *found)


def _reference_targets(raw: str, param: SearchParam) -> tuple[str, ...]:
    targets: list[str] = []
    for value in _values(raw, param.name):
        parts = value.split("/_history/")[0].rstrip("/").split("/")
        if len(parts) >= 2:
            targets.append(f"{parts[-2]}/{parts[-1]}")
        else:
            targets.extend(f"{target}/{value}" for target in param.targets)
    return tuple(targets)


def _criterion(param: SearchParam, raw: str) -> Criterion:
    key = param.index.key
    if param.kind is Kind.TOKEN:
        return TokenCriterion(key, tuple(parse_token_list(raw, param.name)))
    if param.kind is Kind.STRING:
        prefixes = tuple(normalize_string(value) for value in _values(raw, param.name))
        if not all(prefixes):
            raise InvalidSearch(f"search parameter {param.name!r}: {raw!r} has no searchable characters")
        return StringCriterion(key, prefixes)
    if param.kind is Kind.DATE:
        return DateCriterion(key, tuple(_date_comparison(value, param.name) for value in _values(raw, param.name)))
    return ReferenceCriterion(key, _reference_targets(raw, param))


def _non_negative(name: str, raw: str, maximum: int) -> int:
    if not (raw.isascii() and raw.isdigit()) or int(raw) > maximum:
        raise InvalidSearch(f"{name} must be an integer 0..{maximum}, got {raw!r}")
    return int(raw)


def parse_search(resource_type: ResourceType, items: Iterable[tuple[str, str]]) -> SearchRequest:
    """Turn query parameters into a :class:`SearchRequest`; raises :class:`InvalidSearch`."""
    criteria: list[Criterion] = []
    count, after, summary_count = DEFAULT_COUNT, 0, False
    for name, raw in items:
        if raw == "" and (name in RESULT_PARAMETERS or name == "_id" or name in resource_type.params):
            continue  # FHIR: "parameters with empty values are ignored"
        if name == "_count":
            count = _non_negative("_count", raw, MAX_COUNT)
        elif name == "_cursor":
            after = _non_negative("_cursor", raw, MAX_CURSOR)
        elif name == "_summary":
            if raw not in ("count", "false"):
                raise InvalidSearch(f"_summary={raw!r} is not supported (only 'count' and 'false')")
            summary_count = raw == "count"
        elif name in IGNORED_PARAMETERS:
            continue
        elif name == "_id":
            criteria.append(IdCriterion(tuple(_values(raw, "_id"))))
        elif name in resource_type.params:
            criteria.append(_criterion(resource_type.params[name], raw))
        else:
            base = re.split(r"[:.]", name, maxsplit=1)[0]
            supported = ", ".join(["_id", *resource_type.params])
            if base in resource_type.params or base == "_id":
                what = "modifier" if ":" in name else "chained search"
                raise InvalidSearch(f"search parameter {name!r}: {what} not supported (supported: {supported})")
            raise InvalidSearch(f"unknown search parameter {name!r} for {resource_type.name} (supported: {supported})")
    return SearchRequest(tuple(criteria), count, after, summary_count)
