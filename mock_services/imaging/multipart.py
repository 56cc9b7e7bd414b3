"""``multipart/related`` bodies (RFC 2387 over RFC 2046 framing), both ways.

DICOMweb moves DICOM files as the parts of a ``multipart/related`` body: WADO-RS answers with
one, STOW-RS and our replication link post one. Bodies here are small (a study of synthetic
images is tens of KB), so both directions work on whole ``bytes`` objects.

Framing: ``--BOUNDARY CRLF headers CRLF CRLF content CRLF --BOUNDARY ... CRLF --BOUNDARY--``.
Anything before the first delimiter (a preamble, or the leading CRLF that dicomweb-client
writes) and after the closing one (the epilogue) is ignored, as RFC 2046 says.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

_CRLF = b"\r\n"


class MultipartError(ValueError):
    """A body that cannot be split into parts (says what was expected and what was found)."""


@dataclass(frozen=True)
class Part:
    """One body part: its headers (names lower case) and its content."""

    headers: Mapping[str, str]
    content: bytes

    @property
    def content_type(self) -> str | None:
        return self.headers.get("content-type")


def _parse_headers(block: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in block.split(_CRLF):
        if not line.strip():
            continue
        name, colon, value = line.partition(b":")
        if not colon:
            raise MultipartError(f"malformed part header line {line[:80]!r} (expected 'Name: value')")
        headers[name.decode("latin-1").strip().lower()] = value.decode("latin-1").strip()
    return headers


def decode(body: bytes, boundary: str) -> list[Part]:
    """Split ``body`` into parts. Raises :class:`MultipartError` when the first delimiter or
    the closing delimiter is missing, or a part has no header/content separator."""
    if not boundary:
        raise MultipartError("empty multipart boundary")
    delimiter = b"--" + boundary.encode("latin-1")
    if body.startswith(delimiter):
        position = len(delimiter)
    else:
        found = body.find(_CRLF + delimiter)
        if found < 0:
            raise MultipartError(f"no multipart delimiter '--{boundary}' in a body of {len(body)} bytes")
        position = found + len(_CRLF) + len(delimiter)
    parts: list[Part] = []
    while True:
        if body.startswith(b"--", position):
            return parts  # the closing delimiter; the rest is the epilogue
        line_end = body.find(_CRLF, position)
        if line_end < 0 or body[position:line_end].strip(b" \t"):
            raise MultipartError(f"expected CRLF after the delimiter of part {len(parts) + 1}")
        start = line_end + len(_CRLF)
        end = body.find(_CRLF + delimiter, start)
        if end < 0:
            raise MultipartError(
                f"part {len(parts) + 1} is not terminated: no closing delimiter '--{boundary}--' (truncated body?)"
            )
        chunk = body[start:end]
        headers: dict[str, str]
        if not chunk:  # an empty part: no headers, no content
            headers, content = {}, b""
        elif chunk.startswith(_CRLF):  # a part without headers
            headers, content = {}, chunk[len(_CRLF) :]
        else:
            separator = chunk.find(_CRLF + _CRLF)
            if separator < 0:
                raise MultipartError(f"part {len(parts) + 1} has no blank line between its headers and content")
            headers, content = _parse_headers(chunk[:separator]), chunk[separator + 4 :]
        parts.append(Part(headers, content))
        position = end + len(_CRLF) + len(delimiter)


def new_boundary(contents: Iterable[bytes] = ()) -> str:
    """A random boundary that occurs in none of ``contents``."""
    materialised = list(contents)
    while True:
        boundary = uuid.uuid4().hex
        marker = b"--" + boundary.encode()
        if not any(marker in content for content in materialised):
            return boundary


def encode(contents: Iterable[bytes], part_type: str, boundary: str | None = None) -> tuple[bytes, str]:
    """Encode ``contents`` as parts of type ``part_type``.

    Returns ``(body, content_type)`` where ``content_type`` is the full header value
    ``multipart/related; type="<part_type>"; boundary=<boundary>``. Zero contents give a
    body with only the closing delimiter (a valid, empty multipart body).
    """
    materialised = list(contents)
    boundary = boundary or new_boundary(materialised)
    pieces: list[bytes] = []
    head = f"--{boundary}\r\nContent-Type: {part_type}\r\n\r\n".encode()
    for content in materialised:
        pieces += [head, content, _CRLF]
    pieces.append(f"--{boundary}--\r\n".encode())
    return b"".join(pieces), f'multipart/related; type="{part_type}"; boundary={boundary}'
