"""FHIR JSON responses and OperationOutcome errors, the one shape every error takes.

Every error this service returns -- FHIR route, unknown route, 405, body too large,
replication request it cannot parse, unhandled exception -- is an OperationOutcome with one
issue: ``{"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": <FHIR
issue type>, "diagnostics": <what was wrong, for a person>}]}``. The only non-FHIR error
bodies are the replication protocol's 409 answers, which are protocol messages.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from mock_services.ehr.resources import compact_json

FHIR_JSON = "application/fhir+json"

# FHIR issue-type codes (http://hl7.org/fhir/valueset-issue-type.html) for HTTP statuses we
# produce without a more specific code.
_CODE_FOR_STATUS = {
    400: "invalid",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    409: "conflict",
    413: "too-costly",
    415: "not-supported",
    500: "exception",
    503: "transient",
}


def dumps(document: object) -> bytes:
    """Compact JSON, UTF-8; non-ASCII kept as is (patient names are not ASCII)."""
    return compact_json(document).encode()


class FhirResponse(Response):
    """``application/fhir+json`` with the headers encoded once, here: Starlette's generic
    header handling is a measurable share of a 40 us read, and these headers need none of it."""

    media_type = FHIR_JSON

    def __init__(self, body: bytes, status_code: int = 200, headers: Mapping[str, str] | None = None) -> None:
        self.status_code = status_code
        self.background = None
        self.body = body
        self.raw_headers = [
            (b"content-length", str(len(body)).encode()),
            (b"content-type", _FHIR_JSON_BYTES),
            *((key.lower().encode("latin-1"), value.encode("latin-1")) for key, value in (headers or {}).items()),
        ]


_FHIR_JSON_BYTES = FHIR_JSON.encode()


def fhir_response(
    body: bytes | str | Mapping[str, object], status_code: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """A response with ``Content-Type: application/fhir+json``; ``body`` already JSON or a dict."""
    content = body.encode() if isinstance(body, str) else body if isinstance(body, bytes) else dumps(body)
    return FhirResponse(content, status_code, headers)


def outcome_document(code: str, diagnostics: str, severity: str = "error") -> dict[str, object]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": diagnostics}],
    }


def operation_outcome(
    status_code: int, diagnostics: str, *, code: str | None = None, headers: Mapping[str, str] | None = None
) -> Response:
    """An error response; ``code`` defaults to the FHIR issue type usual for ``status_code``."""
    issue_code = code or _CODE_FOR_STATUS.get(status_code, "processing")
    return fhir_response(outcome_document(issue_code, diagnostics), status_code, headers)


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    """Turn Starlette's HTTPExceptions (unknown route, 405, 413...) into OperationOutcomes."""
    assert isinstance(exc, HTTPException)  # registered for HTTPException only
    what = f"{request.method} {request.url.path}"
    if exc.status_code == 404:
        diagnostics = f"no such route: {what}"
    elif exc.status_code == 405:
        diagnostics = f"method not allowed: {what}"
    else:
        diagnostics = f"{what}: {exc.detail}"
    return operation_outcome(exc.status_code, diagnostics, headers=exc.headers)
