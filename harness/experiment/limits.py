"""How big and how deep an experiment file may be, enforced before anything expands it.

A file is data a person wrote, so the limits sit far above any real experiment (the largest
shipped one is 8 KB, mostly comments, with about 150 values nested 5 deep) and low enough
that validating *any* file within them costs well under a second and 200 MB on a small
machine (``bench/bench_validate_adversarial.py`` measures the worst files we know):

=====================  ===========  ================================================================
limit                  value        why
=====================  ===========  ================================================================
file size              64 KiB       8 x the largest real experiment. PyYAML (pure Python) parses
                                    64 KiB in ~0.2 s here; 1 MB took 4 s to parse alone, before
                                    any check, and could hold 16 x the values to report on.
nesting                32 levels    the format nests 5 (``load.personas.nurse.tasks``); every walk
                                    over the document (composer, source map, pydantic) recurses,
                                    and 600 nested ``[`` was a RecursionError.
aliases                100          reuse with ``&anchor`` / ``*alias`` / ``<<:`` stays possible.
values after expansion 10 000       each alias counts as a copy of what it names: the "billion
                                    laughs" (1.6 KB expanding to 43 million values, 26 s and 1.7 GB
                                    once) is refused while it is composed, before the source map,
                                    the constructor or pydantic walk it. 60 x a real experiment.
number                 32 chars     int64 is 19 digits; longer is a typo, and Python refuses to
                                    convert integers of more than 4 300 digits.
string (key or value)  4 096 chars  a page of ``description``; every other string is a name.
=====================  ===========  ================================================================

Every limit fails with a :class:`LimitError` that knows the YAML path and the position of
the first thing over the limit; the loader turns it into a located issue.
:class:`BoundedLoader` is PyYAML's safe loader with the limits in its composer (the step
that turns parser events into nodes and resolves aliases) and with scalar constructors that
fail as YAML errors (``2024-02-30`` looks like a date but is not one; ``!!int foo``).
Values are bounded further by the models (durations at most 7 days: :mod:`harness.durations`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, cast

import yaml
from yaml.constructor import ConstructorError
from yaml.events import AliasEvent, MappingStartEvent, ScalarEvent, SequenceStartEvent
from yaml.nodes import Node, ScalarNode, SequenceNode

from harness.durations import shorten
from harness.experiment.base import Loc

try:  # libyaml, when PyYAML was built with it (the wheels are)
    from yaml._yaml import CParser

    HAVE_LIBYAML = True
except ImportError:  # pragma: no cover - PyYAML without libyaml: the pure-Python loader only
    HAVE_LIBYAML = False

MAX_FILE_BYTES: Final = 64 * 1024
MAX_DEPTH: Final = 32
MAX_ALIASES: Final = 100
MAX_NODES: Final = 10_000
MAX_NUMBER_LENGTH: Final = 32
MAX_STRING_LENGTH: Final = 4096

MERGE_TAG: Final = "tag:yaml.org,2002:merge"
_NUMBER_TAGS: Final = frozenset({"tag:yaml.org,2002:int", "tag:yaml.org,2002:float"})
_TAG_WORDS: Final = {
    "tag:yaml.org,2002:int": "an integer",
    "tag:yaml.org,2002:float": "a number",
    "tag:yaml.org,2002:bool": "a boolean (true or false)",
    "tag:yaml.org,2002:timestamp": "a date or timestamp",
}


class LimitError(Exception):
    """The file goes over one of the limits; ``loc`` is the YAML path of the first part over
    it and ``line``/``column`` (1-based) where that part starts; ``expected``/``found`` are
    short phrases ("at most 32 levels ...", "33 levels")."""

    def __init__(self, loc: Loc, line: int, column: int, message: str, expected: str, found: str) -> None:
        super().__init__(message)
        self.loc = loc
        self.line = line
        self.column = column
        self.message = message
        self.expected = expected
        self.found = found


def check_size(data: bytes, total: int | None = None) -> None:
    """Refuse ``data`` (the file's first bytes, or all of it) if it is over :data:`MAX_FILE_BYTES`,
    at the position of the first byte past the limit. ``total`` is the file's whole size, when
    known (a file is read only up to the limit).

    Raises:
        LimitError: when ``data`` is longer than the limit.
    """
    if len(data) <= MAX_FILE_BYTES:
        return
    before = data[:MAX_FILE_BYTES].decode("utf-8", "ignore")
    line = before.count("\n") + 1
    column = len(before) - (before.rfind("\n") + 1) + 1
    found = f"{total} bytes" if total is not None and total > MAX_FILE_BYTES else f"more than {MAX_FILE_BYTES} bytes"
    expected = f"a file of at most {MAX_FILE_BYTES} bytes"
    raise LimitError((), line, column,
                     f"the file is larger than 64 KiB ({MAX_FILE_BYTES} bytes), the most an experiment file may be, "
                     f"and crosses the limit here: expected {expected}, found {found}", expected, found)


def check_text_size(text: str) -> None:
    """:func:`check_size` for text already in memory (its UTF-8 size is what counts)."""
    if len(text) * 4 <= MAX_FILE_BYTES:  # four bytes per character at most: surely within
        return
    head = text[: MAX_FILE_BYTES + 1].encode("utf-8", "surrogatepass")
    check_size(head, len(text.encode("utf-8", "surrogatepass")) if len(head) > MAX_FILE_BYTES else None)


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


class BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader with the module's limits checked while composing.

    Composition is linear in the text: an alias is a reference to a node already composed, so
    the loader can count what each alias would expand to (``_sizes``) and how deep it reaches
    (``_heights``) from figures of the nodes it names, without expanding anything.
    :meth:`key_of` gives mapping keys as the constructed document will have them, so paths in
    errors match the source map's.
    """

    def __init__(self, stream: str, locate: Callable[[int], tuple[int, int]] | None = None) -> None:
        """``locate`` turns a character index into (line, column), 1-based; by default
        PyYAML's own marks (which also count ``\\r``, NEL and U+2028 as line breaks)."""
        super().__init__(stream)
        self._locate = locate
        self._path: list[str | int] = []
        self._error_path: Loc | None = None
        self._depth = 0            # collections open around the node being composed
        self._aliases = 0
        self._expanded = 0         # values so far, each alias counted as a copy of its node
        self._sizes: dict[int, int] = {}    # id(node) -> values in it, once expanded
        self._heights: dict[int, int] = {}  # id(node) -> levels of collections in it (a scalar: 0)
        self.written_tags: dict[int, str] = {}  # id(scalar) -> its explicit tag, as written ("!!binary")

    @property
    def error_path(self) -> Loc:
        """The document path the composer was in when a YAML error stopped it (a key's
        error is its mapping's); ``()`` if none did."""
        return self._error_path or ()

    def key_of(self, node: Node) -> str | int | None:
        """The key ``node`` is in the constructed mapping (``1`` an int, ``yes`` the text
        ``'True'``), or ``None`` for keys no path is reported under (merge keys, lists)."""
        if not isinstance(node, ScalarNode) or node.tag == MERGE_TAG:
            return None
        key = self.construct_object(node)
        if isinstance(key, bool) or not isinstance(key, str | int):
            return str(key)
        return key

    def _fail(self, mark: Any, problem: str, expected: str, found: str) -> LimitError:
        line, column = self._locate(mark.index) if self._locate is not None else (mark.line + 1, mark.column + 1)
        return LimitError(tuple(self._path), line, column, f"{problem}: expected {expected}, found {found}",
                          expected, found)

    def _count(self, mark: Any, values: int) -> None:
        self._expanded += values
        if self._expanded > MAX_NODES:
            raise self._fail(mark, f"the document has more than {MAX_NODES} values once aliases are expanded "
                             "(each alias counts as a copy of what it names)",
                             f"at most {MAX_NODES} values", f"at least {self._expanded} values")

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        # ``index`` is a list index, ``None`` for a mapping key, or the key node of a value.
        part = index if isinstance(index, int) else self.key_of(index) if isinstance(index, Node) else None
        if part is not None:
            self._path.append(part)
        try:
            return self._compose_bounded(parent, index)
        except yaml.YAMLError:
            if self._error_path is None:  # the innermost node: where the error is
                self._error_path = tuple(self._path)
            raise
        finally:
            if part is not None:
                self._path.pop()

    def _compose_bounded(self, parent: Node | None, index: Any) -> Node:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        mark = event.start_mark
        if isinstance(event, AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise self._fail(mark, f"more than {MAX_ALIASES} aliases (*name) in one file",
                                 f"at most {MAX_ALIASES} aliases", f"the {_ordinal(self._aliases)}")
            node = cast(Node, super().compose_node(parent, index))
            if id(node) not in self._sizes:  # still being composed: the alias is inside its own node
                raise self._fail(mark, f"alias *{event.anchor} refers to a node that contains it (a structure "
                                 "that never ends)", "an alias of a node that ends before the alias",
                                 f"*{event.anchor}")
            self._check_depth(mark, self._depth + self._heights[id(node)])
            self._count(mark, self._sizes[id(node)])
            return node
        collection = isinstance(event, SequenceStartEvent | MappingStartEvent)
        if collection:
            self._check_depth(mark, self._depth + 1)
        elif isinstance(event, ScalarEvent):
            self._check_scalar(event)
        self._count(mark, 1)
        self._depth += collection
        try:
            node = cast(Node, super().compose_node(parent, index))
        finally:
            self._depth -= collection
        if isinstance(node, ScalarNode):
            self._sizes[id(node)], self._heights[id(node)] = 1, 0
            if event.tag not in (None, "!"):
                self.written_tags[id(node)] = _short_tag(event.tag)
        else:
            children = node.value if isinstance(node, SequenceNode) else [n for pair in node.value for n in pair]
            self._sizes[id(node)] = 1 + sum(self._sizes[id(child)] for child in children)
            self._heights[id(node)] = 1 + max((self._heights[id(child)] for child in children), default=0)
        return node

    def _check_depth(self, mark: Any, level: int) -> None:
        if level > MAX_DEPTH:
            raise self._fail(mark, f"lists and mappings nested more than {MAX_DEPTH} levels deep",
                             f"at most {MAX_DEPTH} levels of nested lists and mappings", f"{level} levels")

    def _check_scalar(self, event: ScalarEvent) -> None:
        value: str = event.value
        tag = event.tag if event.tag not in (None, "!") else self.resolve(ScalarNode, value, event.implicit)  # type: ignore[no-untyped-call]
        if tag in _NUMBER_TAGS and len(value) > MAX_NUMBER_LENGTH:
            raise self._fail(event.start_mark, "number too long",
                             f"a number of at most {MAX_NUMBER_LENGTH} characters",
                             f"a number of {len(value)} characters")
        if len(value) > MAX_STRING_LENGTH:
            raise self._fail(event.start_mark, "string too long",
                             f"a string of at most {MAX_STRING_LENGTH} characters",
                             f"one of {len(value)} characters")

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        # PyYAML's scalar constructors trust the resolver: "2024-02-30" resolves as a date and
        # datetime() refuses it, "!!int foo" reaches int(). Those are YAML errors at the scalar.
        try:
            return super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError) as exc:
            what = _TAG_WORDS.get(node.tag, f"a value of tag {_short_tag(node.tag)}")
            detail = f": {exc}" if isinstance(exc, ValueError) and node.tag.endswith(":timestamp") else ""
            raise ConstructorError(None, None, f"cannot read {shorten(repr(node.value))} as {what}{detail}",
                                   node.start_mark) from None


def _short_tag(tag: str) -> str:
    return "!!" + tag.removeprefix("tag:yaml.org,2002:") if tag.startswith("tag:yaml.org,2002:") else tag


class _FastBoundedLoader(BoundedLoader):
    """:class:`BoundedLoader` reading its events from libyaml's C parser, about four times
    faster on a large file (a 400-instance topology: 139 ms -> 34 ms), with the same nodes,
    marks and limits: only scanning and parsing move to C; composing (where the limits are
    checked), the source map and the constructor stay here, and the pure-Python reader still
    refuses control characters. libyaml words syntax errors its own way, so a document it
    refuses is parsed again with :class:`BoundedLoader` for the messages users know
    (:func:`harness.experiment.source.parse_yaml`)."""

    def __init__(self, stream: str, locate: Callable[[int], tuple[int, int]] | None = None) -> None:
        super().__init__(stream, locate)
        self._events = CParser(stream)

    def check_event(self, *choices: Any) -> bool:
        return bool(self._events.check_event(*choices))

    def peek_event(self) -> Any:
        return self._events.peek_event()

    def get_event(self) -> Any:
        return self._events.get_event()

    def dispose(self) -> None:
        self._events.dispose()
        super().dispose()


FastBoundedLoader: type[BoundedLoader] | None = _FastBoundedLoader if HAVE_LIBYAML else None
"""The C-parsed loader, or None where PyYAML has no libyaml (then only :class:`BoundedLoader`)."""
