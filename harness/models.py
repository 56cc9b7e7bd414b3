"""The base of every model read from YAML (experiments, topologies, the built-in services'
options): unknown keys are errors, instances are immutable, numbers are taken as written.

Kept outside :mod:`harness.experiment` so that the built-in services' drivers
(:mod:`harness.services`), whose options the experiment format embeds, can use it without an
import cycle.
"""

from __future__ import annotations

from typing import Annotated, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, Strict

# Numbers as YAML gives them. Strict so that ``fall: yes`` (a YAML boolean) or
# ``rate: "20"`` is reported instead of silently becoming 1 or 20.0; strict floats
# still accept integers, so ``rate: 20`` is fine.
StrictFloat: TypeAlias = Annotated[float, Strict(), Field(allow_inf_nan=False)]
StrictInt: TypeAlias = Annotated[int, Strict()]


class FrozenModel(BaseModel):
    """Base of every experiment model: unknown keys are errors, instances are immutable.

    Field docstrings become the ``description`` of each property in the JSON Schema, so
    they are written for the person editing the YAML file (read when needed:
    :mod:`harness.experiment.docstrings`).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
