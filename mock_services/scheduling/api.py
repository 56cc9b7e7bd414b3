"""The schedules' HTTP API (JSON), with HTTP optimistic concurrency.

* ``GET /schedules?kind=&unit=&date=`` -- 200 list of summaries ``{id, kind, unit, date,
  version, last_modified, slot_count}`` ordered by date, kind, unit. 400 naming an unknown
  parameter, a kind other than staff/or/scanner, or a date not ``YYYY-MM-DD``.
* ``GET /schedules/{id}`` -- 200 the summary plus ``slots``; headers ``ETag: W/"<version>"``
  and ``Last-Modified`` (HTTP date). ``If-None-Match`` with the current ETag: 304. 404.
* ``PUT /schedules/{id}`` -- body ``{"slots": [...]}``; requires ``If-Match`` with the current
  version (428 without it, 412 with another one -- the answer carries the current ETag); the
  slots are replaced, ``version`` + 1, ``last_modified`` = now; 200 with the new document.
* ``POST /schedules/{id}/slots`` -- body one slot; appended; ``version`` + 1; 201 with the new
  document. ``If-Match`` optional (checked when sent: 412).
* ``GET /schedules/changes?since=<ISO 8601>`` -- 200 ``{"since", "until", "schedules": [full
  documents modified strictly after since, oldest first]}``; ``until`` is the time of the
  store's latest write, the ``since`` of the next poll (the degraded-mode schedule diff).

Errors: ``{"error", "detail"}`` -- 400 (bad JSON, field named; strict JSON: no NaN, no lone
surrogate, at most 100 deep -- :mod:`mock_services.common.jsonbody`), 404, 409 (slot
conflict), 412, 413 (body over 1 MiB), 415 (a body that is not JSON), 428. Slot rules:
:mod:`.validation`. :meth:`SchedulesApi.operations` is also the OpenAPI description of these
endpoints (:mod:`mock_services.common.openapi`), so the document cannot drift from the routes.
"""

from __future__ import annotations

from email.utils import format_datetime
from typing import Any

from prometheus_client import Counter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mock_services.common import jsonbody
from mock_services.common.openapi import Json, Operation, error, header, json_body, path_param, query, ref, response
from mock_services.common.service import Metrics, json_error
from mock_services.scheduling.store import NotFound, Schedule, Store, VersionMismatch, format_time, parse_time
from mock_services.scheduling.validation import (
    KINDS,
    MAX_SLOTS,
    ApiError,
    check_slots,
    if_match_version,
    list_filters,
    put_slots,
)

MAX_BODY_BYTES = 1024 * 1024


def etag(schedule: Schedule) -> str:
    return f'W/"{schedule.version}"'


def _document(schedule: Schedule, status: int = 200) -> Response:
    headers = {
        "ETag": etag(schedule),
        "Last-Modified": format_datetime(parse_time(schedule.last_modified), usegmt=True),
    }
    return JSONResponse(schedule.document(), status_code=status, headers=headers)


async def _json_body(request: Request) -> Any:
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise ApiError(415, "unsupported-media-type", f"Content-Type must be application/json, got {content_type!r}")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise ApiError(413, "body-too-large", f"the body is larger than {MAX_BODY_BYTES} bytes")
    try:
        return jsonbody.loads(body)
    except jsonbody.InvalidJson as invalid:
        raise ApiError(400, "invalid-json", f"the body is not valid JSON: {invalid}") from None


class SchedulesApi:
    """The endpoints above over one :class:`Store`."""

    def __init__(self, store: Store, metrics: Metrics) -> None:
        self.store = store
        self.writes = Counter(
            "schedule_writes_total", "Schedule writes by operation and outcome", ["operation", "outcome"],
            registry=metrics.registry,
        )  # fmt: skip

    def operations(self) -> list[Operation]:
        """The endpoints and their OpenAPI description."""
        schedule_id = path_param("id", {"type": "string"}, "a schedule id")
        if_match = header("If-Match", {"type": "string"}, 'W/"<version>", "<version>", <version> or *')
        bad, missing = error("invalid body, header or parameter (named)"), error("no such schedule")
        writes = {
            400: bad, 404: missing, 409: error("slot conflict"), 412: error("If-Match is not the current version"),
            413: error("body over 1 MiB"), 415: error("the body is not JSON"),
        }  # fmt: skip
        validators = {"ETag": {"type": "string"}, "Last-Modified": {"type": "string"}}
        return [
            Operation("GET", "/schedules", self._wrap(self.find), "list schedules (summaries)",
                      {200: response("summaries by date, kind, unit", {"type": "array", "items": ref("Summary")}),
                       400: bad},
                      [query("kind", {"type": "string", "enum": list(KINDS)}), query("unit", {"type": "string"}),
                       query("date", {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"}, "YYYY-MM-DD")]),
            Operation("GET", "/schedules/changes", self._wrap(self.changes), "schedules modified after since",
                      {200: response("the changed documents and the next since", ref("Changes")), 400: bad},
                      [query("since", {"type": "string", "format": "date-time"}, "ISO 8601", required=True,
                             example="2024-08-03T00:00:00Z")]),
            Operation("GET", "/schedules/{id}", self._wrap(self.read), "one schedule with its slots",
                      {200: response("the schedule", ref("Schedule"), headers=validators),
                       304: response("If-None-Match is the current ETag"), 404: missing},
                      [schedule_id, header("If-None-Match", {"type": "string"})]),
            Operation("PUT", "/schedules/{id}", self._wrap(self.replace), "replace the slots (If-Match required)",
                      {200: response("the new version", ref("Schedule"), headers=validators), **writes,
                       428: error("no If-Match")},
                      [schedule_id, if_match], json_body(ref("Replacement"))),
            Operation("POST", "/schedules/{id}/slots", self._wrap(self.append), "append one slot",
                      {201: response("the new version", ref("Schedule"), headers=validators), **writes},
                      [schedule_id, if_match], json_body(ref("Slot"))),
        ]  # fmt: skip

    def _wrap(self, handler: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            try:
                response: Response = await handler(request)
                return response
            except ApiError as error:
                response = json_error(error.status, error.error, error.detail)
                response.headers.update(error.headers)
                return response
            except NotFound as error:
                return json_error(404, "not-found", f"no schedule {str(error)!r}")

        return endpoint

    async def find(self, request: Request) -> Response:
        filters = list_filters(dict(request.query_params))
        return JSONResponse([s.summary() for s in self.store.find(**filters)])

    async def changes(self, request: Request) -> Response:
        unknown = sorted(set(request.query_params) - {"since"})
        if unknown:
            raise ApiError(400, "invalid-parameter", f"unknown query parameter {unknown[0]!r} (since)")
        text = request.query_params.get("since")
        if not text:
            raise ApiError(400, "invalid-parameter", "since is required: an ISO 8601 date-time")
        try:
            since = parse_time(text)
        except ValueError:
            raise ApiError(400, "invalid-parameter", f"since is not an ISO 8601 date-time: {text!r}") from None
        changed = self.store.changed_since(since)
        until = self.store.latest_write() or format_time(since)
        return JSONResponse({"since": format_time(since), "until": until, "schedules": [s.document() for s in changed]})

    async def read(self, request: Request) -> Response:
        schedule = self.store.get(request.path_params["id"])
        if request.headers.get("if-none-match", "").strip() in (etag(schedule), f'"{schedule.version}"'):
            return Response(status_code=304, headers={"ETag": etag(schedule)})
        return _document(schedule)

    def _write(self, operation: str, schedule_id: str, slots: list[dict[str, Any]], expected: int | None) -> Schedule:
        try:
            updated = self.store.update_slots(schedule_id, slots, expected)
        except VersionMismatch as error:
            self.writes.labels(operation, "version-mismatch").inc()
            detail = f"If-Match asks for version {expected}, the current version is {error.current}"
            headers = {"ETag": f'W/"{error.current}"'}
            raise ApiError(412, "version-mismatch", detail, headers) from None
        self.writes.labels(operation, "ok").inc()
        return updated

    async def replace(self, request: Request) -> Response:
        self.store.get(request.path_params["id"])
        expected = if_match_version(request.headers.get("if-match"), required=True)
        body = await _json_body(request)
        schedule = self.store.get(request.path_params["id"])  # after the last await (see append)
        slots = put_slots(body, schedule.document())
        check_slots(schedule.kind, slots)
        return _document(self._write("put", schedule.id, slots, expected))

    async def append(self, request: Request) -> Response:
        self.store.get(request.path_params["id"])  # 404 before looking at the body
        expected = if_match_version(request.headers.get("if-match"), required=False)
        slot = await _json_body(request)
        # No await from here to the write: nothing can interleave, so appending to the version
        # just read is atomic even without If-Match.
        schedule = self.store.get(request.path_params["id"])
        slots = [*schedule.slots, slot]
        check_slots(schedule.kind, slots, new_index=len(slots) - 1)
        version = schedule.version if expected is None else expected
        return _document(self._write("append", schedule.id, slots, version), 201)


_SLOT: Json = {
    "type": "object",
    "required": ["start", "end"],
    "description": "start < end, at most 24 h; or/scanner slots may not overlap, staff shifts not repeat",
    "properties": {
        "start": {"type": "string", "format": "date-time"},
        "end": {"type": "string", "format": "date-time"},
        "patient": {"type": "string", "pattern": r"^Patient/[A-Za-z0-9\-.]{1,64}$"},
        "procedure": {"type": "string"},
        "shift": {"type": "string"},
        "staff": {
            "type": "array",
            "items": {"type": "object", "required": ["name", "role"],
                      "properties": {"name": {"type": "string"}, "role": {"type": "string"}}},
        },
    },
    "additionalProperties": True,
}  # fmt: skip
_SUMMARY: Json = {
    "id": {"type": "string"},
    "kind": {"type": "string", "enum": list(KINDS)},
    "unit": {"type": "string"},
    "date": {"type": "string"},
    "version": {"type": "integer", "minimum": 1},
    "last_modified": {"type": "string"},
    "slot_count": {"type": "integer", "minimum": 0},
}
SCHEMAS: dict[str, Json] = {
    "Slot": _SLOT,
    "Summary": {"type": "object", "required": list(_SUMMARY), "properties": _SUMMARY},
    "Schedule": {
        "type": "object",
        "required": [*_SUMMARY, "slots"],
        "properties": {**_SUMMARY, "slots": {"type": "array", "items": {"type": "object"}}},
    },
    "Replacement": {
        "type": "object",
        "required": ["slots"],
        "description": "id, kind, unit and date may be repeated, unchanged; version & co are ignored",
        "properties": {"slots": {"type": "array", "maxItems": MAX_SLOTS, "items": ref("Slot")},
                       **{name: _SUMMARY[name] for name in ("id", "kind", "unit", "date")}},
    },
    "Changes": {
        "type": "object",
        "required": ["since", "until", "schedules"],
        "properties": {"since": {"type": "string"}, "until": {"type": "string"},
                       "schedules": {"type": "array", "items": ref("Schedule")}},
    },
}
