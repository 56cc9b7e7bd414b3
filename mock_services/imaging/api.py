"""The imaging service's OpenAPI description and the response objects its operations share.

The endpoints are listed once, as :class:`~mock_services.common.openapi.Operation` s, by the
modules that serve them (:mod:`.qido_api`, :mod:`.wado`, :mod:`.wado_rendered`, :mod:`.stow`,
and :mod:`.app` for ``/health``, ``/writable`` and ``/metrics``); :data:`DESCRIPTION` turns
that list into both the routes (one per path: ``GET`` and ``POST /studies`` share one, so a
405 names both methods) and ``GET /openapi.json``. The document describes what a client sees:
every status an operation can answer, with its media types -- DICOM JSON data sets, Part 10
files in ``multipart/related``, rendered images, and the service's error object
``{"status", "error"}`` (:mod:`.responses`).
"""

from __future__ import annotations

from mock_services.common import openapi
from mock_services.common.openapi import Json, path_param, query, ref, response

DICOM_JSON = "application/dicom+json"
MULTIPART = "multipart/related"

ERROR: Json = {
    "type": "object",
    "required": ["status", "error"],
    "properties": {
        "status": {"type": "integer", "description": "the HTTP status again"},
        "error": {"type": "string", "description": "what was expected and what was seen"},
    },
}
DATASET: Json = {"type": "object", "description": "a DICOM JSON data set (PS3.18 Annex F)"}
BINARY: Json = {"type": "string", "format": "binary"}

DESCRIPTION = openapi.ApiDescription(
    title="hchaos imaging (mock PACS)",
    version="1",
    description="DICOMweb (PS3.18): QIDO-RS search, WADO-RS retrieve (instances, metadata, bulk data, frames, "
    "rendered images), STOW-RS store; an archive in dc-a and its read-only replica in dc-b.",
    schemas={"ImagingError": ERROR, "DicomDataset": DATASET},
)

STUDY = path_param("study", {"type": "string"}, "Study Instance UID")
SERIES = path_param("series", {"type": "string"}, "Series Instance UID")
SOP = path_param("sop", {"type": "string"}, "SOP Instance UID")


def error(description: str) -> Json:
    """An error answer: ``{"status", "error"}`` as ``application/json``."""
    return response(description, ref("ImagingError"))


def datasets(description: str) -> Json:
    """A JSON array of DICOM JSON data sets."""
    return response(description, {"type": "array", "items": ref("DicomDataset")}, media_types=(DICOM_JSON,))


def store_response(description: str, *, or_error: bool = False) -> Json:
    """The Store Instances Response Module (DICOM JSON), or (``or_error``) an error object."""
    answer: Json = {"description": description, "content": {DICOM_JSON: {"schema": ref("DicomDataset")}}}
    if or_error:
        answer["content"]["application/json"] = {"schema": ref("ImagingError")}
    return answer


def binary(description: str, *media_types: str) -> Json:
    return response(description, BINARY, media_types=media_types)


NOT_ACCEPTABLE = error("Accept allows none of the media types this resource has")
BAD_ACCEPT = error("a malformed Accept header, or one mixing DICOM and rendered media types (PS3.18 8.7.5)")
NOT_FOUND = error("no such study, series or instance (the message names the level)")


def uid_query(name: str, description: str) -> Json:
    return query(name, {"type": "string"}, f"{description}: UID list matching (',' or '\\' separated)")


def text_query(name: str, description: str) -> Json:
    return query(name, {"type": "string"}, f"{description}: exact, '*' and '?' wildcards")


def range_query(name: str, description: str) -> Json:
    return query(name, {"type": "string"}, f"{description}: a value or a range A-B, A-, -B")
