"""A minimal PDF 1.4 writer: text-only pages in Helvetica, nothing else.

Why our own rather than a library: downtime documents are lines of text on A4 pages; this is
~120 lines with no dependency to pin or to fail at import time on a workstation (the printer
path must be the last thing to break), and its output is deterministic for a given input and
creation time. What it writes is plain PDF 1.4 (ISO 32000-1 compatible): a catalog, a page
tree, one uncompressed content stream per page, the two standard Type 1 fonts Helvetica and
Helvetica-Bold with WinAnsiEncoding (so French accents print), an Info dictionary, and a
cross-reference table with exact byte offsets. Any reader opens it; the tests check it with
an independent parser.

Input: pages, each a list of :class:`Line` (text, size in points, bold), laid out top-down
from the top margin with a leading of 1.25 x size. Characters outside Windows-1252 print as
``?``. :func:`wrap` splits a long text to a width using Helvetica's average glyph width.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from datetime import UTC, datetime

PAGE_WIDTH, PAGE_HEIGHT = 595, 842  # A4 in points
MARGIN = 48
AVERAGE_GLYPH = 0.52  # Helvetica's mean advance width, in em, for Latin text


@dataclass(frozen=True)
class Line:
    text: str
    size: float = 10.0
    bold: bool = False


def wrap(text: str, size: float = 10.0, width: float = PAGE_WIDTH - 2 * MARGIN) -> list[str]:
    """``text`` split into lines that fit ``width`` points at ``size`` (at least one line)."""
    columns = max(10, int(width / (size * AVERAGE_GLYPH)))
    return textwrap.wrap(text, columns, break_long_words=True, replace_whitespace=True) or [""]


def _string(text: str) -> bytes:
    encoded = text.encode("cp1252", errors="replace")
    return b"(" + encoded.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def _info_string(text: str) -> bytes:
    return _string(text.replace("\r", " ").replace("\n", " "))


def _content(lines: list[Line]) -> bytes:
    out = [b"BT"]
    y = float(PAGE_HEIGHT - MARGIN)
    for line in lines:
        y -= line.size * 1.25
        font = b"/F2" if line.bold else b"/F1"
        out.append(font + b" %.1f Tf 1 0 0 1 %d %.2f Tm " % (line.size, MARGIN, y) + _string(line.text) + b" Tj")
    out.append(b"ET")
    return b"\n".join(out) + b"\n"


def render(pages: list[list[Line]], title: str, created: datetime | None = None) -> bytes:
    """The PDF file's bytes. ``pages`` must not be empty."""
    if not pages:
        raise ValueError("a PDF needs at least one page")
    moment = (created or datetime.now(UTC)).astimezone(UTC)
    objects: list[bytes] = []  # object n is objects[n - 1]
    first_page = 6
    kids = " ".join(f"{first_page + 2 * i} 0 R" for i in range(len(pages)))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode())
    for font in (b"Helvetica", b"Helvetica-Bold"):
        objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /" + font + b" /Encoding /WinAnsiEncoding >>")
    stamp = moment.strftime("D:%Y%m%d%H%M%SZ")
    objects.append(b"<< /Title " + _info_string(title) + b" /Producer (hchaos care application) /CreationDate ("
                   + stamp.encode() + b") >>")  # fmt: skip
    for number, lines in enumerate(pages):
        content_id = first_page + 2 * number + 1
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PAGE_WIDTH} {PAGE_HEIGHT}] "
            f"/Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents {content_id} 0 R >>".encode()
        )
        stream = _content(lines)
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"endstream")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 5 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)
