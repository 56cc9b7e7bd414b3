"""WADO-RS (PS3.18 10.4): retrieve studies, series, instances, their metadata, bulk data and
frames (rendered images: :mod:`.wado_rendered`).

* ``GET /studies/{study}[/series/{series}[/instances/{sop}]]`` -- ``multipart/related;
  type="application/dicom"``, one part per instance, each the stored Part 10 file byte for
  byte (series then instance number order). Accept: ``multipart/related`` with ``type``
  ``application/dicom`` (or no type), ``multipart/*`` or ``*/*`` (or no Accept); a single
  instance is also served as a bare ``application/dicom`` body when that is what Accept
  asks for (a study or series cannot be: 406). The service does not transcode: a
  ``transfer-syntax`` parameter must be ``*`` or the stored transfer syntax of every
  instance (Explicit VR Little Endian for the seed data); without one, files are sent as
  stored.
* ``.../metadata`` -- a JSON array of DICOM JSON data sets without File Meta, where pixel
  data carries a ``BulkDataURI`` (``.../instances/{sop}/bulk/7FE00010``); Accept must allow
  ``application/dicom+json`` or ``application/json``.
* ``.../instances/{sop}/bulk/{tag}`` -- the value of a pixel data element (the BulkDataURI
  of the metadata), as ``multipart/related; type="application/octet-stream"`` or a bare
  ``application/octet-stream``; native (uncompressed) pixel data only (else 406).
* ``.../instances/{sop}/frames/{list}`` -- ``list`` is ``1`` or ``1,3,...``; the native
  (uncompressed) pixel bytes of each frame, as ``multipart/related;
  type="application/octet-stream"`` (default), or as a bare ``application/octet-stream``
  body when that is what Accept asks for and one frame is requested. Compressed instances
  answer 406 (no transcoding); a frame number outside 1..NumberOfFrames is a 404.
* Unknown UIDs: 404 naming the missing level. Any other Accept: 406 (PS3.18 8.7.8.1: none
  of the Acceptable Media Types can be produced); DICOM and rendered media types mixed in
  one Accept: 400 (PS3.18 8.7.5). A request without Accept is served the default, as most
  servers do (PS3.18 8.7.5 would have it be a 406; every common HTTP client sends one).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from io import BytesIO

import pydicom
from pydicom.uid import UID
from starlette.requests import Request
from starlette.responses import Response

from mock_services.common.openapi import Endpoint, Json, Operation, path_param
from mock_services.imaging import api, multipart
from mock_services.imaging.dicomjson import BULK_TAGS, metadata
from mock_services.imaging.mediatypes import MediaType
from mock_services.imaging.responses import Problem, accept_ranges, json_response, require_json_accepted
from mock_services.imaging.service import Service
from mock_services.imaging.store import StoredInstance

DICOM = "application/dicom"
OCTETS = "application/octet-stream"


def _ts_ok(requested: str | None, stored: set[str]) -> bool:
    return requested in (None, "*") or stored == {requested}


_RENDERED_MAJORS = ("image/", "video/", "text/")


def _is_rendered(media_type: MediaType) -> bool:
    essence = media_type.essence
    if essence == "multipart/related":
        essence = (media_type.param("type") or "").lower()
    return essence.startswith(_RENDERED_MAJORS) or essence == "application/pdf"


def _is_dicom(media_type: MediaType) -> bool:
    essence = media_type.essence
    if essence == "multipart/related":
        essence = (media_type.param("type") or DICOM).lower()
    return essence.startswith("application/dicom") or essence == OCTETS


def retrieve_ranges(request: Request) -> list[MediaType]:
    """The Accept ranges of a Retrieve request; 400 if they mix DICOM and rendered media
    types, which PS3.18 8.7.5 forbids (``*/*`` and the like are neither)."""
    ranges = accept_ranges(request)
    if any(_is_dicom(r) for r in ranges) and any(_is_rendered(r) for r in ranges):
        raise Problem(
            400,
            f"Accept {request.headers.get('accept')!r} mixes DICOM and rendered media types (PS3.18 8.7.5)",
        )
    return ranges


def negotiate_dicom(request: Request, stored_syntaxes: set[str], single: bool = False) -> bool:
    """True for the multipart/related application/dicom answer, False for a bare
    application/dicom one (only offered when ``single``: one instance); 406 if neither fits."""
    for candidate in retrieve_ranges(request):
        if candidate.essence in ("*/*", "multipart/*"):
            return True
        ts_ok = _ts_ok(candidate.param("transfer-syntax"), stored_syntaxes)
        if candidate.essence == "multipart/related":
            part_type = candidate.param("type") or DICOM
            if part_type in (DICOM, "application/*", "*/*") and ts_ok:
                return True
        elif candidate.essence == DICOM and single and ts_ok:
            return False
    what = "this instance is" if single else "instances are"
    raise Problem(
        406,
        f"cannot answer with {request.headers.get('accept')!r}: {what} sent as multipart/related;"
        f' type="{DICOM}"{" (or a bare " + DICOM + ")" if single else ""} in the stored transfer syntax'
        f" ({', '.join(sorted(stored_syntaxes))})",
    )


def negotiate_frames(request: Request, transfer_syntax: str, count: int) -> bool:
    """True for a multipart answer, False for a bare octet-stream one; 406 if neither fits."""
    for candidate in retrieve_ranges(request):
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


def find_instances(service: Service, request: Request) -> list[StoredInstance]:
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
        instances = find_instances(service, request)
        single = "sop" in request.path_params
        if not negotiate_dicom(request, {i.attrs.transfer_syntax for i in instances}, single):
            return Response(service.store.read_bytes(instances[0]), media_type=DICOM)
        body, content_type = multipart.encode([service.store.read_bytes(i) for i in instances], DICOM)
        return Response(body, headers={"content-type": content_type})

    return handler


def _metadata(service: Service) -> Callable[[Request], Awaitable[Response]]:
    async def handler(request: Request) -> Response:
        instances = find_instances(service, request)
        retrieve_ranges(request)
        require_json_accepted(request)
        base = str(request.base_url).rstrip("/")
        documents = []
        for instance in instances:
            documents.append(metadata(service.store.read_bytes(instance), _bulk_uris(instance_url(base, instance))))
        return json_response(documents)

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
        (instance,) = find_instances(service, request)
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


def instance_url(base: str, instance: StoredInstance) -> str:
    """The WADO-RS URL of ``instance`` under ``base`` (the service's root URL)."""
    a = instance.attrs
    return f"{base}/studies/{a.study_uid}/series/{a.series_uid}/instances/{a.sop_uid}"


def _bulk_uris(url: str) -> Callable[[int], str]:
    """BulkDataURIs of the instance at ``url``: ``<url>/bulk/<tag>``, as Orthanc writes them."""
    return lambda tag: f"{url}/bulk/{tag:08X}"


def _bulk(service: Service) -> Callable[[Request], Awaitable[Response]]:
    async def handler(request: Request) -> Response:
        (instance,) = find_instances(service, request)
        text = request.path_params["tag"]
        tag = int(text, 16) if re.fullmatch(r"[0-9A-Fa-f]{8}", text) else None
        if tag not in BULK_TAGS:
            raise Problem(404, f"no bulk data {text!r} in instance {instance.attrs.sop_uid}: see its metadata")
        syntax = instance.attrs.transfer_syntax
        multipart_answer = negotiate_frames(request, syntax, 1)
        ds = pydicom.dcmread(BytesIO(service.store.read_bytes(instance)))
        if tag not in ds:
            raise Problem(404, f"instance {instance.attrs.sop_uid} has no element {text} (see its metadata)")
        if UID(syntax).is_compressed:
            raise Problem(406, f"instance is stored compressed ({syntax}); bulk data is served only uncompressed")
        value: bytes = ds[tag].value
        if not multipart_answer:
            return Response(value, media_type=OCTETS)
        body, content_type = multipart.encode([value], OCTETS)
        return Response(body, headers={"content-type": content_type})

    return handler


_MULTIPART_DICOM = 'multipart/related; type="application/dicom"'
_RETRIEVE = {
    400: api.BAD_ACCEPT,
    404: api.NOT_FOUND,
    406: api.NOT_ACCEPTABLE,
}


def wado_operations(service: Service) -> list[Operation]:
    study, series, instance = "/studies/{study}", "/studies/{study}/series/{series}", "/instances/{sop}"
    at_study, at_series, at_instance = [api.STUDY], [api.STUDY, api.SERIES], [api.STUDY, api.SERIES, api.SOP]
    part10 = api.binary(f"the Part 10 files, one per part ({_MULTIPART_DICOM})", api.MULTIPART)
    one = api.binary("the Part 10 file (multipart/related, or bare application/dicom if asked)", api.MULTIPART, DICOM)
    metadata_ok = api.datasets("the DICOM JSON of each instance; pixel data by BulkDataURI")
    pixels = api.binary("the native pixel bytes (multipart/related, or bare application/octet-stream for one)",
                        api.MULTIPART, OCTETS)  # fmt: skip
    tags = ("WADO-RS",)

    def get(path: str, handler: Endpoint, ok: Json, summary: str, params: list[Json]) -> Operation:
        return Operation("GET", path, handler, f"WADO-RS: {summary}", {200: ok, **_RETRIEVE}, parameters=params,
                         tags=tags)  # fmt: skip

    frames = path_param("frames", {"type": "string"}, "frame numbers, 1-based, ',' separated", example="1")
    tag = path_param("tag", {"type": "string"}, "the element's tag as in its BulkDataURI", example="7FE00010")
    return [
        get(study, _retrieve(service), part10, "retrieve a study", at_study),
        get(f"{study}/metadata", _metadata(service), metadata_ok, "a study's metadata", at_study),
        get(series, _retrieve(service), part10, "retrieve a series", at_series),
        get(f"{series}/metadata", _metadata(service), metadata_ok, "a series' metadata", at_series),
        get(f"{series}{instance}", _retrieve(service), one, "retrieve an instance", at_instance),
        get(f"{series}{instance}/metadata", _metadata(service), metadata_ok, "an instance's metadata", at_instance),
        get(f"{series}{instance}/frames/{{frames}}", _frames(service), pixels, "frames", [*at_instance, frames]),
        get(f"{series}{instance}/bulk/{{tag}}", _bulk(service), pixels, "bulk data", [*at_instance, tag]),
    ]
