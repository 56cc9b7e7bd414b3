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

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Final, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, Strict
from pydantic_core import PydanticCustomError

Loc: TypeAlias = tuple[str | int, ...]
"""A path into the experiment document: mapping keys and list indexes, e.g. ``("faults", 0, "at")``."""

NAME_PATTERN: Final = r"^[a-z0-9][a-z0-9-]*$"
"""Experiment names: they become file and directory names of run artefacts."""

LABEL_PATTERN: Final = r"^[a-z0-9][a-z0-9_-]*$"
"""Fault and check names. ``_`` is allowed because default labels embed the type (``power_loss-0``)."""

CONSISTENCY_ERROR: Final = "experiment_consistency"
"""pydantic error type that carries a tuple of :class:`Problem` in ``ctx["problems"]``."""

# Numbers as YAML gives them. Strict so that ``fall: yes`` (a YAML boolean) or
# ``rate: "20"`` is reported instead of silently becoming 1 or 20.0; strict floats
# still accept integers, so ``rate: 20`` is fine.
StrictFloat: TypeAlias = Annotated[float, Strict(), Field(allow_inf_nan=False)]
StrictInt: TypeAlias = Annotated[int, Strict()]


class FrozenModel(BaseModel):
    """Base of every experiment model: unknown keys are errors, instances are immutable.

    Field docstrings become the ``description`` of each property in the JSON Schema, so
    they are written for the person editing the YAML file.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


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


def format_yaml_path(loc: Loc) -> str:
    """Render a path the way users read it: ``("faults", 1, "duration")`` -> ``faults[1].duration``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def default_label(kind: str, index: int) -> str:
    """Name given to the ``index``-th fault or check when the file does not name it."""
    return f"{kind}-{index}"


def consistency_error(problems: Iterable[Problem]) -> PydanticCustomError:
    """Pack ``problems`` into one pydantic error (see the module docstring)."""
    problems = tuple(problems)
    summary = "; ".join(f"{format_yaml_path(p.loc)}: {p.message}" for p in problems)
    return PydanticCustomError(CONSISTENCY_ERROR, "{summary}", {"summary": summary, "problems": problems})
