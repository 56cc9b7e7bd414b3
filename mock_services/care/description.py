"""The care application's OpenAPI description: its schemas and the answers its screens share.

The operations themselves are listed next to their handlers (:meth:`.api.CareApi.operations`,
:func:`.downtime_api.operations`, :mod:`.app`), which makes the routes and the document from
one table (:mod:`mock_services.common.openapi`). Every JSON body carries the mode stamp
(``mode``, ``as_of``; ``snapshot_stale`` in downtime), errors included; the schemas say so, and
state the top-level fields of each screen (the sections' insides are :mod:`.chart`'s).
"""

from __future__ import annotations

from mock_services.common import openapi
from mock_services.common.openapi import Json, ref, response

_STAMP: Json = {
    "mode": {"type": "string", "enum": ["normal", "downtime"]},
    "as_of": {"type": "number", "nullable": True, "description": "the snapshot's time in downtime, else null"},
    "snapshot_stale": {"type": "boolean"},
}
_SOURCE: Json = {"type": "string", "nullable": True, "enum": ["live", "snapshot", "downtime-registration", None]}


def stamped(required: list[str], properties: Json | None = None) -> Json:
    """An object with the mode stamp plus ``required`` fields (others allowed)."""
    return {
        "type": "object",
        "required": ["mode", "as_of", *required],
        "properties": {**_STAMP, **(properties or {})},
        "additionalProperties": True,
    }


def care_error(description: str) -> Json:
    """An error answer ``{"error", "detail", "mode", "as_of", ...}``."""
    return response(description, ref("CareError"))


def pdf(description: str) -> Json:
    return response(description, {"type": "string", "format": "binary"}, media_types=("application/pdf",))


_ARRAY: Json = {"type": "array", "items": {"type": "object"}}
_NUMBER_OR_NULL: Json = {"type": "number", "nullable": True}
_WRITE: Json = {
    "status": {"type": "string", "enum": ["created", "existed", "queued", "reconciled"]},
    "authored": {"type": "string"},
}

SCHEMAS: dict[str, Json] = {
    "CareError": stamped(["error", "detail"], {"error": {"type": "string"}, "detail": {"type": "string"}}),
    "Wards": stamped(["source", "wards"], {"source": _SOURCE, "wards": _ARRAY}),
    "WardPatients": stamped(["source", "ward", "patients"], {"source": _SOURCE, "patients": _ARRAY}),
    "Chart": stamped(
        ["patient_id", "source", "results_complete", "not_available_after", "queued_orders"],
        {"patient_id": {"type": "string"}, "source": _SOURCE, "results_complete": {"type": "boolean"},
         "not_available_after": _NUMBER_OR_NULL, "queued_orders": _ARRAY},
    ),
    "WardSchedule": stamped(
        ["status", "source", "ward", "staff", "bookings", "units"],
        {"status": {"type": "string", "enum": ["ok", "unavailable", "not-configured"]}, "source": _SOURCE,
         "staff": _ARRAY, "bookings": _ARRAY, "units": {"type": "array", "items": {"type": "string"}}},
    ),
    "ScheduleDiff": stamped(
        ["ward", "baseline", "baseline_as_of", "since", "changes"],
        {"baseline": {"type": "string", "enum": ["downtime", "current"]}, "changes": _ARRAY},
    ),
    "Created": stamped(["status", "authored", "resource"], {**_WRITE, "resource": {"type": "string"}}),
    "Queued": stamped(
        ["status", "downtime_id", "authored", "patient", "patient_verified", "queue_depth", "entry"],
        {**_WRITE, "downtime_id": {"type": "string"}, "patient_verified": {"type": "boolean"},
         "queue_depth": {"type": "integer", "minimum": 0}, "entry": {"type": "object"}},
    ),
    "DowntimeStatus": stamped(
        ["snapshot", "breakers", "queue", "reconciliation", "notifications", "printer"],
        {"snapshot": {"type": "object"}, "breakers": {"type": "object"}, "queue": {"type": "object"}},
    ),
    "Queue": stamped(["entries", "counts", "capacity"], {"entries": _ARRAY, "capacity": {"type": "integer"}}),
    "Reconciliation": stamped(
        ["progress", "reconciled", "failed", "patient_map"],
        {"progress": {"type": "object"}, "reconciled": _ARRAY, "failed": _ARRAY, "patient_map": {"type": "object"}},
    ),
    "Printer": stamped(["failing", "reason"], {"failing": {"type": "boolean"}, "reason": {"type": "string"}}),
    "SnapshotRefresh": stamped(["refreshed", "snapshot"], {"refreshed": {"type": "boolean"}}),
    "Reconciled": stamped(["progress"], {"progress": {"type": "object"}}),
    "Health": {
        "type": "object",
        "required": ["status", "name", "datacenter", "role", "mode", "snapshot", "queue_depth"],
        "properties": {"status": {"enum": ["ok"]}, "name": {"type": "string"}, "datacenter": {"type": "string"},
                       "role": {"enum": ["workstation"]}, "mode": _STAMP["mode"],
                       "snapshot": {"type": "string", "enum": ["ok", "missing", "corrupt"]},
                       "queue_depth": {"type": "integer", "minimum": 0}},
    },
    "OrderRequest": {
        "type": "object",
        "required": ["kind", "display"],
        "properties": {
            "kind": {"type": "string", "enum": ["medication", "lab", "imaging"]},
            "display": {"type": "string", "minLength": 1, "maxLength": 200},
            "code": {"type": "string", "minLength": 1, "maxLength": 64},
            "system": {"type": "string", "minLength": 1, "maxLength": 200},
            "dosage": {"type": "string", "minLength": 1, "maxLength": 500, "description": "medication orders only"},
            "requester": {"type": "string", "minLength": 1, "maxLength": 200},
            "authored": {"type": "string", "format": "date-time", "description": "with a UTC offset"},
            "order_id": {"type": "string", "pattern": r"^[A-Za-z0-9\-._:]{1,64}$", "description": "idempotency key"},
        },
    },
    "RegistrationRequest": {
        "type": "object",
        "required": ["family", "given", "birth_date"],
        "properties": {
            "family": {"type": "string", "minLength": 1, "maxLength": 200},
            "given": {"oneOf": [{"type": "string", "minLength": 1},
                                {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}}]},
            "birth_date": {"type": "string", "format": "date"},
            "gender": {"type": "string", "enum": ["male", "female", "other", "unknown"]},
            "registration_id": {"type": "string", "pattern": r"^[A-Za-z0-9\-._:]{1,64}$"},
        },
    },
    "PrinterRequest": {
        "type": "object",
        "required": ["failing"],
        "properties": {"failing": {"type": "boolean"}, "reason": {"type": "string"}},
    },
}

DESCRIPTION = openapi.ApiDescription(
    title="care (the clinicians' workstation application)",
    version="1",
    description="Charts, orders and documents, with a downtime mode; see mock_services.care.",
    schemas=SCHEMAS,
)
