"""What a clinician sends (orders, registrations): validation, and the FHIR resource it becomes.

``POST /patients/{id}/orders`` body::

    {"kind": "medication" | "lab" | "imaging", "display": "Paracétamol 1 g",
     "code": "N02BE01", "system": "http://www.whocc.no/atc",     # optional coding
     "dosage": "1 g toutes les 6 h",                              # medication only, optional
     "requester": "Dr Martin", "authored": "<ISO 8601 with offset>", "order_id": "<key>"}

``authored`` defaults to the time the application received the order; it is the order's
``authoredOn`` forever, however late reconciliation happens. ``order_id`` is the clinician
side's idempotency key (default: a fresh uuid): the same key twice is one order, live or queued.

* medication -> ``MedicationRequest`` (status active, intent order, ``medicationCodeableConcept``,
  ``dosageInstruction[0].text``);
* lab / imaging -> ``ServiceRequest`` (status active, intent order, SNOMED category "laboratory
  procedure" / "imaging"), the R4 resource for such orders.

``POST /patients`` body: ``{"family", "given" (string or list), "birth_date" (YYYY-MM-DD),
"gender" (male|female|other|unknown), "registration_id": "<key>"}`` -> ``Patient``.

Every resource carries its key as an identifier (:data:`~.identifiers.ORDER_SYSTEM` /
:data:`~.identifiers.REGISTRATION_SYSTEM`), so creating it is conditional and a retry never
duplicates. :class:`InvalidRequest` names the offending field.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from mock_services.care.identifiers import ORDER_SYSTEM, REGISTRATION_SYSTEM

ORDER_KINDS = ("medication", "lab", "imaging")
GENDERS = ("male", "female", "other", "unknown")
KEY = re.compile(r"[A-Za-z0-9\-._:]{1,64}")
SNOMED = "http://snomed.info/sct"
_CATEGORY = {"lab": ("108252007", "Laboratory procedure"), "imaging": ("363679005", "Imaging")}


class InvalidRequest(ValueError):
    """A body the application cannot accept; the message names the field (answered 400)."""


def now_instant() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _text(body: dict[str, Any], name: str, required: bool = False, limit: int = 200) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise InvalidRequest(f"{name} is required")
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise InvalidRequest(f"{name} must be a non-empty string of at most {limit} characters")
    return value.strip()


def _key(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if value is None:
        return uuid.uuid4().hex
    if not isinstance(value, str) or not KEY.fullmatch(value):
        raise InvalidRequest(f"{name} must be 1-64 characters among letters, digits and - . _ :, got {value!r}")
    return value


def _authored(body: dict[str, Any]) -> str:
    value = body.get("authored")
    if value is None:
        return now_instant()
    if not isinstance(value, str):
        raise InvalidRequest("authored must be an ISO 8601 date-time string")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequest(f"authored is not an ISO 8601 date-time: {value!r}") from None
    if moment.tzinfo is None:
        raise InvalidRequest(f"authored needs a UTC offset (e.g. Z or +02:00): {value!r}")
    try:
        in_utc = moment.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 is in year 0 in UTC
        raise InvalidRequest(f"authored is outside the years 1-9999 once in UTC: {value!r}") from None
    return in_utc.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Order:
    kind: str
    key: str
    authored: str
    resource: dict[str, Any]  # subject still the patient id the clinician used


def parse_order(body: Any, patient_id: str) -> Order:
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object")
    kind = body.get("kind")
    if kind not in ORDER_KINDS:
        raise InvalidRequest(f"kind must be one of {', '.join(ORDER_KINDS)}, got {kind!r}")
    display = _text(body, "display", required=True)
    code, system = _text(body, "code", limit=64), _text(body, "system", limit=200)
    dosage, requester = _text(body, "dosage", limit=500), _text(body, "requester")
    key, authored = _key(body, "order_id"), _authored(body)
    concept: dict[str, Any] = {"text": display}
    if code is not None:
        concept["coding"] = [{**({"system": system} if system else {}), "code": code, "display": display}]
    common: dict[str, Any] = {
        "identifier": [{"system": ORDER_SYSTEM, "value": key}],
        "status": "active",
        "intent": "order",
        "subject": {"reference": f"Patient/{patient_id}"},
        "authoredOn": authored,
    }
    if requester is not None:
        common["requester"] = {"display": requester}
    if kind == "medication":
        resource = {"resourceType": "MedicationRequest", **common, "medicationCodeableConcept": concept}
        if dosage is not None:
            resource["dosageInstruction"] = [{"text": dosage}]
    else:
        if dosage is not None:
            raise InvalidRequest(f"dosage is for medication orders, not {kind} orders")
        category_code, category_display = _CATEGORY[kind]
        category = {"coding": [{"system": SNOMED, "code": category_code, "display": category_display}]}
        resource = {"resourceType": "ServiceRequest", **common, "category": [category], "code": concept}
    return Order(kind, key, authored, resource)


def parse_registration(body: Any) -> Order:
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object")
    family = _text(body, "family", required=True)
    given_value = body.get("given")
    given = [given_value] if isinstance(given_value, str) else given_value
    if not isinstance(given, list) or not given or not all(isinstance(g, str) and g.strip() for g in given):
        raise InvalidRequest("given must be a non-empty string or a list of them")
    birth = body.get("birth_date")
    try:
        born = date.fromisoformat(birth) if isinstance(birth, str) and len(birth) == 10 else None
    except ValueError:
        born = None
    if born is None:
        raise InvalidRequest(f"birth_date must be a date YYYY-MM-DD, got {birth!r}")
    gender = body.get("gender", "unknown")
    if gender not in GENDERS:
        raise InvalidRequest(f"gender must be one of {', '.join(GENDERS)}, got {gender!r}")
    key = _key(body, "registration_id")
    resource = {
        "resourceType": "Patient",
        "identifier": [{"system": REGISTRATION_SYSTEM, "value": key}],
        "name": [{"use": "official", "family": family, "given": [g.strip() for g in given]}],
        "gender": gender,
        "birthDate": born.isoformat(),
    }
    return Order("registration", key, now_instant(), resource)
