"""The care application's HTTP API (JSON, and PDF for documents): the clinicians' endpoints.

Every answer carries ``X-Care-Mode`` and, in downtime mode, ``X-Snapshot-As-Of`` (see
:class:`~.downtime.Stamp`); every JSON body carries ``mode`` and ``as_of`` (the snapshot's time
in downtime, else null). Errors are ``{"error", "detail", "mode", "as_of", ...}``.

Screens (sources and stamps: :mod:`.views`):

* ``GET /wards`` -- ``{"wards": [{"ward", "patients"}], "source"}``.
* ``GET /wards/{ward}/patients`` -- ``{"patients": [demographics], "source"}``.
* ``GET /patients/{id}/chart`` -- the chart (sections, ``results_complete``,
  ``not_available_after``, ``queued_orders``).
* ``GET /wards/{ward}/schedule`` and ``GET /wards/{ward}/schedule/diff`` (:mod:`.schedule`).
* ``GET /patients/{id}/documents/mar.pdf`` | ``prescriptions.pdf``, ``GET
  /wards/{ward}/documents/schedule.pdf`` -- ``application/pdf`` (:mod:`.documents`);
  ``X-Document-As-Of`` is the data time printed on every page. 503 ``printer-failure`` (with
  ``document``) when the renderer fails.

Writes:

* ``POST /patients/{id}/orders`` (body: :mod:`.orders`). Normal mode: created in the EHR
  (conditional on the order key) -> 201 ``{"status": "created", "order_id", "resource":
  "MedicationRequest/<id>", "authored"}`` (200 ``"existed"`` for a repeated key). Downtime mode
  (or a patient registered during downtime and not reconciled yet): queued -> 202
  ``{"status": "queued", "downtime_id", "order_id", "authored", "patient", "patient_verified",
  "queue_depth"}`` (200 with the first entry for a repeated key). 507 ``downtime-queue-full``
  with ``capacity``; 503 ``ehr-unavailable`` (normal mode, EHR failing: the order was NOT
  recorded, retry with the same order_id); 502 ``ehr-rejected`` (the EHR refused it).
* ``POST /patients`` (registration): 201 ``{"status": "created", "patient_id"}`` or 202
  ``{"status": "queued", "patient_id": <downtime patient id>, "downtime_id"}``.

Bad requests: 400 ``invalid-patient-id`` / ``invalid-json`` (strict JSON: no NaN, no lone
surrogate, at most 100 deep -- :mod:`mock_services.common.jsonbody`; the EHR and the queue could
store none of them) / ``invalid-request`` (the field named), 413 ``body-too-large``, 415
``unsupported-media-type``. The OpenAPI description: :meth:`CareApi.operations`.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mock_services.care import documents, views
from mock_services.care.context import Care
from mock_services.care.dependencies import DependencyError, Unavailable
from mock_services.care.description import care_error, pdf
from mock_services.care.identifiers import ORDER_SYSTEM, REGISTRATION_SYSTEM, token, valid_id
from mock_services.care.orders import InvalidRequest, Order, parse_order, parse_registration
from mock_services.care.queue import RECONCILED, QueueFull
from mock_services.care.views import ScreenError
from mock_services.common import jsonbody, openapi
from mock_services.common.eventlog import log_event
from mock_services.common.openapi import Operation, path_param, ref, response

MAX_BODY_BYTES = 64 * 1024
Handler = Callable[[Request], Awaitable[Response]]


def respond(care: Care, body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    stamp = care.controller.stamp()
    payload = {**stamp.fields(), **body}
    return JSONResponse(payload, status_code=status, headers={**stamp.headers(), **(headers or {})})


def fail(care: Care, status: int, error: str, detail: str, **extra: Any) -> Response:
    headers = {"Retry-After": "5"} if status == 503 else None
    return respond(care, {"error": error, "detail": detail, **extra}, status, headers)


async def json_body(request: Request) -> Any:
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise ScreenError(415, "unsupported-media-type", f"Content-Type must be application/json, got {content_type!r}")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise ScreenError(413, "body-too-large", f"the body is larger than {MAX_BODY_BYTES} bytes")
    try:
        return jsonbody.loads(body)
    except jsonbody.InvalidJson as invalid:
        raise ScreenError(400, "invalid-json", f"the body is not valid JSON: {invalid}") from None


def patient_param(request: Request) -> str:
    patient_id = str(request.path_params["patient_id"])
    if not valid_id(patient_id):
        raise ScreenError(400, "invalid-patient-id", f"{patient_id!r} is not a patient id ([A-Za-z0-9-.]{{1,64}})")
    return patient_id


class CareApi:
    def __init__(self, care: Care) -> None:
        self.care = care

    def operations(self) -> list[Operation]:
        """The clinical endpoints and their OpenAPI description (:mod:`.description`)."""
        ward = path_param("ward", {"type": "string"}, "a ward (an Encounter's serviceProvider)")
        patient = path_param("patient_id", {"type": "string"}, "a patient id ([A-Za-z0-9-.]{1,64})")
        ehr_down = {502: care_error("ehr-bad-answer"),
                    503: care_error("ehr-unavailable, or downtime without a usable snapshot")}  # fmt: skip
        bad_id, missing = care_error("invalid-patient-id"), care_error("patient-not-found / -not-in-snapshot")
        documents_ = {200: pdf("the document, the patient on every page"), 400: bad_id, 404: missing, **ehr_down}
        writes = {
            201: response("created in the EHR", ref("Created")),
            200: response("the same key again: the first answer (created, queued or reconciled)",
                          {"oneOf": [ref("Created"), ref("Queued")]}),
            202: response("queued in downtime (a downtime id from the reserved range)", ref("Queued")),
            400: care_error("invalid-json / invalid-request (the field is named)"),
            413: care_error("body-too-large"), 415: care_error("unsupported-media-type"),
            502: care_error("ehr-rejected"), 503: care_error("ehr-unavailable: NOT recorded, retry with the key"),
            507: care_error("downtime-queue-full"),
        }  # fmt: skip
        schedule = {503: care_error("schedule-unavailable"), 404: care_error("ward-not-in-snapshot")}
        return [
            Operation("GET", "/wards", self._wrap(self.wards), "the wards and their patient counts",
                      {200: response("the census", ref("Wards")), **ehr_down}),
            Operation("GET", "/wards/{ward}/patients", self._wrap(self.ward_patients), "a ward's patients",
                      {200: response("the patients", ref("WardPatients")), 404: care_error("ward-not-in-snapshot"),
                       **ehr_down}, [ward]),
            Operation("GET", "/wards/{ward}/schedule", self._wrap(self.schedule), "the ward's rota and bookings",
                      {200: response("live, or the snapshot's copy", ref("WardSchedule")), **schedule, **ehr_down},
                      [ward]),
            Operation("GET", "/wards/{ward}/schedule/diff", self._wrap(self.schedule_diff),
                      "what changed in the schedules since the (downtime) snapshot",
                      {200: response("the changes", ref("ScheduleDiff")), 409: care_error("no-schedule-baseline"),
                       **schedule, **ehr_down}, [ward]),
            Operation("GET", "/wards/{ward}/documents/schedule.pdf", self._wrap(self.schedule_pdf),
                      "the ward's schedule, printable", {200: pdf("the schedule"), **schedule, **ehr_down}, [ward]),
            Operation("POST", "/patients", self._wrap(self.register), "register a patient (queued in downtime)",
                      writes, body=openapi.json_body(ref("RegistrationRequest"))),
            Operation("GET", "/patients/{patient_id}/chart", self._wrap(self.chart), "the patient's chart",
                      {200: response("the chart, live or from the snapshot", ref("Chart")), 400: bad_id,
                       404: missing, **ehr_down}, [patient]),
            Operation("POST", "/patients/{patient_id}/orders", self._wrap(self.order),
                      "order a medication, lab or imaging exam (queued in downtime)",
                      {**writes, 400: care_error("invalid-patient-id / invalid-json / invalid-request"),
                       404: missing}, [patient], openapi.json_body(ref("OrderRequest"))),
            Operation("GET", "/patients/{patient_id}/documents/{document}", self._wrap(self.patient_pdf),
                      "the MAR or the prescriptions, printable",
                      {**documents_, 404: care_error("no such document, or patient-not-found")},
                      [patient, path_param("document", {"type": "string", "enum": ["mar.pdf", "prescriptions.pdf"]})]),
        ]  # fmt: skip

    def _wrap(self, handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            try:
                return await handler(request)
            except ScreenError as error:
                return fail(self.care, error.status, error.error, error.detail, **error.extra)
            except InvalidRequest as error:
                return fail(self.care, 400, "invalid-request", str(error))

        return endpoint

    # -- screens ------------------------------------------------------------------------------

    async def wards(self, request: Request) -> Response:
        return respond(self.care, await views.wards(self.care))

    async def ward_patients(self, request: Request) -> Response:
        return respond(self.care, await views.ward_patients(self.care, request.path_params["ward"]))

    async def chart(self, request: Request) -> Response:
        return respond(self.care, await views.chart(self.care, patient_param(request)))

    async def schedule(self, request: Request) -> Response:
        return respond(self.care, await views.ward_schedule(self.care, request.path_params["ward"]))

    async def schedule_diff(self, request: Request) -> Response:
        return respond(self.care, await views.schedule_diff(self.care, request.path_params["ward"]))

    # -- documents ----------------------------------------------------------------------------

    def _pdf(self, document: documents.Document, filename: str) -> Response:
        try:
            data = self.care.printer.print(document)
        except documents.PrinterFailure as failure:
            log_event("printer-failure", level=logging.WARNING, document=document.name, subject=document.subject,
                      detail=str(failure))  # fmt: skip
            return fail(self.care, 503, "printer-failure", str(failure), document=document.name)
        headers = {**self.care.controller.stamp().headers(), "X-Document-As-Of": repr(document.as_of),
                   "Content-Disposition": f'inline; filename="{filename}"'}  # fmt: skip
        return Response(data, media_type="application/pdf", headers=headers)

    def _data_time(self, source: str | None, snapshot_as_of: float | None) -> tuple[float, bool]:
        """(the time printed on the document, whether it is downtime data)."""
        if source == "snapshot" and snapshot_as_of is not None:
            return snapshot_as_of, True
        return time.time(), self.care.downtime

    async def patient_pdf(self, request: Request) -> Response:
        name = request.path_params["document"]
        builders = {"mar.pdf": documents.mar, "prescriptions.pdf": documents.prescriptions}
        if name not in builders:
            raise ScreenError(404, "not-found", f"no document {name!r} (mar.pdf, prescriptions.pdf)")
        shown = await views.chart(self.care, patient_param(request))
        as_of, downtime = self._data_time(shown["source"], shown.get("not_available_after"))
        document = builders[name](shown, shown["queued_orders"], as_of, downtime)
        return self._pdf(document, f"{shown['patient_id']}-{name}")

    async def schedule_pdf(self, request: Request) -> Response:
        ward = request.path_params["ward"]
        shown = await views.ward_schedule(self.care, ward)
        as_of, downtime = self._data_time(shown["source"], shown.get("snapshot_as_of"))
        return self._pdf(documents.ward_schedule(ward, shown, as_of, downtime), "schedule.pdf")

    # -- writes -------------------------------------------------------------------------------

    async def _create_live(self, order: Order, key_system: str) -> Response | None:
        """Create in the EHR; None when the EHR failed and downtime mode took over (queue it)."""
        care, ehr = self.care, self.care.deps.get("ehr")
        if ehr is None:
            raise ScreenError(503, "ehr-not-configured", "no EHR is configured (--ehr-url): nothing can be recorded")
        condition = urlencode({"identifier": token(key_system, order.key)})
        try:
            status, stored = await ehr.fhir_create(order.resource, condition)
        except Unavailable as error:
            if care.downtime:
                return None
            care.requests.labels(order.kind, "ehr-unavailable").inc()
            hint = "" if care.config.downtime_mode else " (downtime mode is off on this workstation)"
            raise ScreenError(503, "ehr-unavailable", f"NOT recorded: {error}{hint}; retry with the same key") from None
        except DependencyError as error:
            care.requests.labels(order.kind, "ehr-rejected").inc()
            raise ScreenError(502, "ehr-rejected", f"the EHR refused the {order.kind}: {error}") from None
        care.requests.labels(order.kind, "created" if status == 201 else "existed").inc()
        body = {"status": "created" if status == 201 else "existed", "authored": order.authored,
                "resource": f"{stored.get('resourceType')}/{stored['id']}"}  # fmt: skip
        if order.kind == "registration":
            return respond(care, {**body, "patient_id": stored["id"], "registration_id": order.key}, status)
        return respond(care, {**body, "order_id": order.key}, status)

    def _enqueue(self, order: Order, patient: str, verified: bool) -> Response:
        care = self.care
        snapshot = care.snapshots.current
        try:
            entry, new = care.queue.enqueue(order.kind, patient, order.resource, order.authored, order.key,
                                            None if snapshot is None else snapshot.as_of)  # fmt: skip
        except QueueFull as full:
            care.requests.labels(order.kind, "queue-full").inc()
            log_event("queue-full", level=logging.WARNING, capacity=full.capacity)
            return fail(care, 507, "downtime-queue-full", str(full), capacity=full.capacity)
        except sqlite3.Error as error:
            care.requests.labels(order.kind, "queue-error").inc()
            return fail(care, 503, "downtime-queue-unavailable", f"NOT recorded: the local queue failed: {error}")
        care.requests.labels(order.kind, "queued" if new else "queued-repeat").inc()
        body: dict[str, Any] = {"status": "queued" if entry.state != RECONCILED else "reconciled",
                "downtime_id": entry.downtime_id,
                "authored": entry.authored, "patient": entry.patient, "patient_verified": verified,
                "queue_depth": care.queue.depth(), "entry": entry.to_json()}  # fmt: skip
        key_field = "registration_id" if order.kind == "registration" else "order_id"
        body[key_field] = entry.client_key
        if order.kind == "registration":
            body["patient_id"] = entry.downtime_id
        return respond(care, body, 202 if new else 200)

    async def order(self, request: Request) -> Response:
        patient_id = patient_param(request)
        body = await json_body(request)
        target, registration = views.resolve(self.care, patient_id)
        order = parse_order(body, target)
        pending_registration = registration is not None and registration.state != RECONCILED
        if not self.care.downtime and not pending_registration:
            created = await self._create_live(order, ORDER_SYSTEM)
            if created is not None:
                return created
        snapshot = self.care.snapshots.current
        verified = pending_registration or (snapshot is not None and snapshot.patient(target) is not None)
        return self._enqueue(order, target, verified)

    async def register(self, request: Request) -> Response:
        registration = parse_registration(await json_body(request))
        if not self.care.downtime:
            created = await self._create_live(registration, REGISTRATION_SYSTEM)
            if created is not None:
                return created
        return self._enqueue(registration, "", True)
