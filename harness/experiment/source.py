"""YAML text -> plain data plus a map from document paths to line and column.

We compose the YAML into PyYAML's node graph first (nodes keep their ``start_mark``),
record where every key and value starts, look for duplicate keys (PyYAML silently keeps
the last one, which would make a typo'd experiment run with the wrong value), and only
then construct Python objects from the same nodes. Only the safe loader is used: an
experiment file is data, never code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from harness.experiment.base import Loc

_MERGE_TAG: Final = "tag:yaml.org,2002:merge"


@dataclass(frozen=True, order=True)
class Location:
    """A position in the file, 1-based (as editors show it)."""

    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.line}:{self.column}"


@dataclass(frozen=True)
class SourceMap:
    """Where each part of a YAML document starts.

    ``values`` maps a path to the start of its value, ``keys`` a path to the start of the
    mapping key that introduces it. The root path ``()`` is always present.
    """

    values: Mapping[Loc, Location]
    keys: Mapping[Loc, Location] = field(default_factory=dict)

    def locate(self, loc: Loc) -> Location:
        """Start of the value at ``loc``, or of its nearest ancestor present in the file
        (a missing field is reported where its parent mapping starts)."""
        for end in range(len(loc), -1, -1):
            found = self.values.get(loc[:end])
            if found is not None:
                return found
        return Location(1, 1)

    def locate_key(self, loc: Loc) -> Location:
        """Start of the key that introduces ``loc`` (for "unknown field" errors, where the
        key is what is wrong); falls back to :meth:`locate`."""
        return self.keys.get(loc) or self.locate(loc)


@dataclass(frozen=True)
class DuplicateKey:
    """A key that appears twice in one mapping; ``loc`` is the path of the key."""

    loc: Loc
    first: Location
    second: Location


@dataclass(frozen=True)
class ParsedYaml:
    """The constructed document (``None`` for an empty file), its source map, and any
    duplicate keys found (the document should be rejected if there are any)."""

    data: Any
    source: SourceMap
    duplicates: tuple[DuplicateKey, ...]


class YamlSyntaxError(Exception):
    """The text is not YAML (or not a single YAML document). ``location`` is where the
    parser stopped, when it knows."""

    def __init__(self, problem: str, location: Location | None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.location = location


def _location(node: Node) -> Location:
    return Location(node.start_mark.line + 1, node.start_mark.column + 1)


def parse_yaml(text: str) -> ParsedYaml:
    """Parse one YAML document with the safe loader.

    Raises:
        YamlSyntaxError: for invalid YAML, several documents, or unconstructible content
            (e.g. an unhashable key), with the parser's own description of the problem.
    """
    try:
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as exc:  # a control character: the text is not YAML at all
        raise YamlSyntaxError(f"{exc.reason} (character #x{exc.character:04x})",
                              _position_location(text, exc.position)) from None
    try:
        root = loader.get_single_node()
        if root is None:
            return ParsedYaml(None, SourceMap({(): Location(1, 1)}), ())
        values: dict[Loc, Location] = {}
        keys: dict[Loc, Location] = {}
        duplicates: list[DuplicateKey] = []
        # Must run before construct_document: constructing flattens merge keys in place.
        _walk(loader, root, (), values, keys, duplicates, set())
        data = loader.construct_document(root)
    except yaml.MarkedYAMLError as exc:
        raise YamlSyntaxError(_describe(exc), _mark_location(exc)) from None
    except yaml.YAMLError as exc:  # not expected from the safe loader, but never a traceback
        raise YamlSyntaxError(str(exc), None) from None
    finally:
        loader.dispose()
    return ParsedYaml(data, SourceMap(values, keys), tuple(duplicates))


def _walk(
    loader: yaml.SafeLoader,
    node: Node,
    loc: Loc,
    values: dict[Loc, Location],
    keys: dict[Loc, Location],
    duplicates: list[DuplicateKey],
    active: set[int],
) -> None:
    # ``active`` holds the nodes on the current path: an alias may point back at one of
    # its ancestors (``&a [*a]``), and following it would never end.
    if id(node) in active:
        return
    values.setdefault(loc, _location(node))
    if isinstance(node, SequenceNode):
        active.add(id(node))
        for index, item in enumerate(node.value):
            _walk(loader, item, (*loc, index), values, keys, duplicates, active)
        active.discard(id(node))
    elif isinstance(node, MappingNode):
        active.add(id(node))
        seen: dict[Any, Location] = {}
        for key_node, value_node in node.value:
            key = _scalar_key(loader, key_node)
            if key is None:
                continue
            child = (*loc, key)
            here = _location(key_node)
            if key in seen:
                duplicates.append(DuplicateKey(child, seen[key], here))
                continue  # keep the first occurrence's location for the path
            seen[key] = here
            keys[child] = here
            _walk(loader, value_node, child, values, keys, duplicates, active)
        active.discard(id(node))


def _scalar_key(loader: yaml.SafeLoader, node: Node) -> str | int | None:
    """The key as the constructed document will have it, or ``None`` when it cannot be
    part of a path we report (merge keys, non-scalar keys)."""
    if not isinstance(node, ScalarNode) or node.tag == _MERGE_TAG:
        return None
    # Constructing the scalar makes ``1`` an int and ``yes`` a bool, exactly as in the data,
    # so duplicates are found the way PyYAML would collapse them.
    key = loader.construct_object(node)
    if isinstance(key, bool) or not isinstance(key, str | int):
        return str(key)
    return key


def _mark_location(exc: yaml.MarkedYAMLError) -> Location | None:
    mark = exc.problem_mark or exc.context_mark
    return Location(mark.line + 1, mark.column + 1) if mark is not None else None


def _position_location(text: str, position: int) -> Location:
    before = text[:position]
    return Location(before.count("\n") + 1, position - (before.rfind("\n") + 1) + 1)


def _describe(exc: yaml.MarkedYAMLError) -> str:
    """PyYAML's description in its own order: "<context> (line N): <problem>"."""
    problem = exc.problem or "invalid YAML"
    if "'\\t'" in problem:
        problem += " (YAML does not allow tabs for indentation; use spaces)"
    if not exc.context:
        return problem
    context = exc.context
    if exc.context_mark is not None and (
        exc.problem_mark is None or exc.context_mark.line != exc.problem_mark.line
    ):
        context += f" (line {exc.context_mark.line + 1})"
    return f"{context}: {problem}"
