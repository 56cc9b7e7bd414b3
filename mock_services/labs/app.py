"""The lab results portal's Starlette application: JSON API, HTML pages, /health, /metrics.

Endpoints:

* ``GET /patients/{patient_id}/results`` -- 200 JSON list of result documents (see
  :mod:`.results`), ``[]`` only when the EHR really has no LAB report for the patient.
* ``GET /patients/{patient_id}/results/{report_id}`` -- one document, 404 ``report-not-found``.
* ``GET /`` -- the patient-id form; ``GET /patients?id=X`` redirects (303) to
  ``/patients/X``, the HTML results page.
* ``GET /health`` -- 200 ``{"status": "ok", "name", "datacenter", "role": "active", "ehr"}``,
  ``ehr`` being the last seen EHR state (``unknown`` | ``reachable`` | ``unreachable``).
* ``GET /metrics`` -- Prometheus text: requests by route/method/status, latency, and
  ``labs_ehr_fetches_total{outcome}``.
* ``GET /openapi.json`` -- the OpenAPI document, built from the same table as the routes.

Errors (JSON ``{"error", "detail"}``; the HTML pages show the same as a page): 400
``invalid-patient-id`` (not a FHIR id: ``[A-Za-z0-9-.]{1,64}``); 404 ``patient-not-found``;
503 ``ehr-unavailable`` with ``Retry-After`` when the EHR is unreachable, times out or answers
5xx -- an outage is never shown as "no results"; 502 ``ehr-bad-answer`` when the EHR answers
but not as FHIR says.

Caching (``cache_ttl`` > 0): a patient's results are reused for that many seconds (at most
``CACHE_ENTRIES`` patients, oldest evicted); within the TTL an outage is not noticed. With
the default 0 every request reads the EHR.

Memory (what a soak sees): with the default ``cache_ttl`` 0 the portal keeps nothing per
request or per patient; a cache holds at most ``CACHE_ENTRIES`` compact strings. What a request
does allocate, and frees, is proportional to the patient's lab data: every report and
observation of the patient is read from the EHR, parsed and shaped for every request. So the
process's RSS follows the largest patients' data times the requests in flight, and stays at
its high-water mark. Measured: in-process over a fake EHR, 0 bytes of RSS per request over
8 000 requests at fixed data, and flat again at fixed data after the data grew; under the
flagship's load the largest patient reaches ~120 KB of lab JSON after 10 minutes (10 new
reports a patient), and the RSS of the active instance rises by ~5 MB meanwhile.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
from prometheus_client import Counter
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from mock_services.common import openapi
from mock_services.common.eventlog import log_event
from mock_services.common.openapi import Json, Operation, error, path_param, prometheus_metrics, query, ref, response
from mock_services.common.service import Metrics, ServiceMiddleware, http_exception_handler, json_error
from mock_services.labs import pages
from mock_services.labs.config import Config
from mock_services.labs.ehr_client import EhrBadAnswer, EhrClient, EhrError, EhrUnavailable
from mock_services.labs.results import lab_results, patient_summary

FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
CACHE_ENTRIES = 10_000
RETRY_AFTER_SECONDS = "5"


def _error_of(error: EhrError) -> tuple[int, str, str]:
    """(status, error word, detail) for an EHR failure."""
    if isinstance(error, EhrUnavailable):
        detail = f"the EHR is unavailable, lab results cannot be shown (this is not an empty result): {error}"
        return 503, "ehr-unavailable", detail
    if isinstance(error, EhrBadAnswer):
        return 502, "ehr-bad-answer", f"the EHR answered unexpectedly: {error}"
    return 404, "patient-not-found", str(error)


@dataclass(frozen=True)
class PatientResults:
    """What the portal shows for one patient: a summary (name, birth date) and result documents."""

    patient: dict[str, Any]
    results: list[dict[str, Any]]


class Portal:
    """Fetching (and optionally caching) patients' lab results; tracks the EHR's reachability.

    The cache keeps each patient's shaped results as one compact JSON string (~4 KB) rather
    than the EHR's parsed resources (~60 KB of Python objects), so a full cache of
    ``CACHE_ENTRIES`` patients stays well under the 200 MB budget.
    """

    def __init__(self, config: Config, client: EhrClient) -> None:
        self.config = config
        self.client = client
        self.ehr_state = "unknown"
        self.cache: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self.metrics = Metrics()
        self.fetches = Counter(
            "labs_ehr_fetches_total", "Patient fetches from the EHR by outcome", ["outcome"],
            registry=self.metrics.registry,
        )  # fmt: skip

    def _seen(self, state: str, detail: str = "") -> None:
        if state != self.ehr_state:
            level = logging.WARNING if state == "unreachable" else logging.INFO
            log_event(f"ehr-{state}", level=level, url=self.config.ehr_base, detail=detail)
            self.ehr_state = state

    async def results(self, patient_id: str) -> PatientResults:
        """The patient's results (cached within the TTL); raises :class:`EhrError`."""
        now = time.monotonic()
        cached = self.cache.get(patient_id)
        if cached is not None and cached[0] > now:
            self.fetches.labels("cache-hit").inc()
            patient, results = json.loads(cached[1])
            return PatientResults(patient, results)
        try:
            data = await self.client.lab_data(patient_id)
        except EhrUnavailable as error:
            self.fetches.labels("unavailable").inc()
            self._seen("unreachable", str(error))
            raise
        except EhrError as error:
            self.fetches.labels("not-found" if not isinstance(error, EhrBadAnswer) else "bad-answer").inc()
            self._seen("reachable")
            raise
        self.fetches.labels("ok").inc()
        self._seen("reachable")
        shown = PatientResults(patient_summary(data.patient), lab_results(data))
        if self.config.cache_ttl > 0:
            self.cache[patient_id] = (now + self.config.cache_ttl, json.dumps([shown.patient, shown.results]))
            self.cache.move_to_end(patient_id)
            while len(self.cache) > CACHE_ENTRIES:
                self.cache.popitem(last=False)
        return shown


_HTML = ("text/html",)
_NULLABLE_STR: Json = {"type": "string", "nullable": True}
_OBSERVATION_ROW: Json = {
    "type": "object",
    "required": ["id", "code", "display", "value", "unit", "reference_range", "flag", "status", "missing"],
    "properties": {
        "id": _NULLABLE_STR, "code": _NULLABLE_STR, "display": _NULLABLE_STR,
        "value": {"nullable": True, "description": "valueQuantity.value or valueString, as the EHR holds it"},
        "unit": _NULLABLE_STR,
        "reference_range": {"type": "object", "nullable": True,
                            "properties": {"low": {"nullable": True}, "high": {"nullable": True},
                                           "text": {"nullable": True}}},
        "flag": {"type": "string", "nullable": True, "enum": ["H", "L", "N", None]},
        "status": _NULLABLE_STR,
        "missing": {"type": "boolean", "description": "referenced by the report, not returned by the EHR"},
    },
}  # fmt: skip
_RESULT_DOCUMENT: Json = {
    "type": "object",
    "required": ["id", "code", "display", "status", "issued", "effective", "encounter", "observations"],
    "properties": {
        "id": _NULLABLE_STR, "code": _NULLABLE_STR, "display": _NULLABLE_STR, "status": _NULLABLE_STR,
        "issued": _NULLABLE_STR, "effective": _NULLABLE_STR, "encounter": _NULLABLE_STR,
        "observations": {"type": "array", "items": ref("ObservationRow")},
    },
}  # fmt: skip
DESCRIPTION = openapi.ApiDescription(
    title="labs (lab results portal)",
    version="1",
    description="Lab results read from the EHR over FHIR; an EHR outage is a 503, never 'no results'.",
    schemas={
        "ObservationRow": _OBSERVATION_ROW,
        "ResultDocument": _RESULT_DOCUMENT,
        "Health": {
            "type": "object",
            "required": ["status", "name", "datacenter", "role", "ehr"],
            "properties": {"status": {"enum": ["ok"]}, "name": {"type": "string"}, "datacenter": {"type": "string"},
                           "role": {"enum": ["active"]}, "ehr": {"enum": ["unknown", "reachable", "unreachable"]}},
        },
    },
)  # fmt: skip


def _describe(html: bool) -> dict[int, Json]:
    """The answers of a patient's pages: JSON errors for the API, HTML pages for people."""
    if html:
        page = {"type": "string"}
        texts = {400: "not a patient id", 404: "no such patient", 502: "the EHR answered unexpectedly",
                 503: "the EHR is unavailable (Retry-After)"}  # fmt: skip
        return {status: response(text, page, media_types=_HTML) for status, text in texts.items()}
    return {
        400: error("invalid-patient-id"),
        404: error("patient-not-found (or report-not-found)"),
        502: error("ehr-bad-answer: the EHR answered, not as FHIR says"),
        503: error("ehr-unavailable: results cannot be shown (this is not an empty result)"),
    }


def _valid_id(patient_id: str) -> bool:
    return FHIR_ID.fullmatch(patient_id) is not None and patient_id.strip(".") != ""


def create_app(config: Config, *, ehr_transport: httpx.AsyncBaseTransport | None = None) -> Starlette:
    """Build the portal. ``ehr_transport``: for tests (e.g. ``httpx.ASGITransport`` to a fake EHR)."""
    portal = Portal(config, EhrClient(config.ehr_base, config.ehr_timeout, ehr_transport))

    def invalid_id(patient_id: str) -> Response:
        detail = f"patient_id {patient_id!r} is not a FHIR id ([A-Za-z0-9-.]{{1,64}})"
        return json_error(400, "invalid-patient-id", detail)

    def invalid_id_page(patient_id: str) -> Response:
        detail = f"{patient_id!r} n'est pas un identifiant patient."
        return HTMLResponse(pages.error_page("Identifiant invalide", detail), 400)

    async def json_results(request: Request) -> tuple[list[dict[str, Any]] | None, Response | None]:
        patient_id = request.path_params["patient_id"]
        if not _valid_id(patient_id):
            return None, invalid_id(patient_id)
        try:
            shown = await portal.results(patient_id)
        except EhrError as error:
            status, word, detail = _error_of(error)
            response = json_error(status, word, detail)
            if status == 503:
                response.headers["Retry-After"] = RETRY_AFTER_SECONDS
            return None, response
        return shown.results, None

    async def results(request: Request) -> Response:
        found, error = await json_results(request)
        return error or JSONResponse(found)

    async def one_result(request: Request) -> Response:
        found, error = await json_results(request)
        if error is not None or found is None:
            return error or json_error(500, "internal", "no results")
        report_id = request.path_params["report_id"]
        for report in found:
            if report["id"] == report_id:
                return JSONResponse(report)
        detail = f"patient {request.path_params['patient_id']!r} has no lab report {report_id!r}"
        return json_error(404, "report-not-found", detail)

    async def index(request: Request) -> Response:
        return HTMLResponse(pages.index_page())

    async def patient_form(request: Request) -> Response:
        patient_id = request.query_params.get("id", "").strip()
        if not _valid_id(patient_id):
            return invalid_id_page(patient_id)
        return RedirectResponse(f"/patients/{patient_id}", status_code=303)

    async def patient_page(request: Request) -> Response:
        patient_id = request.path_params["patient_id"]
        if not _valid_id(patient_id):
            return invalid_id_page(patient_id)
        try:
            shown = await portal.results(patient_id)
        except EhrError as error:
            status, _, detail = _error_of(error)
            titles = {503: "DPI indisponible", 502: "Réponse inattendue du DPI", 404: "Patient inconnu"}
            headers = {"Retry-After": RETRY_AFTER_SECONDS} if status == 503 else None
            return HTMLResponse(pages.error_page(titles[status], detail), status, headers=headers)
        return HTMLResponse(pages.results_page(shown.patient, shown.results))

    async def health(request: Request) -> Response:
        identity = {"name": config.name, "datacenter": config.datacenter}
        return JSONResponse({"status": "ok", **identity, "role": "active", "ehr": portal.ehr_state})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        log_event("start", ehr=config.ehr_base, cache_ttl=config.cache_ttl)
        try:
            yield
        finally:
            await portal.client.aclose()
            log_event("stop")

    page = {"type": "string"}
    patient = path_param("patient_id", {"type": "string"}, "a FHIR id ([A-Za-z0-9-.]{1,64})")
    operations = [
        Operation("GET", "/health", health, "liveness and the EHR as last seen", {200: response("ok", ref("Health"))}),
        Operation("GET", "/metrics", portal.metrics.endpoint, "Prometheus metrics", {200: prometheus_metrics()}),
        Operation("GET", "/", index, "the patient-id form (HTML)",
                  {200: response("the form", page, media_types=_HTML)}),
        Operation("GET", "/patients", patient_form, "the form's target: redirects to the patient's page",
                  {303: response("to /patients/{id}", headers={"Location": {"type": "string"}}),
                   400: response("not a patient id", page, media_types=_HTML)},
                  [query("id", {"type": "string"}, "the patient id typed in")]),
        Operation("GET", "/patients/{patient_id}", patient_page, "the patient's results page (HTML)",
                  {200: response("the results, newest report first", page, media_types=_HTML), **_describe(True)},
                  [patient]),
        Operation("GET", "/patients/{patient_id}/results", results, "the patient's lab results (JSON)",
                  {200: response("result documents, newest first ([] only when the EHR has none)",
                                 {"type": "array", "items": ref("ResultDocument")}), **_describe(False)},
                  [patient]),
        Operation("GET", "/patients/{patient_id}/results/{report_id}", one_result, "one result document",
                  {200: response("the result document", ref("ResultDocument")), **_describe(False)},
                  [patient, path_param("report_id", {"type": "string"}, "a DiagnosticReport id")]),
    ]  # fmt: skip
    app = Starlette(
        routes=DESCRIPTION.routes(operations),
        middleware=[
            Middleware(ServiceMiddleware, name=config.name, datacenter=config.datacenter, metrics=portal.metrics)
        ],
        exception_handlers={HTTPException: http_exception_handler},
        lifespan=lifespan,
    )
    app.state.portal = portal
    return app
