"""Response shapes shared by the endpoints: DICOM JSON bodies, errors, content negotiation.

Errors outside STOW-RS (whose failures are a Store Instances Response) are a small JSON
object ``{"status": <code>, "error": "<what was expected, what was seen>"}`` with media type
``application/json``: DICOMweb leaves the error payload open, and a harness probe can read
this one. Handlers raise :class:`Problem`; the app turns it into that response.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import Response

from mock_services.imaging.dicomjson import DICOM_JSON, dumps
from mock_services.imaging.mediatypes import MediaType, MediaTypeError, parse_accept


class Problem(Exception):
    """An HTTP error to answer with :func:`error_response`."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


def error_response(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        dumps({"status": status, "error": message}),
        status_code=status,
        media_type="application/json",
        headers=dict(headers or {}),
    )


def json_response(document: object, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """A DICOM JSON body (``application/dicom+json``)."""
    return Response(dumps(document), status_code=status, media_type=DICOM_JSON, headers=dict(headers or {}))


def accept_ranges(request: Request) -> list[MediaType]:
    """The request's Accept ranges, best first; a malformed header is a 400."""
    try:
        return parse_accept(request.headers.get("accept"))
    except MediaTypeError as error:
        raise Problem(400, f"malformed Accept header: {error}") from None


def require_json_accepted(request: Request) -> None:
    """406 unless Accept allows ``application/dicom+json`` or ``application/json``."""
    for candidate in accept_ranges(request):
        if candidate.covers(DICOM_JSON) or candidate.covers("application/json"):
            return
    raise Problem(
        406,
        f"cannot answer with {request.headers.get('accept')!r}: this resource is application/dicom+json"
        " (or application/json)",
    )
