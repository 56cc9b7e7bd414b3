"""STOW-RS (PS3.18 10.5): store instances; and the replica's replication intake.

``POST /studies`` and ``POST /studies/{study}`` take ``multipart/related;
type="application/dicom"``, one Part 10 file per part. Answers (PS3.18 Table 10.5.3-1):

* 200 -- every instance stored; 202 -- some stored, some failed; none stored: 400 when no
  part was readable DICOM (every failure ``C000``: "bad syntax"), else 409 (each failure in
  the Failed SOP Sequence with its Failure Reason, see :mod:`.part10`; an instance outside
  the URL's study fails with ``A901``). Body: the Store Instances Response Module as
  ``application/dicom+json`` (:func:`.dicomjson.store_response`): Retrieve URL always (type
  2: empty when the instances stored span several studies or none), the Failed and
  Referenced SOP Sequences only when they have items (type 1C: PS3.5 7.4.4 says a 1C
  element whose condition is not met is not included -- Orthanc sends them empty).
* 400 -- a body that is not a readable multipart message, or has no parts; 415 -- another
  Content-Type, or parts of another type (``application/dicom+json`` + bulk data STOW is
  not supported); 406 -- an Accept that excludes DICOM JSON.
* Re-storing an identical instance (same SOP Instance UID, same bytes) succeeds again
  without a second copy -- a client retrying after a lost answer must not fail; different
  bytes under a stored SOP Instance UID fail with ``0111`` (duplicate SOP instance).

Nothing of a failed instance reaches the disk or the index (see :mod:`.store` for the order
of writes and what a SIGKILL leaves).

Roles: only the archive accepts STOW from clients. A replica answers 503 (with
``Retry-After``): modalities and clients treat 503 as "archive unavailable, queue and retry
later", which is the downtime behaviour we want to exercise when the front door sends a write
to dc-b; a 4xx would make them reject the images instead. The replica stores what the
archive ships through ``POST /_replication/instances`` -- the same parsing, validation and
response, without queueing anything further; an archive answers 403 there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
from starlette.requests import Request
from starlette.responses import Response

from mock_services.common.openapi import Operation
from mock_services.imaging import api, multipart
from mock_services.imaging.config import Role
from mock_services.imaging.dicomjson import store_response
from mock_services.imaging.mediatypes import MediaTypeError, parse_media_type
from mock_services.imaging.part10 import FailureReason, InstanceAttrs, InvalidInstance, parse_part10
from mock_services.imaging.qido_api import retrieve_url
from mock_services.imaging.replication import REPLICATION_PATH
from mock_services.imaging.responses import Problem, json_response, require_json_accepted
from mock_services.imaging.service import Service
from mock_services.imaging.store import Outcome, Source, StoreResult

DICOM = "application/dicom"
REPLICA_RETRY_AFTER = "30"


async def _parts(request: Request) -> list[multipart.Part]:
    raw_type = request.headers.get("content-type")
    if not raw_type:
        raise Problem(415, f'no Content-Type: expected multipart/related; type="{DICOM}"')
    try:
        media_type = parse_media_type(raw_type)
    except MediaTypeError as error:
        raise Problem(415, str(error)) from None
    part_type = media_type.param("type")
    if media_type.essence != "multipart/related" or (part_type is not None and part_type.lower() != DICOM):
        raise Problem(415, f'Content-Type {raw_type!r} is not supported: expected multipart/related; type="{DICOM}"')
    boundary = media_type.param("boundary")
    if not boundary:
        raise Problem(400, f"Content-Type {raw_type!r} has no boundary parameter")
    try:
        parts = multipart.decode(await request.body(), boundary)
    except multipart.MultipartError as error:
        raise Problem(400, f"unreadable multipart body: {error}") from None
    if not parts:
        raise Problem(400, "the multipart body has no parts: nothing to store")
    return parts


def _check(part: multipart.Part, number: int, url_study: str | None) -> InstanceAttrs:
    declared = part.content_type
    if declared is not None:
        try:
            essence = parse_media_type(declared).essence
        except MediaTypeError:
            essence = declared
        if essence != DICOM:
            raise InvalidInstance(FailureReason.CANNOT_UNDERSTAND, f"part {number} is {declared!r}, not {DICOM}")
    attrs = parse_part10(part.content)
    if url_study is not None and attrs.study_uid != url_study:
        raise InvalidInstance(
            FailureReason.STUDY_UID_MISMATCH,
            f"instance is in study {attrs.study_uid}, not {url_study} named by the URL",
            attrs.sop_class_uid,
            attrs.sop_uid,
        )
    return attrs


async def store_request(service: Service, request: Request, source: Source) -> Response:
    """Parse, validate and store a STOW-RS request; answer with a Store Instances Response."""
    require_json_accepted(request)
    parts = await _parts(request)
    url_study = request.path_params.get("study")
    failed: list[tuple[str | None, str | None, int]] = []
    valid: list[tuple[InstanceAttrs, bytes]] = []

    def parse_and_store() -> list[StoreResult]:
        for number, part in enumerate(parts, start=1):
            try:
                valid.append((_check(part, number, url_study), part.content))
            except InvalidInstance as error:
                failed.append((error.sop_class_uid, error.sop_uid, int(error.reason)))
        return service.store.store_batch(valid, source, queue_for_replica=source is Source.STOW)

    # In a worker thread: parsing a large request takes a while, and /health, searches and
    # retrieves must keep answering meanwhile. The store's lock makes its check-then-insert
    # atomic, so concurrent STOWs of the same instance still store it once.
    results = await anyio.to_thread.run_sync(parse_and_store)
    base = str(request.base_url).rstrip("/")
    stored = []
    for result in results:
        a = result.attrs
        if result.outcome is Outcome.FAILED:
            failed.append((a.sop_class_uid, a.sop_uid, int(result.reason or FailureReason.PROCESSING_FAILURE)))
        else:
            uids = {"StudyInstanceUID": a.study_uid, "SeriesInstanceUID": a.series_uid, "SOPInstanceUID": a.sop_uid}
            stored.append((a.sop_class_uid, a.sop_uid, retrieve_url(base, uids)))
    service.stored(source, sum(1 for r in results if r.outcome is Outcome.STORED))
    for _, _, reason in failed:
        service.metrics.failures.labels(f"{reason:04X}").inc()
    studies = {r.attrs.study_uid for r in results if r.outcome is not Outcome.FAILED}
    study = url_study or (studies.pop() if len(studies) == 1 else None)
    study_url = f"{base}/studies/{study}" if study else None
    return json_response(store_response(stored, failed, study_url), status=_status(stored, failed))


def _status(stored: list[tuple[str, str, str]], failed: list[tuple[str | None, str | None, int]]) -> int:
    """PS3.18 Table 10.5.3-1: 200 all stored; 202 some; none stored: 400 when no part was
    readable DICOM ("bad syntax"), else 409 (a conflict, or a mixture of reasons)."""
    if not failed:
        return 200
    if stored:
        return 202
    return 400 if all(reason == FailureReason.CANNOT_UNDERSTAND for _, _, reason in failed) else 409


def _client_stow(service: Service) -> Callable[[Request], Awaitable[Response]]:
    async def handler(request: Request) -> Response:
        if not service.writable:
            raise Problem(
                503,
                f"{service.config.name} is a read-only replica: store new images on the archive",
                headers={"retry-after": REPLICA_RETRY_AFTER},
            )
        return await store_request(service, request, Source.STOW)

    return handler


def _replication_intake(service: Service) -> Callable[[Request], Awaitable[Response]]:
    async def handler(request: Request) -> Response:
        if service.config.role is not Role.REPLICA:
            raise Problem(403, f"{service.config.name} is an archive: it does not take replication traffic")
        return await store_request(service, request, Source.REPLICATION)

    return handler


_BODY = {
    "required": True,
    "description": 'multipart/related; type="application/dicom"; boundary=...: one Part 10 file per part',
    "content": {"multipart/related": {"schema": api.BINARY}},
}
_ANSWERS = {
    200: api.store_response("every instance stored (or already stored, identical)"),
    202: api.store_response("some instances stored, the others in the Failed SOP Sequence"),
    400: api.store_response("an unreadable multipart body (an error), or no part was readable DICOM (a Store "
                            "Instances Response listing each)", or_error=True),
    406: api.NOT_ACCEPTABLE,
    409: api.store_response("no instance stored: each failure in the Failed SOP Sequence"),
    413: api.error("a request body over the size limit"),
    415: api.error('a Content-Type other than multipart/related; type="application/dicom"'),
}


def stow_operations(service: Service) -> list[Operation]:
    stow = _client_stow(service)
    client = {**_ANSWERS, 503: api.error("a read-only replica: store on the archive (Retry-After)")}
    intake = {**_ANSWERS, 403: api.error("an archive: it takes no replication traffic")}
    tags = ("STOW-RS",)
    return [
        Operation("POST", "/studies", stow, "STOW-RS: store instances", client, body=_BODY, tags=tags),
        Operation("POST", "/studies/{study}", stow, "STOW-RS: store instances of one study", client,
                  parameters=[api.STUDY], body=_BODY, tags=tags),
        Operation("POST", REPLICATION_PATH, _replication_intake(service), "replication intake (replica only)",
                  intake, body=_BODY, tags=("replication",)),
    ]
