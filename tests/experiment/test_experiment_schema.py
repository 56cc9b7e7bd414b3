"""The JSON Schema published for editors."""

from __future__ import annotations

import json
import re
from typing import Any

from harness.durations import DURATION_PATTERN
from harness.experiment import CHECK_TYPES, FAULT_TYPES, experiment_json_schema


def _walk(node: Any) -> list[dict[str, Any]]:
    """Every JSON object in the schema, depth first."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            found.extend(_walk(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_walk(value))
    return found


def test_schema_header() -> None:
    schema = experiment_json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"]
    assert "experiment" in schema["description"]
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["version", "name"]


def test_schema_is_json_and_fresh() -> None:
    schema = experiment_json_schema()
    assert json.loads(json.dumps(schema)) == schema
    schema["title"] = "changed"
    assert experiment_json_schema()["title"] != "changed"


def test_every_ref_resolves() -> None:
    schema = experiment_json_schema()
    refs = [n["$ref"] for n in _walk(schema) if "$ref" in n]
    assert refs
    for ref in refs:
        assert ref.startswith("#/$defs/")
        assert ref.removeprefix("#/$defs/") in schema["$defs"]


def test_fault_union_is_a_discriminated_one_of() -> None:
    schema = experiment_json_schema()
    items = schema["properties"]["faults"]["items"]
    assert items["discriminator"]["propertyName"] == "type"
    mapping = items["discriminator"]["mapping"]
    assert sorted(mapping) == list(FAULT_TYPES)
    assert len(items["oneOf"]) == 13
    for tag, ref in mapping.items():
        definition = schema["$defs"][ref.removeprefix("#/$defs/")]
        assert definition["properties"]["type"]["const"] == tag
        assert definition["additionalProperties"] is False
        assert "duration" in definition["required"]


def test_check_union_is_a_discriminated_one_of() -> None:
    schema = experiment_json_schema()
    items = schema["properties"]["checks"]["items"]
    assert sorted(items["discriminator"]["mapping"]) == list(CHECK_TYPES)
    assert len(items["oneOf"]) == len(CHECK_TYPES)


def test_field_docstrings_become_descriptions() -> None:
    schema = experiment_json_schema()
    latency = schema["$defs"]["LatencyFault"]["properties"]
    assert "jitter" in latency and latency["jitter"]["description"]
    assert all("description" in prop for prop in latency.values() if prop.get("title") != "Type")
    assert schema["properties"]["faults"]["description"]


def test_durations_use_the_shared_schema() -> None:
    schema = experiment_json_schema()
    duration = schema["$defs"]["PowerLossFault"]["properties"]["duration"]
    assert duration["anyOf"][0] == {"type": "number", "exclusiveMinimum": 0, "maximum": 604800.0}
    assert duration["anyOf"][1]["pattern"] == DURATION_PATTERN
    assert duration["anyOf"][1]["maxLength"] == 64
    at = schema["$defs"]["PowerLossFault"]["properties"]["at"]
    assert at["anyOf"][0] == {"type": "number", "minimum": 0, "maximum": 604800.0}


def test_defaults_are_published() -> None:
    schema = experiment_json_schema()
    assert schema["properties"]["backend"]["default"] == "local"
    assert schema["$defs"]["EhrOptions"]["properties"]["replication"]["default"] == "sync"
    assert schema["$defs"]["ProbeConfig"]["properties"]["mix"]["default"] == {
        "read": 6.0, "create": 3.0, "search": 1.0,
    }


def test_patterns_are_valid_regular_expressions() -> None:
    for node in _walk(experiment_json_schema()):
        if "pattern" in node:
            re.compile(node["pattern"])
