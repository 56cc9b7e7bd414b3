"""Extractors: the values of a resource that go into the search index (:mod:`.index`).

Each returns a list of values of its kind (see :data:`~.resources.Extractor`): TOKEN
``(system, code)`` pairs, STRING normalized strings, DATE ``(lo, hi)`` ranges, REFERENCE
``Type/id`` strings. They are tolerant -- a malformed part is skipped, never an error (the
server validated what clients sent; replicated and base data were validated at their
source) -- and written for speed: a bulk load runs them about a million times.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from mock_services.ehr.fhirtypes import as_list, codings, date_range, normalize_string, reference_target

Resource = dict[str, object]
Extractor = Callable[[Resource], Sequence[Any]]


def tokens(*names: str) -> Extractor:
    """Codings of CodeableConcept elements, identifiers, or plain codes -- whatever each holds.

    Written for speed (a bulk load runs it ~600 000 times): exact type checks, no helpers.
    """

    def extract(resource: Resource) -> Sequence[Any]:
        found: list[tuple[str, str]] = []
        for name in names:
            value = resource.get(name)
            if value is None:
                continue
            for item in value if type(value) is list else (value,):
                if type(item) is str:
                    found.append(("", item))
                elif type(item) is dict:
                    inner = item.get("coding")
                    if inner is not None:
                        found.extend(codings(item))
                        continue
                    # An Identifier (system|value) or a bare Coding (Encounter.class).
                    code = item.get("value", item.get("code"))
                    if type(code) is str:
                        system = item.get("system")
                        found.append((system if type(system) is str else "", code))
        return found

    return extract


def references(name: str) -> Extractor:
    def extract(resource: Resource) -> Sequence[Any]:
        targets = (reference_target(value) for value in as_list(resource.get(name)))
        return [target for target in targets if target is not None]

    return extract


def dates(*names: str) -> Extractor:
    """Date elements by dotted path (``birthDate``, ``period.start``)."""
    paths = [name.split(".") for name in names]

    def extract(resource: Resource) -> Sequence[Any]:
        found: list[tuple[float, float]] = []
        for path in paths:
            holder: object = resource
            for part in path:
                holder = holder.get(part) if type(holder) is dict else None
            if type(holder) is str and (found_range := date_range(holder)) is not None:
                found.append(found_range)
        return found

    return extract


_effective_instant = dates("effectiveDateTime", "effectiveInstant")


def effective(resource: Resource) -> Sequence[Any]:
    """``effective[x]``: a dateTime/instant, or a Period's whole span."""
    simple = _effective_instant(resource)
    if simple:
        return simple
    span = resource.get("effectivePeriod")
    if isinstance(span, dict):
        start = date_range(span["start"]) if isinstance(span.get("start"), str) else None
        end = date_range(span["end"]) if isinstance(span.get("end"), str) else None
        if start or end:
            return [((start or end or (0.0, 0.0))[0], (end or start or (0.0, 0.0))[1])]
    return []


def names(*parts: str) -> Extractor:
    """HumanName parts, normalized; with no parts: every part plus "given family" and text."""

    def extract(resource: Resource) -> Sequence[Any]:
        found: set[str] = set()
        for name in as_list(resource.get("name")):
            if not isinstance(name, dict):
                continue
            family = name.get("family") if isinstance(name.get("family"), str) else None
            given = [g for g in as_list(name.get("given")) if isinstance(g, str)]
            words: list[object] = []
            if not parts or "family" in parts:
                words.append(family)
            if not parts or "given" in parts:
                words.extend(given)
            if not parts:
                words.extend([name.get("text"), *as_list(name.get("prefix")), *as_list(name.get("suffix"))])
                if family and given:  # so that "name=Amélie Lef" works
                    words.append(" ".join([*given, family]))
            found.update(normalize_string(word) for word in words if isinstance(word, str) and word)
        return sorted(found)

    return extract
