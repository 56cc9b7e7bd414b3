"""Topology files: a topology in its own YAML file, referenced from an experiment by a relative
path (``topology: {file: my-hospital.yaml}``), and the presets, which are such files too.

A topology file holds the keys of an experiment's ``topology:`` section (sites, services,
links, preset, and the built-in services' knobs). It is read with the same limits and
checked with the same located errors as an experiment file, each error naming the topology
file and its line. Keys written in the experiment's own ``topology:`` as well replace the
file's (a whole key: ``services`` written inline replaces the file's list).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness.experiment.base import format_yaml_path
from harness.experiment.diagnostics import issues_from_validation_error
from harness.experiment.files import read_text
from harness.experiment.issues import ExperimentError, ExperimentIssue
from harness.experiment.limits import LimitError
from harness.experiment.model import TopologyConfig
from harness.experiment.source import Location, SourceMap, YamlSyntaxError, parse_yaml


@dataclass(frozen=True)
class TopologySource:
    """Where the ``topology`` keys in ``keys`` came from: ``path`` and its source map."""

    path: Path
    source: SourceMap
    keys: frozenset[str]


def read_topology_mapping(path: Path, *, referenced_from: tuple[Path, Location] | None = None
                          ) -> tuple[dict[str, Any], SourceMap]:
    """The mapping a topology file holds, checked on its own as a ``topology`` section.

    Raises:
        ExperimentError: unreadable, not YAML, over a limit, duplicate keys, not a mapping, a
            nested ``file:``, or not of the topology format; located in that file (a missing
            file is located at the experiment's ``topology.file``).
    """
    def fail(message: str, at: Location | None = None, yaml_path: str = "") -> ExperimentError:
        return ExperimentError([ExperimentIssue(path, yaml_path, at.line if at else None,
                                                at.column if at else None, None, None, message)])

    try:
        text = read_text(path)
    except ExperimentError as exc:
        if referenced_from is None:
            raise
        experiment, at = referenced_from
        raise ExperimentError([ExperimentIssue(experiment, "topology.file", at.line, at.column,
                                               "a topology file", str(path), f"topology file {path}: "
                                               + "; ".join(i.message for i in exc.issues))]) from None
    try:
        parsed = parse_yaml(text)
    except LimitError as exc:
        raise ExperimentError([ExperimentIssue(path, format_yaml_path(exc.loc), exc.line, exc.column, exc.expected,
                                               exc.found, exc.message)]) from None
    except YamlSyntaxError as exc:
        raise fail(f"invalid YAML: {exc.problem}", exc.location, format_yaml_path(exc.loc)) from None
    if parsed.duplicates:
        d = parsed.duplicates[0]
        raise fail(f"duplicate key {d.loc[-1]!r} (first on line {d.first.line}, again on line {d.second.line})",
                   d.second, format_yaml_path(d.loc))
    data = parsed.data
    if not isinstance(data, dict):
        raise fail("a topology file holds a mapping (sites:, services:, links:, preset:, ...)", Location(1, 1))
    if "file" in data:
        raise fail("a topology file cannot reference another one (file:)", parsed.source.locate(("file",)), "file")
    try:
        TopologyConfig.model_validate(data)
    except ValidationError as exc:
        raise ExperimentError(issues_from_validation_error(exc, root=TopologyConfig, file=path, data=data,
                                                           source=parsed.source)) from None
    return data, parsed.source


def merge_topology_file(data: dict[str, Any], experiment: Path, source: SourceMap) -> TopologySource | None:
    """Replace ``data["topology"]`` (in place) by the referenced file's keys overlaid with the
    ones written inline; the :class:`TopologySource` of the file's keys, or None without a file."""
    section = data.get("topology")
    if not isinstance(section, dict) or not isinstance(section.get("file"), str) or not section["file"]:
        return None
    path = Path(section["file"])
    if not path.is_absolute():
        path = experiment.parent / path
    file_data, file_source = read_topology_mapping(
        path, referenced_from=(experiment, source.locate(("topology", "file"))))
    data["topology"] = {**file_data, **section}
    return TopologySource(path, file_source, frozenset(file_data) - frozenset(section))
