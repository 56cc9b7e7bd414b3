"""The JSON Schema of experiment files, for editors (e.g. the YAML language server's
``# yaml-language-server: $schema=...`` comment) and for documentation.

The schema is generated from the models, so it cannot drift from what the loader accepts.
It is slightly looser than the loader in two places JSON Schema cannot express: duration
strings are checked by pattern (not for the "> 0" of positive durations), and cross-field
rules (unique names, references to faults) are left to the loader.
"""

from __future__ import annotations

from typing import Any, Final

from harness.experiment.docstrings import describe_fields
from harness.experiment.model import Experiment

SCHEMA_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"
"""pydantic generates JSON Schema draft 2020-12 (``$defs``, ``const``, ``prefixItems``)."""


def experiment_json_schema() -> dict[str, Any]:
    """The JSON Schema of an experiment file, as a fresh JSON-serialisable dict.

    Faults and checks are rendered as pydantic renders discriminated unions: ``oneOf``
    of ``$ref`` s into ``$defs`` plus a ``discriminator`` (``propertyName: type`` and a
    ``mapping`` from each type to its definition).
    """
    describe_fields(Experiment)
    generated = Experiment.model_json_schema(mode="validation")
    generated.pop("title", None)
    generated.pop("description", None)
    return {
        "$schema": SCHEMA_DIALECT,
        "title": "Hospital chaos harness experiment",
        "description": (
            "A chaos experiment for the hospital chaos harness (hchaos): the systems to run, "
            "the faults to inject and when, and the checks that decide whether the run passed. "
            "Durations are seconds or strings such as '250ms', '5s', '1m30s', '3h'."
        ),
        **generated,
    }
