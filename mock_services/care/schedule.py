"""A ward's schedule view and the diff of schedules since a snapshot (pure functions).

View (``GET /wards/{ward}/schedule``)::

    {"staff": [{"schedule_id", "date", "shift", "start", "end", "staff": [{"name", "role"}]}],
     "bookings": [{"schedule_id", "kind": "or"|"scanner", "unit", "date", "start", "end",
                   "procedure", "patient", "patient_identity"}],
     "units": [OR and scanner unit names]}

``staff``: the rota whose unit is the ward; ``bookings``: OR and scanner slots of the ward's
patients, each with the patient's identity (name, birth date, id) so a printed schedule
cannot be matched to the wrong patient.

Diff (``GET /wards/{ward}/schedule/diff``): for every schedule that scheduling's change feed
reports as modified after the snapshot's ``until`` and that concerns the ward (its staff
rota, or any OR/scanner schedule -- a stale pre-printed OR list was an AP-HP problem): the
versions, and the slots ``added`` / ``removed`` compared with the snapshot's copy (a moved
slot is one removed and one added). ``ward_patients`` lists the ward's patients in the
changed bookings.
"""

from __future__ import annotations

import json
from typing import Any

BOOKING_KINDS = ("or", "scanner")


def identity(demographics: dict[str, Any] | None, patient_id: str) -> str:
    if not demographics:
        return f"{patient_id} (identité non disponible)"
    return f"{demographics.get('name') or '?'}, né(e) le {demographics.get('birth_date') or '?'}, id {patient_id}"


def _patient_of(slot: dict[str, Any]) -> str | None:
    reference = slot.get("patient")
    return reference.removeprefix("Patient/") if isinstance(reference, str) else None


def ward_view(documents: list[dict[str, Any]], ward: str, patients: dict[str, dict[str, Any] | None]) -> dict[str, Any]:
    """The ward's view of ``documents``; ``patients``: the ward's patient ids -> demographics (or None)."""
    staff, bookings, units = [], [], set()
    for document in documents:
        kind = document.get("kind")
        for slot in document.get("slots") or []:
            if not isinstance(slot, dict):
                continue
            if kind == "staff" and document.get("unit") == ward:
                staff.append({
                    "schedule_id": document["id"], "date": document.get("date"), "shift": slot.get("shift"),
                    "start": slot.get("start"), "end": slot.get("end"), "staff": slot.get("staff") or [],
                })  # fmt: skip
            elif kind in BOOKING_KINDS:
                units.add(str(document.get("unit")))
                patient = _patient_of(slot)
                if patient is not None and patient in patients:
                    bookings.append({
                        "schedule_id": document["id"], "kind": kind, "unit": document.get("unit"),
                        "date": document.get("date"), "start": slot.get("start"), "end": slot.get("end"),
                        "procedure": slot.get("procedure"), "patient": patient,
                        "patient_identity": identity(patients[patient], patient),
                    })  # fmt: skip
    staff.sort(key=lambda s: str(s["start"]))
    bookings.sort(key=lambda b: str(b["start"]))
    return {"staff": staff, "bookings": bookings, "units": sorted(units)}


def _key(slot: Any) -> str:
    return json.dumps(slot, sort_keys=True, ensure_ascii=False)


def diff(
    baseline: list[dict[str, Any]], changed: list[dict[str, Any]], ward: str, ward_patients: set[str]
) -> list[dict[str, Any]]:
    """The changes of ``changed`` (documents modified since the baseline) relevant to ``ward``."""
    before = {document["id"]: document for document in baseline if isinstance(document.get("id"), str)}
    changes = []
    for document in changed:
        kind = document.get("kind")
        if not (kind in BOOKING_KINDS or (kind == "staff" and document.get("unit") == ward)):
            continue
        old = before.get(document["id"])
        old_slots = {_key(s): s for s in (old or {}).get("slots") or []}
        new_slots = {_key(s): s for s in document.get("slots") or []}
        added = [slot for key, slot in new_slots.items() if key not in old_slots]
        removed = [slot for key, slot in old_slots.items() if key not in new_slots]
        if old is not None and not added and not removed and old.get("version") == document.get("version"):
            continue
        touched = {_patient_of(slot) for slot in added + removed} & ward_patients
        changes.append({
            "schedule_id": document["id"], "kind": kind, "unit": document.get("unit"), "date": document.get("date"),
            "snapshot_version": None if old is None else old.get("version"),
            "current_version": document.get("version"), "last_modified": document.get("last_modified"),
            "added": added, "removed": removed, "ward_patients": sorted(p for p in touched if p),
        })  # fmt: skip
    return changes
