"""YAML text -> plain data plus a map from document paths to line and column.

We compose the YAML into PyYAML's node graph first (nodes keep their ``start_mark``),
record where every key and value starts, look for duplicate keys (PyYAML silently keeps
the last one, which would make a typo'd experiment run with the wrong value), and only
then construct Python objects from the same nodes. Only the safe loader is used: an
experiment file is data, never code; and it is the bounded one of
:mod:`harness.experiment.limits`, so size, depth and aliases are checked while composing,
before the walk below or the constructor expands anything.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Mapping
from dataclasses import astuple, dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from harness.experiment.base import Loc
from harness.experiment.limits import BoundedLoader, FastBoundedLoader, check_text_size


@dataclass(frozen=True, order=True)
class Location:
    """A position in the file, 1-based (as editors show it)."""

    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.line}:{self.column}"


@dataclass(frozen=True)
class SourceMap:
    """Where each part of a YAML document starts, and how its scalars were written.

    ``values`` maps a path to the start of its value, ``keys`` a path to the start of the
    mapping key that introduces it, ``written`` the path of a scalar that is not a string
    to its text in the file (``2024-08-03``, ``.inf``, ``0x1F``, ``!!binary aGk=``), so
    messages can show what the user wrote rather than a Python value. The root path ``()``
    is always present.
    """

    values: Mapping[Loc, Location]
    keys: Mapping[Loc, Location] = field(default_factory=dict)
    written: Mapping[Loc, str] = field(default_factory=dict)

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
    """The text is not YAML (or not a single YAML document, or a value YAML cannot build).
    ``location`` is where the parser stopped, when it knows; ``loc`` the document path it was
    in (the node that could not be constructed, or the one being composed: ``()`` at the
    top level and when the text is not YAML at all)."""

    def __init__(self, problem: str, location: Location | None, loc: Loc = ()) -> None:
        super().__init__(problem)
        self.problem = problem
        self.location = location
        self.loc = loc


class _Positions:
    """Line and column of a character index, counting lines as editors do.

    PyYAML's own marks count YAML 1.1 line breaks: a lone ``\\r``, NEL (U+0085) and the
    Unicode line and paragraph separators too, so in a file holding one of those its line
    numbers would not be the ones an editor shows. Only ``\\n`` ends a line here.
    """

    def __init__(self, text: str) -> None:
        self._starts = [0, *(match.end() for match in re.finditer("\n", text))]

    def at(self, index: int) -> Location:
        line = bisect.bisect_right(self._starts, index)
        return Location(line, index - self._starts[line - 1] + 1)

    def of(self, mark: Any) -> Location:
        return self.at(mark.index)


def parse_yaml(text: str) -> ParsedYaml:
    """Parse one YAML document with the bounded safe loader.

    Raises:
        YamlSyntaxError: for invalid YAML, several documents, or unconstructible content
            (e.g. an unhashable key, a date that does not exist), with the parser's own
            description of the problem.
        LimitError: the text is over one of the limits of :mod:`harness.experiment.limits`.
    """
    check_text_size(text)
    if FastBoundedLoader is not None:
        try:
            return _parse(text, FastBoundedLoader)
        except YamlSyntaxError:
            pass  # said again below in PyYAML's words, which users and tests know
    return _parse(text, BoundedLoader)


def _parse(text: str, loader_class: type[BoundedLoader]) -> ParsedYaml:
    positions = _Positions(text)
    try:
        loader = loader_class(text, locate=lambda index: astuple(positions.at(index)))
    except yaml.reader.ReaderError as exc:  # a control character: the text is not YAML at all
        raise YamlSyntaxError(f"{exc.reason} (character #x{exc.character:04x})",
                              positions.at(exc.position)) from None
    walk: _Walk | None = None
    try:
        root = loader.get_single_node()
        if root is None:
            return ParsedYaml(None, SourceMap({(): Location(1, 1)}), ())
        walk = _Walk(loader, positions)
        # Must run before construct_document: constructing flattens merge keys in place.
        walk.node(root, ())
        data = loader.construct_document(root)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = positions.of(mark) if mark is not None else None
        # Composing: the path the composer is in. Constructing: the node at the error's mark.
        loc = loader.error_path if walk is None else walk.loc_at(where)
        raise YamlSyntaxError(_describe(exc, positions), where, loc) from None
    except yaml.YAMLError as exc:  # not expected from the safe loader, but never a traceback
        raise YamlSyntaxError(str(exc), None) from None
    finally:
        loader.dispose()
    return ParsedYaml(data, SourceMap(walk.values, walk.keys, walk.written), tuple(walk.duplicates))


class _Walk:
    """One pass over the composed nodes, aliases followed (the limits bound how far)."""

    def __init__(self, loader: BoundedLoader, positions: _Positions) -> None:
        self.loader = loader
        self.positions = positions
        self.values: dict[Loc, Location] = {}
        self.keys: dict[Loc, Location] = {}
        self.written: dict[Loc, str] = {}
        self.duplicates: list[DuplicateKey] = []

    def loc_at(self, where: Location | None) -> Loc:
        """The first path whose value (or key) starts at ``where``; ``()`` if none does."""
        for table in (self.values, self.keys):
            for loc, start in table.items():
                if start == where:
                    return loc
        return ()

    def node(self, node: Node, loc: Loc) -> None:
        # The composer refused aliases inside the node they name, so this walk ends.
        self.values.setdefault(loc, self.positions.of(node.start_mark))
        if isinstance(node, ScalarNode):
            if node.tag != "tag:yaml.org,2002:str":
                tag = self.loader.written_tags.get(id(node))
                self.written.setdefault(loc, f"{tag} {node.value}" if tag else node.value)
        elif isinstance(node, SequenceNode):
            for index, item in enumerate(node.value):
                self.node(item, (*loc, index))
        elif isinstance(node, MappingNode):
            seen: dict[Any, Location] = {}
            for key_node, value_node in node.value:
                key = self.loader.key_of(key_node)
                if key is None:
                    continue
                child = (*loc, key)
                here = self.positions.of(key_node.start_mark)
                if key in seen:
                    self.duplicates.append(DuplicateKey(child, seen[key], here))
                    continue  # keep the first occurrence's location for the path
                seen[key] = here
                self.keys[child] = here
                self.node(value_node, child)


def _describe(exc: yaml.MarkedYAMLError, positions: _Positions) -> str:
    """PyYAML's description in its own order: "<context> (line N): <problem>"."""
    problem = exc.problem or "invalid YAML"
    if "'\\t'" in problem:
        problem += " (YAML does not allow tabs for indentation; use spaces)"
    if not exc.context:
        return problem
    context = exc.context
    context_line = positions.of(exc.context_mark).line if exc.context_mark is not None else None
    if context_line is not None and (exc.problem_mark is None or context_line != positions.of(exc.problem_mark).line):
        context += f" (line {context_line})"
    return f"{context}: {problem}"
