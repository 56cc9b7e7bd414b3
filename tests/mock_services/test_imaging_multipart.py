"""multipart/related framing and media-type parsing used by the imaging service."""

from __future__ import annotations

import uuid

import pytest

from mock_services.imaging import multipart
from mock_services.imaging.mediatypes import MediaTypeError, parse_accept, parse_media_type


def test_round_trip_with_binary_content() -> None:
    contents = [b"\r\n--not-a-boundary\r\n\x00\xff", b"", b"second\r\n\r\npart"]
    body, content_type = multipart.encode(contents, "application/dicom")
    media_type = parse_media_type(content_type)
    assert media_type.essence == "multipart/related"
    assert media_type.param("type") == "application/dicom"
    boundary = media_type.param("boundary")
    assert boundary is not None
    parts = multipart.decode(body, boundary)
    assert [p.content for p in parts] == contents
    assert all(p.content_type == "application/dicom" for p in parts)


def test_decode_what_dicomweb_client_writes() -> None:
    # dicomweb-client starts with CRLF before the first delimiter and ends without one.
    part = b"\r\n--B\r\nContent-Type: application/dicom\r\n\r\n"
    body = part + b"ONE" + part + b"TWO" + b"\r\n--B--"
    assert [p.content for p in multipart.decode(body, "B")] == [b"ONE", b"TWO"]


def test_preamble_epilogue_and_headerless_parts() -> None:
    body = b"preamble\r\n--B\r\n\r\nbare\r\n--B--\r\nepilogue"
    (part,) = multipart.decode(body, "B")
    assert part.content == b"bare" and part.headers == {}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"no delimiter", "no multipart delimiter"),
        (b"--B\r\nContent-Type: x\r\n\r\ntruncated", "not terminated"),
        (b"--B\r\nContent-Type x\r\n\r\nbody\r\n--B--", "malformed part header"),
        (b"--Bjunk\r\n\r\nx\r\n--B--", "expected CRLF"),
    ],
)
def test_malformed_bodies(body: bytes, message: str) -> None:
    with pytest.raises(multipart.MultipartError, match=message):
        multipart.decode(body, "B")


def test_boundary_never_occurs_in_content(monkeypatch: pytest.MonkeyPatch) -> None:
    candidates = iter([uuid.UUID(int=1), uuid.UUID(int=2)])
    monkeypatch.setattr("mock_services.imaging.multipart.uuid.uuid4", lambda: next(candidates))
    content = b"xx--" + uuid.UUID(int=1).hex.encode() + b"xx"  # the first candidate would collide
    _, content_type = multipart.encode([content], "application/octet-stream")
    assert parse_media_type(content_type).param("boundary") == uuid.UUID(int=2).hex


def test_media_type_parameters_quoting_and_case() -> None:
    parsed = parse_media_type('Multipart/Related; TYPE="application/dicom"; boundary="a;b=c"; transfer-syntax=*')
    assert parsed.essence == "multipart/related"
    assert parsed.params == {"type": "application/dicom", "boundary": "a;b=c", "transfer-syntax": "*"}
    with pytest.raises(MediaTypeError):
        parse_media_type("not a media type")
    with pytest.raises(MediaTypeError):
        parse_media_type("text/plain; novalue")


def test_accept_ranges_sorted_by_q_and_zero_dropped() -> None:
    ranges = parse_accept('application/json;q=0.5, multipart/related; type="application/dicom", text/html;q=0')
    assert [r.essence for r in ranges] == ["multipart/related", "application/json"]
    assert [r.essence for r in parse_accept(None)] == ["*/*"]
    assert parse_accept("application/*")[0].covers("application/dicom+json")
    assert not parse_accept("image/*")[0].covers("application/dicom")
