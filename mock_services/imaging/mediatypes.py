"""Media types as DICOMweb uses them: ``Content-Type`` and ``Accept`` header values.

DICOMweb leans on media-type *parameters* (``multipart/related; type="application/dicom";
transfer-syntax=1.2.840.10008.1.2.1; boundary=...``), so a plain string comparison is not
enough: parameters may be quoted, in any order, with or without spaces, and an ``Accept``
header lists several ranges with ``q`` weights. Type names and parameter names are
case-insensitive; parameter values keep their case (a multipart boundary is case-sensitive).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field


class MediaTypeError(ValueError):
    """A header value that is not a media type (or list of them)."""


@dataclass(frozen=True)
class MediaType:
    """One media type or media range, e.g. ``multipart/related`` with ``{"type": ...}``."""

    essence: str  # "type/subtype", lower case
    params: Mapping[str, str] = field(default_factory=dict)  # names lower case, values as sent

    @property
    def q(self) -> float:
        """The ``q`` weight of an Accept range (1.0 when absent or unreadable)."""
        try:
            return float(self.params.get("q", "1"))
        except ValueError:
            return 1.0

    def param(self, name: str) -> str | None:
        return self.params.get(name.lower())

    def covers(self, essence: str) -> bool:
        """Whether this range accepts ``essence`` (``*/*`` and ``type/*`` are wildcards)."""
        if self.essence in ("*/*", essence):
            return True
        major, _, minor = self.essence.partition("/")
        return minor == "*" and essence.startswith(major + "/")


def _split_outside_quotes(text: str, separator: str) -> Iterator[str]:
    """Split on ``separator`` except inside double quotes (backslash escapes honoured)."""
    start, quoted, escaped = 0, False, False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            yield text[start:index]
            start = index + 1
    yield text[start:]


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return value


def parse_media_type(value: str) -> MediaType:
    """Parse one media type with parameters; raises :class:`MediaTypeError` if malformed."""
    pieces = list(_split_outside_quotes(value, ";"))
    essence = pieces[0].strip().lower()
    major, slash, minor = essence.partition("/")
    if not slash or not major or not minor or " " in essence:
        raise MediaTypeError(f"not a media type: {value.strip()!r} (expected type/subtype[; name=value]...)")
    params: dict[str, str] = {}
    for piece in pieces[1:]:
        if not piece.strip():
            continue
        name, equals, raw = piece.partition("=")
        if not equals or not name.strip():
            raise MediaTypeError(f"malformed parameter {piece.strip()!r} in {value.strip()!r}")
        params[name.strip().lower()] = _unquote(raw.strip())
    return MediaType(essence, params)


def parse_accept(value: str | None) -> list[MediaType]:
    """The ranges of an ``Accept`` header, highest ``q`` first (ties keep header order).

    A missing or blank header means ``*/*``. Ranges with ``q=0`` are dropped (not acceptable).
    """
    if value is None or not value.strip():
        return [MediaType("*/*")]
    ranges = [parse_media_type(item) for item in _split_outside_quotes(value, ",") if item.strip()]
    ranges = [item for item in ranges if item.q > 0]
    return sorted(ranges, key=lambda item: -item.q)  # sorted() is stable
