"""Building blocks shared by the experiment models: the model base class, name rules,
YAML paths, and the way cross-field problems travel through pydantic.

Cross-field rules (unique names, references between checks and faults) are checked in
model validators, but pydantic can only attach one location to a validator's error.
:func:`consistency_error` therefore packs every :class:`Problem` (each with its own path)
into one ``PydanticCustomError`` of type :data:`CONSISTENCY_ERROR`; the loader unpacks
them so each gets its own line and column. Code that builds models directly still gets a
readable ``ValidationError`` listing every problem.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, TypeAlias

from pydantic_core import PydanticCustomError

from harness.models import FrozenModel as FrozenModel  # re-exported: the models import them from here
from harness.models import StrictFloat as StrictFloat
from harness.models import StrictInt as StrictInt

Loc: TypeAlias = tuple[str | int, ...]
"""A path into the experiment document: mapping keys and list indexes, e.g. ``("faults", 0, "at")``."""

NAME_PATTERN: Final = r"^[a-z0-9][a-z0-9-]*$"
"""Experiment names: they become file and directory names of run artefacts."""

NAME_MAX: Final = 64
"""Longest experiment, fault, check or halt name: it goes into directory names
(``runs/<time>-<name>``, at most 255 bytes on every file system) and Toxiproxy toxic names."""

MAX_WEIGHT: Final = 1_000_000
"""Largest relative weight (probe mix, personas, tasks). Only ratios matter, so any set of
weights scales under it; unbounded, two weights of 1e308 add up to infinity."""

MAX_USERS: Final = 100_000
"""Most simulated users (peak, stage or ramp start) and users started per second."""

LABEL_PATTERN: Final = r"^[a-z0-9][a-z0-9_-]*$"
"""Fault and check names. ``_`` is allowed because default labels embed the type (``power_loss-0``)."""

CONSISTENCY_ERROR: Final = "experiment_consistency"
"""pydantic error type that carries a tuple of :class:`Problem` in ``ctx["problems"]``."""



@dataclass(frozen=True)
class Problem:
    """One semantic problem with where it is: ``loc`` is a path in the document as written
    (no pydantic union tags), relative to the model that reports it (for the validated
    :class:`~harness.experiment.Experiment` and for :func:`~harness.experiment.raise_issues`,
    the document root). ``expected``/``found`` are optional short phrases for tools."""

    loc: Loc
    message: str
    expected: str | None = None
    found: str | None = None


_PLAIN_KEY: Final = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")


def format_yaml_path(loc: Loc) -> str:
    """Render a path the way users read it: ``("faults", 1, "duration")`` -> ``faults[1].duration``.

    A key that is not a plain word (empty, or with dots, brackets, spaces...) is quoted in
    brackets, ``probe['a.b']``, so that every path reads one way only; the root is ``""``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif not _PLAIN_KEY.fullmatch(part):
            text += f"[{part!r}]"
        else:
            text += f".{part}" if text else part
    return text


SUGGESTIONS: Final = 20
"""Most did-you-mean searches over the file's own names in one validation. Each compares with
every name (difflib, ~3 us a name), and a 64 KiB file can hold 600 faults and 700 checks
naming unknown ones: 400 000 comparisons. Past the first 20 mistakes, nobody reads hints."""


def did_you_mean(name: str, names: Sequence[str]) -> str | None:
    """The name of ``names`` closest to ``name``, if one is close."""
    close = difflib.get_close_matches(name, names, n=1)
    return close[0] if close else None


def some_of(names: Sequence[str], shown: int = 10) -> str:
    """``names`` joined for a message, the first ``shown`` only when there are more."""
    if len(names) <= shown:
        return ", ".join(names)
    return ", ".join(names[:shown]) + f" (and {len(names) - shown} more)"


def default_label(kind: str, index: int) -> str:
    """Name given to the ``index``-th fault or check when the file does not name it."""
    return f"{kind}-{index}"


def consistency_error(problems: Iterable[Problem]) -> PydanticCustomError:
    """Pack ``problems`` into one pydantic error (see the module docstring)."""
    problems = tuple(problems)
    summary = "; ".join(f"{format_yaml_path(p.loc)}: {p.message}" for p in problems)
    return PydanticCustomError(CONSISTENCY_ERROR, "{summary}", {"summary": summary, "problems": problems})
