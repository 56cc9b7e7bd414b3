"""A small HL7 v2 parser: segments, fields, repetitions, components, escapes.

Written here on purpose (the ``hl7`` package is the *independent* client of the interop
tests). It reads what an interface engine needs and no more:

* Segments are separated by CR; LF and CRLF are accepted too (files edited on Unix or
  Windows). Empty lines are ignored.
* The message must start with ``MSH``; MSH-1 (the field separator) is the character after
  it and MSH-2 the encoding characters up to the next field separator: component,
  repetition, escape, subcomponent (and v2.7's truncation character, which is kept but not
  interpreted). Missing trailing encoding characters take their defaults.
* Numbering follows the standard: ``segment.field(n)`` is SEG-n; for MSH, MSH-1 is the field
  separator and MSH-2 the encoding characters, so MSH-10 is the message control id.
* Escapes ``\\F\\ \\S\\ \\T\\ \\R\\ \\E\\ \\Xhh..\\ \\.br\\`` are decoded by :meth:`Segment.value`
  and :meth:`Separators.unescape`; formatting escapes (``\\H\\``, ``\\N\\``, other ``\\.xx\\``)
  are dropped. :meth:`Separators.escape` encodes text for a field.

* Separators must be *usable* (:attr:`Separators.usable`): printable ASCII, neither letters,
  digits nor space, all different. Others (a tab, a control character, defaults that collide
  with MSH-1) are a :class:`Problem` at MSH-1 or MSH-2: the message is still read, so that it
  can be refused with an ACK -- written with the standard separators (:data:`STANDARD`),
  copied fields re-encoded with :meth:`Separators.transcode`.

Errors: :class:`Unreadable` only when there is no header to read -- no ``MSH``, or an MSH-1
that cannot be a separator (a letter, a digit, CR, LF): the engine then closes the connection.
A header without MSH-10 (or with a blank one) is readable: validation refuses it with an ACK.
Lines that are not segments are :class:`Problem` entries of the message, not exceptions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

SEGMENT_ID = re.compile(r"[A-Z][A-Z0-9]{2}\Z")
_LINES = re.compile(r"\r\n|\r|\n")
_DEFAULT_ENCODING = "^~\\&"


class Unreadable(Exception):
    """Not HL7 v2: no MSH header, or an MSH-1 that cannot be a field separator."""


def _usable_delimiter(char: str) -> bool:
    return "!" <= char <= "~" and not char.isalnum()


@dataclass(frozen=True)
class Separators:
    """The delimiters of one message (MSH-1 and MSH-2)."""

    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"
    truncation: str = ""

    @property
    def encoding_characters(self) -> str:
        """MSH-2 as it should be written back (e.g. in an ACK)."""
        return self.component + self.repetition + self.escape + self.subcomponent + self.truncation

    @property
    def usable(self) -> bool:
        """Whether a standard parser can split a message with these: every delimiter printable
        ASCII, not a letter, digit or space, and no two alike."""
        chars = self.field + self.encoding_characters
        return len(chars) >= 5 and len(set(chars)) == len(chars) and all(_usable_delimiter(c) for c in chars)

    def escape_text(self, text: str) -> str:
        """``text`` encoded for use inside a component: delimiters as escape sequences, line
        breaks as ``\\.br\\``, other control characters as ``\\Xhh\\`` (raw, they would break
        the message -- 0x0B and 0x1C even its MLLP frame)."""
        e = self.escape
        out = text.replace(e, f"{e}E{e}")
        for char, code in (
            (self.field, "F"),
            (self.component, "S"),
            (self.subcomponent, "T"),
            (self.repetition, "R"),
        ):
            out = out.replace(char, f"{e}{code}{e}")
        out = out.replace("\r\n", f"{e}.br{e}").replace("\r", f"{e}.br{e}").replace("\n", f"{e}.br{e}")
        if _CONTROL.search(out):
            out = _CONTROL.sub(lambda m: f"{e}X{ord(m.group()):02X}{e}", out)
        return out

    def transcode(self, raw: str, target: Separators) -> str:
        """``raw`` (a field in these separators) written in ``target``'s: the same repetitions,
        components and subcomponents, each one's text unescaped and escaped again."""
        if target == self:
            return raw
        return target.repetition.join(
            target.component.join(
                target.subcomponent.join(
                    target.escape_text(self.unescape(sub)) for sub in component.split(self.subcomponent)
                )
                for component in repetition.split(self.component)
            )
            for repetition in raw.split(self.repetition)
        )

    def unescape(self, text: str) -> str:
        """Decode the escape sequences of one (sub)component's text."""
        e = self.escape
        if not e or e not in text:
            return text
        parts = text.split(e)
        # parts alternate: text, escape body, text, ...; an unmatched escape is kept literally.
        out = [parts[0]]
        index = 1
        while index < len(parts):
            if index + 1 >= len(parts):
                out.append(e + parts[index])
                break
            out.append(self._decode(parts[index]))
            out.append(parts[index + 1])
            index += 2
        return "".join(out)

    def _decode(self, body: str) -> str:
        simple = {"F": self.field, "S": self.component, "T": self.subcomponent, "R": self.repetition, "E": self.escape}
        if body in simple:
            return simple[body]
        if body == ".br":
            return "\n"
        if body[:1] == "X" and len(body) % 2 == 1:
            try:
                return bytes.fromhex(body[1:]).decode("latin-1")
            except ValueError:
                return ""
        return ""  # \H\, \N\, \.sp\ ... : formatting, not content


STANDARD = Separators()
"""``|^~\\&``: what an ACK is written with when the message's separators are not usable."""
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _separators_from(encoding: str, field_separator: str) -> Separators:
    chars = (encoding + _DEFAULT_ENCODING[len(encoding) :]) if len(encoding) < 4 else encoding
    return Separators(field_separator, chars[0], chars[1], chars[2], chars[3], chars[4:5])


class Segment:
    """One segment: ``fields[n]`` is SEG-n raw (escaped) text, ``fields[0]`` the segment id.

    Immutable by convention (a slotted class rather than a frozen dataclass: :meth:`value`
    runs a few dozen times per message on the engine's hot path).
    """

    __slots__ = ("fields", "name", "separators", "sequence")

    def __init__(self, fields: tuple[str, ...], separators: Separators, sequence: int = 1) -> None:
        self.fields = fields
        self.name = fields[0]
        self.separators = separators
        self.sequence = sequence
        """1-based occurrence of this segment id in the message (ERR-2.2)."""

    def __repr__(self) -> str:
        return f"Segment({self.separators.field.join(self.fields)!r}, sequence={self.sequence})"

    def field(self, n: int) -> str:
        """SEG-n raw text ('' when absent)."""
        return self.fields[n] if 0 <= n < len(self.fields) else ""

    def repetitions(self, n: int) -> list[str]:
        """SEG-n split into its repetitions (raw); [] when the field is empty."""
        raw = self.field(n)
        if not raw:
            return []
        if self.name == "MSH" and n <= 2:
            return [raw]
        return raw.split(self.separators.repetition)

    def components(self, n: int, repetition: int = 1) -> list[str]:
        """The components of one repetition of SEG-n, raw (subcomponents not split)."""
        reps = self.repetitions(n)
        if not 1 <= repetition <= len(reps):
            return []
        return reps[repetition - 1].split(self.separators.component)

    def value(self, n: int, component: int = 1, subcomponent: int = 1, repetition: int = 1) -> str:
        """SEG-n.component.subcomponent of one repetition, unescaped ('' when absent)."""
        raw = self.fields[n] if 0 <= n < len(self.fields) else ""
        if not raw or (n <= 2 and self.name == "MSH"):
            return raw
        seps = self.separators
        for separator, index in ((seps.repetition, repetition), (seps.component, component)):
            if separator in raw:
                parts = raw.split(separator)
                if not 1 <= index <= len(parts):
                    return ""
                raw = parts[index - 1]
            elif index != 1:
                return ""
        if seps.subcomponent in raw:
            subs = raw.split(seps.subcomponent)
            if not 1 <= subcomponent <= len(subs):
                return ""
            raw = subs[subcomponent - 1]
        elif subcomponent != 1:
            return ""
        return seps.unescape(raw) if seps.escape in raw else raw


@dataclass(frozen=True)
class Problem:
    """A structural problem found while parsing (see :mod:`.validation` for content problems)."""

    segment: str
    sequence: int
    position: int | None
    text: str


@dataclass(frozen=True)
class Message:
    """A parsed message. ``problems`` lists lines that are not segments (they are skipped)."""

    segments: tuple[Segment, ...]
    separators: Separators
    problems: tuple[Problem, ...] = field(default=())
    _by_name: dict[str, list[Segment]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_name: dict[str, list[Segment]] = {}
        for segment in self.segments:
            by_name.setdefault(segment.name, []).append(segment)
        object.__setattr__(self, "_by_name", by_name)

    @property
    def header(self) -> Segment:
        return self.segments[0]

    def first(self, name: str) -> Segment | None:
        found = self._by_name.get(name)
        return found[0] if found else None

    def all(self, name: str) -> list[Segment]:
        return list(self._by_name.get(name, ()))

    @property
    def control_id(self) -> str:
        """MSH-10, raw."""
        return self.header.field(10)


def parse(text: str) -> Message:
    """Parse one message; raises :class:`Unreadable` if it has no readable MSH header.

    Everything else is read, whatever it holds: lines that are not segments (bad segment id)
    are skipped and listed in ``Message.problems``, as are unusable separators, so the engine
    can refuse the message *with an ACK* that names them.
    """
    stripped = text.lstrip("\r\n \t")
    if not stripped.startswith("MSH") or len(stripped) < 4:
        raise Unreadable("the message does not start with an MSH segment")
    field_separator = stripped[3]
    if field_separator.isalnum() or field_separator in "\r\n":
        raise Unreadable(f"invalid field separator {field_separator!r} in MSH-1")
    lines = [line for line in _LINES.split(stripped) if line]
    msh = lines[0].split(field_separator)
    encoding = msh[1]
    header_fields = ("MSH", field_separator, *msh[1:])
    problems: list[Problem] = []
    if (
        not 1 <= len(encoding) <= 5
        or len(set(encoding)) != len(encoding)
        or not all(_usable_delimiter(c) for c in encoding)
    ):
        problems.append(Problem("MSH", 1, 2, f"invalid encoding characters {encoding!r} in MSH-2"))
        encoding = _DEFAULT_ENCODING
    separators = _separators_from(encoding, field_separator)
    if not separators.usable:
        text = f"field separator {field_separator!r} (MSH-1) unusable with encoding characters {encoding!r}"
        problems.insert(0, Problem("MSH", 1, 1, text))
    segments = [Segment(header_fields, separators, 1)]
    counts: dict[str, int] = {"MSH": 1}
    for number, line in enumerate(lines[1:], start=2):
        name = line[:3]
        if not SEGMENT_ID.match(name) or (len(line) > 3 and line[3] != field_separator):
            problems.append(
                Problem(
                    name if SEGMENT_ID.match(name) else "",
                    number,
                    None,
                    f"line {number} is not a segment: {line[:20]!r}",
                )
            )
            continue
        counts[name] = counts.get(name, 0) + 1
        segments.append(Segment(tuple(line.split(field_separator)), separators, counts[name]))
    return Message(tuple(segments), separators, tuple(problems))
