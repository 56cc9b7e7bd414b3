"""WADO-RS (PS3.18 10.4): retrieve studies, series, instances, their metadata, and frames.

* ``GET /studies/{study}[/series/{series}[/instances/{sop}]]`` -- ``multipart/related;
  type="application/dicom"``, one part per instance, each the stored Part 10 file byte for
  byte (series then instance number order). Accept: ``multipart/related`` with ``type``
  ``application/dicom`` (or no type), ``multipart/*`` or ``*/*`` (or no Accept). The
  service does not transcode: a ``transfer-syntax`` parameter must be ``*`` or the stored
  transfer syntax of every instance (Explicit VR Little Endian for the seed data); without
  one, files are sent as stored.
* ``.../metadata`` -- a JSON array of DICOM JSON data sets without Pixel Data (and without
  File Meta); Accept must allow ``application/dicom+json`` or ``application/json``.
* ``.../instances/{sop}/frames/{list}`` -- ``list`` is ``1`` or ``1,3,...``; the native
  (uncompressed) pixel bytes of each frame, as ``multipart/related;
  type="application/octet-stream"`` (default), or as a bare ``application/octet-stream``
  body when that is what Accept asks for and one frame is requested. Compressed instances
  answer 406 (no transcoding); a frame number outside 1..NumberOfFrames is a 404.
* Unknown UIDs: 404 naming the missing level. Any other Accept: 406.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from io import BytesIO

import pydicom
from pydicom.uid import UID
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mock_services.imaging import multipart
from mock_services.imaging.dicomjson import metadata
from mock_services.imaging.responses import Problem, accept_ranges, json_response, require_json_accepted
from mock_services.imaging.service import Service
from mock_services.imaging.store import StoredInstance

DICOM = "application/dicom"
OCTETS = "application/octet-stream"


def _ts_ok(requested: str | None, stored: set[str]) -> bool:
    return requested in (None, "*") or stored == {requested}


def negotiate_dicom(request: Request, stored_syntaxes: set[str]) -> None:
    """406 unless Accept allows the multipart/related application/dicom we can send."""
    for candidate in accept_ranges(request):
        if candidate.essence in ("*/*", "multipart/*"):
            return
        if candidate.essence == "multipart/related":
            part_type = candidate.param("type") or DICOM
            ts_ok = _ts_ok(candidate.param("transfer-syntax"), stored_syntaxes)
            if part_type in (DICOM, "application/*", "*/*") and ts_ok:
                return
    raise Problem(
        406,
        f"cannot answer with {request.headers.get('accept')!r}: instances are sent as multipart/related;"
        f' type="{DICOM}" in their stored transfer syntax ({", ".join(sorted(stored_syntaxes))})',
    )


def negotiate_frames(request: Request, transfer_syntax: str, count: int) -> bool:
    """True for a multipart answer, False for a bare octet-stream one; 406 if neither fits."""
    for candidate in accept_ranges(request):
        ts_ok = _ts_ok(candidate.param("transfer-syntax"), {transfer_syntax})
        if candidate.essence in ("*/*", "multipart/*"):
            return True
        if candidate.essence == "multipart/related":
            if (candidate.param("type") or OCTETS) in (OCTETS, "application/*", "*/*") and ts_ok:
                return True
        elif candidate.covers(OCTETS) and ts_ok and count == 1:
            return False
    raise Problem(
        406,
        f"cannot answer with {request.headers.get('accept')!r}: frames are multipart/related;"
        f' type="{OCTETS}" (or bare {OCTETS} for one frame) in {transfer_syntax}',
    )


def _find(service: Service, request: Request) -> list[StoredInstance]:
    """The instances the path names; 404 naming the first level that does not exist."""
    study = request.path_params["study"]
    series = request.path_params.get("series")
    sop = request.path_params.get("sop")
    found = service.store.instances(study, series, sop)
    if found:
        return found
    if not service.store.instances(study):
        raise Problem(404, f"study {study} not found")
    if series is not None and not service.store.instances(study, series):
        raise Problem(404, f"series {series} not found in study {study}")
    raise Problem(404, f"instance {sop} not found in series {series} of study {study}")


def _retrieve(service: Service) -> Callable[[Request], Awaitable[Response]]:
    async def handler(request: Request) -> Response:
        instances = _find(service, request)
        negotiate_dicom(request, {i.attrs.transfer_syntax for i in instances})
        body, content_type = multipart.encode([service.store.read_bytes(i) for i in instances], DICOM)
        return Response(body, headers={"content-type": content_type})

    return handler


def _metadata(service: Service) -> Callable[[Request], Awaitable[Response]]:
    async def handler(request: Request) -> Response:
        instances = _find(service, request)
        require_json_accepted(request)
        return json_response([metadata(service.store.read_bytes(i)) for i in instances])

    return handler


def _frame_numbers(text: str) -> list[int]:
    try:
        numbers = [int(piece) for piece in text.split(",")]
    except ValueError:
        raise Problem(400, f"frame list {text!r}: expected comma-separated frame numbers (1-based)") from None
    if not numbers or min(numbers) < 1:
        raise Problem(400, f"frame list {text!r}: frame numbers start at 1")
    return numbers


def _frames(service: Service) -> Callable[[Request], Awaitable[Response]]:
    async def handler(request: Request) -> Response:
        (instance,) = _find(service, request)
        numbers = _frame_numbers(request.path_params["frames"])
        syntax = instance.attrs.transfer_syntax
        multipart_answer = negotiate_frames(request, syntax, len(numbers))
        if UID(syntax).is_compressed:
            raise Problem(406, f"instance is stored compressed ({syntax}); frames are served only uncompressed")
        ds = pydicom.dcmread(BytesIO(service.store.read_bytes(instance)))
        if "PixelData" not in ds:
            raise Problem(404, f"instance {instance.attrs.sop_uid} has no pixel data")
        count = int(ds.get("NumberOfFrames", 1) or 1)
        frame_size = int(ds.Rows) * int(ds.Columns) * int(ds.get("SamplesPerPixel", 1)) * int(ds.BitsAllocated) // 8
        if frame_size == 0:
            raise Problem(406, "frames of instances with less than 8 bits allocated are not served")
        missing = [n for n in numbers if n > count]
        if missing:
            raise Problem(404, f"frame(s) {missing} not in instance {instance.attrs.sop_uid} ({count} frame(s))")
        pixels: bytes = ds.PixelData
        frames = [pixels[(n - 1) * frame_size : n * frame_size] for n in numbers]
        if not multipart_answer:
            return Response(frames[0], media_type=OCTETS)
        body, content_type = multipart.encode(frames, OCTETS)
        return Response(body, headers={"content-type": content_type})

    return handler


def wado_routes(service: Service) -> list[Route]:
    study, series, instance = "/studies/{study}", "/studies/{study}/series/{series}", "/instances/{sop}"
    return [
        Route(study, _retrieve(service), methods=["GET"]),
        Route(f"{study}/metadata", _metadata(service), methods=["GET"]),
        Route(series, _retrieve(service), methods=["GET"]),
        Route(f"{series}/metadata", _metadata(service), methods=["GET"]),
        Route(f"{series}{instance}", _retrieve(service), methods=["GET"]),
        Route(f"{series}{instance}/metadata", _metadata(service), methods=["GET"]),
        Route(f"{series}{instance}/frames/{{frames}}", _frames(service), methods=["GET"]),
    ]
