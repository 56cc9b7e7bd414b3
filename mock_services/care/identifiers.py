"""Identifier systems and the reserved downtime ranges.

Downtime identifiers are what a clinician writes on paper while the EHR is away, so they must
never collide -- with each other, with another workstation's, or with the EHR's own ids:

* orders ``<prefix>-O-<instance name>-<n>`` and patients ``<prefix>-P-<instance name>-<n>``
  (``DT-O-care-1-000042``); ``n`` is a counter kept in the queue database and allocated in the
  same transaction as the entry, so a crash never hands one out twice;
* the instance name makes two workstations' ranges disjoint; the ``-`` after the prefix keeps
  them apart from the EHR's server-assigned ids (uuid4 hex: only ``0-9a-f``) and from the
  synthetic ``p000001`` ids;
* they are valid FHIR ids and identifier values, so a downtime patient id can stand in a URL
  (``/patients/DT-P-care-1-000001/chart``) until reconciliation maps it to the permanent id.

Systems: the downtime ids live in :data:`DOWNTIME_ORDER_SYSTEM` / :data:`DOWNTIME_PATIENT_SYSTEM`;
every order also carries the clinician-side idempotency key in :data:`ORDER_SYSTEM` and every
registration its key in :data:`REGISTRATION_SYSTEM`; resources created by reconciliation carry
``meta.tag`` :data:`DOWNTIME_TAG`.
"""

from __future__ import annotations

import re
from typing import Any

CARE_SYSTEM = "urn:hchaos:care"
DOWNTIME_ORDER_SYSTEM = "urn:hchaos:care:downtime-order"
DOWNTIME_PATIENT_SYSTEM = "urn:hchaos:care:downtime-patient"
ORDER_SYSTEM = "urn:hchaos:care:order"
REGISTRATION_SYSTEM = "urn:hchaos:care:registration"
DOWNTIME_TAG: dict[str, Any] = {"system": CARE_SYSTEM, "code": "downtime", "display": "entered during downtime"}
ORDER, PATIENT = "O", "P"
FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


def downtime_id(prefix: str, kind: str, instance: str, number: int) -> str:
    """``<prefix>-<kind>-<instance>-<number, 6 digits at least>``; ``kind`` is ORDER or PATIENT."""
    if kind not in (ORDER, PATIENT):
        raise ValueError(f"kind must be {ORDER!r} or {PATIENT!r}, got {kind!r}")
    return f"{prefix}-{kind}-{instance}-{number:06d}"


def is_downtime_patient(prefix: str, patient_id: str) -> bool:
    """Whether ``patient_id`` is in a downtime patient range (of any instance with this prefix)."""
    return patient_id.startswith(f"{prefix}-{PATIENT}-")


def valid_id(value: str) -> bool:
    return FHIR_ID.fullmatch(value) is not None and value.strip(".") != ""


def token(system: str, value: str) -> str:
    """A FHIR search token ``system|value`` with ``,`` ``|`` ``$`` ``\\`` escaped."""
    escaped = re.sub(r"([,|$\\])", r"\\\1", value)
    return f"{system}|{escaped}"
