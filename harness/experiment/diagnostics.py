"""Turn pydantic's validation errors into :class:`ExperimentIssue` s a person can act on.

pydantic reports a ``loc`` (which, inside a discriminated union, contains the union's tag:
``("faults", 0, "power_loss", "duration")``), an error type and a context. We walk the
model classes along ``loc`` to learn what was expected there (the allowed fields of that
model, the members of that union, the values of that ``Literal``), drop the union tags to
get the path as written in the file, look up its line and column, and phrase the error in
the file's vocabulary: "unknown fault type 'powerloss'; expected one of: ...".
"""

from __future__ import annotations

import datetime
import difflib
import math
import re
import types
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Final, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from harness.durations import DurationError, shorten
from harness.experiment.base import (
    CONSISTENCY_ERROR,
    LABEL_PATTERN,
    NAME_PATTERN,
    Loc,
    Problem,
    format_yaml_path,
)
from harness.experiment.docstrings import field_description
from harness.experiment.issues import ExperimentIssue
from harness.experiment.source import SourceMap

_FOUND_MAX: Final = 60
"""Longest rendering of a found value: enough to recognise it, short enough for one line."""

_DURATION_EXPECTED: Final = "a duration such as '250ms', '5s', '1m30s', '3h' or a number of seconds"

# What each pydantic type error expected, in the words of someone editing YAML.
_TYPE_WORDS: Final[Mapping[str, str]] = {
    "float_type": "a number",
    "float_parsing": "a number",
    "finite_number": "a finite number",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "string_type": "a string",
    "bool_type": "true or false",
    "model_type": "a mapping (key: value pairs)",
    "model_attributes_type": "a mapping (key: value pairs)",
    "dict_type": "a mapping (key: value pairs)",
    "tuple_type": "a list",
    "list_type": "a list",
}

_PATTERN_WORDS: Final[Mapping[str, str]] = {
    NAME_PATTERN: "a name of lowercase letters, digits and '-', starting with a letter or digit",
    LABEL_PATTERN: "a name of lowercase letters, digits, '-' and '_', starting with a letter or digit",
}


@dataclass(frozen=True)
class _Position:
    """What the models say about one ``loc``.

    ``path``: the document path (union tags removed). ``annotation``: the type expected at
    the end of ``loc`` (``None`` if ``loc`` leaves the models, e.g. an unknown field).
    ``owner``: the model whose field the last part names (or would name). ``owner_tag``:
    that model's ``type`` when it is a union member. ``field``: the last model field passed
    through (names the list a union lives in, e.g. ``faults``).
    """

    path: Loc
    annotation: Any
    owner: type[BaseModel] | None
    owner_tag: str | None
    field: str | None
    branches: tuple[tuple[Loc, bool], ...] = ()
    """For each plain ``str | Model`` union passed through: its path and whether the error is
    about the model branch (False: the string branch)."""

    def off_branch(self, data: Any) -> bool:
        """True when the error belongs to a union branch the value as written does not take (a
        mapping reported as 'not a string', a string as 'not a mapping'): noise, not a problem."""
        for path, model_branch in self.branches:
            exists, raw = _raw(data, path)
            if exists and isinstance(raw, Mapping) != model_branch:
                return True
        return False


def issues_from_validation_error(
    error: ValidationError, *, root: type[BaseModel], file: Path, data: Any, source: SourceMap
) -> list[ExperimentIssue]:
    """One issue per pydantic error (several for a :data:`CONSISTENCY_ERROR`).

    ``root`` is the model that was validated, ``data`` the document it was given (used to
    show what was found, as written), ``source`` where each path is in ``file``.
    """
    issues: list[ExperimentIssue] = []
    for details in error.errors():
        position = _resolve(root, details["loc"])
        if position.off_branch(data):
            continue
        if details["type"] == CONSISTENCY_ERROR:
            for problem in (details.get("ctx") or {}).get("problems", ()):
                issues.append(locate_problem(problem, file=file, source=source, prefix=position.path))
            continue
        problem, use_key = _explain(details, position, data, source)
        location = source.locate_key(problem.loc) if use_key else source.locate(problem.loc)
        issues.append(ExperimentIssue(
            file=file,
            yaml_path=format_yaml_path(problem.loc),
            line=location.line,
            column=location.column,
            expected=problem.expected,
            found=problem.found,
            message=problem.message,
        ))
    return issues


def locate_problem(problem: Problem, *, file: Path, source: SourceMap, prefix: Loc = ()) -> ExperimentIssue:
    """The issue for ``problem`` (its ``loc`` taken relative to ``prefix``), placed at the
    value its path leads to, or at the nearest part of it that exists in the file."""
    loc = (*prefix, *problem.loc)
    location = source.locate(loc)
    return ExperimentIssue(
        file=file,
        yaml_path=format_yaml_path(loc),
        line=location.line,
        column=location.column,
        expected=problem.expected,
        found=problem.found,
        message=problem.message,
    )


# -- walking the models along a loc -----------------------------------------------------------


def _unwrap(annotation: Any) -> Any:
    """Strip ``Annotated`` and ``X | None`` down to the type that matters for messages."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif _is_union(annotation):
            members = [a for a in get_args(annotation) if a is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation


def _is_union(annotation: Any) -> bool:
    return get_origin(annotation) in (Union, types.UnionType)


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _union_members(annotation: Any) -> dict[str, type[BaseModel]]:
    """Tag -> model for a discriminated union on ``type`` (empty for any other type)."""
    if not _is_union(annotation):
        return {}
    members: dict[str, type[BaseModel]] = {}
    for member in get_args(annotation):
        if not _is_model(member) or "type" not in member.model_fields:
            return {}
        tags = get_args(member.model_fields["type"].annotation)
        members.update({str(tag): member for tag in tags})
    return members


def _resolve(root: type[BaseModel], loc: tuple[int | str, ...]) -> _Position:
    current: Any = root
    current_tag: str | None = None  # the tag ``current`` was chosen by, if it is a union member
    path: list[str | int] = []
    owner: type[BaseModel] | None = None
    owner_tag: str | None = None
    field: str | None = None
    branches: list[tuple[Loc, bool]] = []
    for part in loc:
        current = _unwrap(current)
        members = _union_members(current)
        if isinstance(part, str) and part in members:
            # pydantic inserts the tag of the chosen member into loc; it is not in the file.
            current, current_tag = members[part], part
            continue
        plain = _plain_members(current)
        if isinstance(part, str) and part in plain:
            # A ``str | Model`` union: pydantic names the branch it tried in loc, not in the file.
            current = plain[part]
            branches.append((tuple(path), _is_model(current)))
            continue
        path.append(part)
        if _is_model(current):
            owner, owner_tag = current, current_tag
            if isinstance(part, str) and part in current.model_fields:
                field = part
                current = current.model_fields[part].annotation
            else:
                current = None
        elif get_origin(current) in (tuple, list) and isinstance(part, int):
            current = get_args(current)[0]
        else:
            current = None
        current_tag = None
    return _Position(tuple(path), _unwrap(current), owner, owner_tag, field, tuple(branches))


def _plain_members(annotation: Any) -> dict[str, Any]:
    """Branch name (as pydantic writes it in a loc: ``str``, the model's class name) -> type, for
    a union of ``str`` and models that is not discriminated (empty for any other type)."""
    if not _is_union(annotation) or _union_members(annotation):
        return {}
    members = [_unwrap(m) for m in get_args(annotation) if m is not type(None)]
    if str not in members or not any(_is_model(m) for m in members):
        return {}
    return {("str" if m is str else m.__name__): m for m in members}


def _raw(data: Any, path: Loc) -> tuple[bool, Any]:
    """The value at ``path`` in the document as written, and whether it exists."""
    for part in path:
        in_mapping = isinstance(data, Mapping) and part in data
        in_list = isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data)
        if not (in_mapping or in_list):
            return False, None
        data = data[part]
    return True, data


# -- phrasing ---------------------------------------------------------------------------------


def describe_value(value: Any, written: str | None = None) -> str:
    """A short rendering of a YAML value for "found ...", in YAML's terms: strings quoted,
    other scalars as ``written`` in the file when known (``2024-08-03``, ``0x1F``, ``.inf``),
    else as YAML would write them; long renderings cut to 60 characters."""
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "a mapping" if value else "an empty mapping"
    if isinstance(value, list | tuple):
        return "a list" if value else "an empty list"
    if isinstance(value, set | frozenset):
        return "a set" if value else "an empty set"
    if isinstance(value, str):
        return shorten(repr(value), _FOUND_MAX)
    if written is not None:
        return shorten(written, _FOUND_MAX)
    if isinstance(value, float) and not math.isfinite(value):
        return ".nan" if math.isnan(value) else ".inf" if value > 0 else "-.inf"
    if isinstance(value, datetime.date):  # datetime too
        return value.isoformat(sep=" ") if isinstance(value, datetime.datetime) else value.isoformat()
    if isinstance(value, bytes):
        return f"binary data ({len(value)} bytes)"
    return shorten(repr(value), _FOUND_MAX)


def _number(value: Any) -> str:
    # A bound of 1_000_000 on a float field reaches us as 1000000.0: show it as written.
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def _did_you_mean(word: str, choices: list[str]) -> str | None:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return close[0] if close else None


def _first_sentence(text: str | None) -> str | None:
    if not text:
        return None
    # A sentence ends at ". " before a capital letter, so "(e.g. '10s')" stays whole.
    sentence = re.split(r"\.\s+(?=[A-Z])", " ".join(text.split()))[0].rstrip(".")
    return sentence[:1].lower() + sentence[1:]


def _constraint_words(kind: str, ctx: Mapping[str, Any]) -> str | None:
    """Expected-phrases for pydantic's constraint errors (``None`` if not a constraint)."""
    if kind == "greater_than":
        return f"a number greater than {_number(ctx['gt'])}"
    if kind == "greater_than_equal":
        return f"a number of at least {_number(ctx['ge'])}"
    if kind == "less_than":
        return f"a number less than {_number(ctx['lt'])}"
    if kind == "less_than_equal":
        return f"a number of at most {_number(ctx['le'])}"
    if kind == "string_pattern_mismatch":
        return _PATTERN_WORDS.get(ctx["pattern"], f"a string matching {ctx['pattern']}")
    if kind == "string_too_short":
        return "a non-empty string"
    if kind == "string_too_long":
        return f"a string of at most {ctx['max_length']} characters"
    if kind == "too_short":
        minimum = ctx.get("min_length", 1)
        return "a non-empty list" if minimum == 1 else f"a list of at least {minimum} items"
    return None


def _explain(details: ErrorDetails, position: _Position, data: Any, source: SourceMap) -> tuple[Problem, bool]:
    """The problem for one pydantic error, and whether it should point at the key (True) or
    at the value (False)."""
    kind = details["type"]
    ctx: Mapping[str, Any] = details.get("ctx") or {}
    path = position.path
    exists, raw = _raw(data, path)
    found = describe_value(raw, source.written.get(path)) if exists else describe_value(details["input"])

    if kind in ("union_tag_invalid", "union_tag_not_found"):
        return _union_problem(kind, ctx, position, data, source), False

    if kind == "extra_forbidden":
        name = str(path[-1])
        allowed = sorted(position.owner.model_fields) if position.owner else []
        guess = _did_you_mean(name, allowed)
        hint = f"did you mean {guess!r}? " if guess else ""
        of = f" for type {position.owner_tag}" if position.owner_tag else ""
        return Problem(
            path,
            f"unknown field {name!r}; {hint}allowed fields{of}: {', '.join(allowed)}",
            expected=f"one of the fields: {', '.join(allowed)}",
            found=repr(name),
        ), True

    if kind == "missing":
        name = str(path[-1])
        about = _first_sentence(field_description(position.owner, name) if position.owner else None)
        return Problem(
            path,
            f"missing required field {name!r}" + (f": {about}" if about else ""),
            expected=f"a value for {name!r}",
        ), False

    if kind == "literal_error":
        annotation = position.annotation
        allowed = [str(v) for v in get_args(annotation)] if get_origin(annotation) is Literal else []
        words = ", ".join(allowed) if allowed else str(ctx.get("expected", "?"))
        choices = f"one of: {words}" if len(allowed) != 1 else words
        guess = _did_you_mean(str(raw), allowed) if exists and isinstance(raw, str) else None
        hint = f" (did you mean {guess!r}?)" if guess else ""
        return Problem(path, f"invalid value {found}; expected {choices}{hint}", choices, found), False

    if kind in ("value_error", "assertion_error"):
        cause = ctx.get("error")
        if isinstance(cause, DurationError):
            # Its message quotes the value the Python way; ours shows it as written.
            return Problem(path, cause.rephrase(found), cause.expected or _DURATION_EXPECTED, found), False
        message = str(cause) if cause is not None else details["msg"]
        return Problem(path, message, None, found), False

    expected = _TYPE_WORDS.get(kind) or _constraint_words(kind, ctx)
    if expected is None:  # an error type we have no words for: pydantic's own sentence
        sentence = details["msg"][:1].lower() + details["msg"][1:]
        return Problem(path, f"{sentence}, found {found}", None, found), False
    hint = ""
    if kind == "string_type" and isinstance(raw, bool):
        hint = " (YAML reads yes/no/on/off/true/false as booleans; put the value in quotes)"
    elif kind == "string_type" and isinstance(raw, datetime.date):
        hint = f" (YAML reads it as a {'timestamp' if isinstance(raw, datetime.datetime) else 'date'}; " \
               "put the value in quotes)"
    elif kind in ("float_type", "int_type") and isinstance(raw, str) and re.fullmatch(r"\s*-?[\d.]+\s*", raw):
        hint = " (write the number without quotes)"
    return Problem(path, f"expected {expected}, found {found}{hint}", expected, found), False


def _union_problem(kind: str, ctx: Mapping[str, Any], position: _Position, data: Any, source: SourceMap) -> Problem:
    """Unknown or missing ``type`` of a fault or check: list the valid types."""
    members = _union_members(position.annotation)
    tags = sorted(members) or re.findall(r"'([^']*)'", str(ctx.get("expected_tags", "")))
    discriminator = str(ctx.get("discriminator", "'type'")).strip("'")
    field = position.field or "item"
    noun = field[:-1] if field.endswith("s") else field
    expected = f"one of: {', '.join(tags)}"
    if kind == "union_tag_not_found":
        return Problem(
            position.path,
            f"missing field {discriminator!r}: the {noun} type; expected {expected}",
            expected=expected,
        )
    exists, raw = _raw(data, (*position.path, discriminator))
    tag = raw if exists else ctx.get("tag")
    shown = describe_value(tag, source.written.get((*position.path, discriminator)) if exists else None)
    guess = _did_you_mean(str(tag), tags)
    hint = f" (did you mean {guess!r}?)" if guess else ""
    return Problem(
        (*position.path, discriminator),
        f"unknown {noun} type {shown}; expected {expected}{hint}",
        expected=expected,
        found=shown,
    )
