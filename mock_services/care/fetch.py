"""Live reads from the dependencies: the ward census, a patient's chart parts, the schedules.

Used by the screens in normal mode and by the snapshot collector, so both see the same data.

* Census: the EHR cannot search encounters by ward (no ``service-provider`` search parameter),
  so the census is one search ``Encounter?status=in-progress`` (paged), grouped locally by
  ``serviceProvider.display``; names come from ``Patient?_id=a,b,...`` in batches of
  :data:`ID_BATCH`.
* Chart parts: EHR sections (``Patient``, ``AllergyIntolerance``, vital-signs ``Observation``,
  active ``MedicationRequest``) raise :class:`~.dependencies.DependencyError` -- without them
  there is no chart; the lab portal (``/patients/{id}/results``) and imaging (QIDO-RS
  ``/studies?PatientID=``) sections degrade on their own into ``{"status": "unavailable"}``
  (or ``"not-configured"``), never into an empty list.
* Schedules: :class:`ScheduleMirror` follows scheduling's change feed (``/schedules/changes
  ?since=``), the first poll from the epoch, later ones from the last ``until``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from mock_services.care import chart
from mock_services.care.dependencies import BadAnswer, Dependency, DependencyError, NotFound

ID_BATCH = 100
EPOCH = "1970-01-01T00:00:00Z"
DICOM_JSON = "application/dicom+json, application/json"


def section(status: str, items: Any = None, detail: str | None = None) -> dict[str, Any]:
    """A chart section: ``status`` ok | unavailable | not-configured, its items, and why not."""
    return {"status": status, "items": items if items is not None else [], "detail": detail}


@dataclass(frozen=True)
class CensusEntry:
    patient: str
    encounter: str | None
    since: str | None


class Reader:
    """Reads through the configured dependencies (absent ones are simply not in ``deps``)."""

    def __init__(self, deps: dict[str, Dependency]) -> None:
        self.deps = deps

    def _ehr(self) -> Dependency:
        ehr = self.deps.get("ehr")
        if ehr is None:
            raise DependencyError("ehr", "no EHR is configured (--ehr-url)")
        return ehr

    async def census(self) -> dict[str, list[CensusEntry]]:
        """Ward -> patients with an in-progress encounter there (one entry per patient and ward)."""
        encounters = await self._ehr().fhir_search("Encounter", {"status": "in-progress", "_count": "500"})
        wards: dict[str, dict[str, CensusEntry]] = {}
        for encounter in encounters:
            ward = chart.ward_of(encounter)
            reference = (encounter.get("subject") or {}).get("reference", "")
            if ward is None or not reference.startswith("Patient/"):
                continue
            patient = reference.removeprefix("Patient/")
            since = (encounter.get("period") or {}).get("start")
            wards.setdefault(ward, {})[patient] = CensusEntry(patient, encounter.get("id"), since)
        return {ward: sorted(found.values(), key=lambda e: e.patient) for ward, found in sorted(wards.items())}

    async def demographics(self, patient_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Patient id -> demographics, for the ids the EHR knows (batched ``_id`` searches)."""
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(patient_ids), ID_BATCH):
            batch = patient_ids[start : start + ID_BATCH]
            params = {"_id": ",".join(batch), "_count": str(len(batch))}
            for patient in await self._ehr().fhir_search("Patient", params):
                found[str(patient.get("id"))] = chart.demographics(patient)
        return found

    async def ehr_sections(self, patient_id: str) -> dict[str, Any]:
        """demographics, allergies, vitals, medications; raises DependencyError (NotFound: no such patient)."""
        ehr = self._ehr()
        patient, allergies, vitals, medications = await asyncio.gather(
            ehr.fhir_read("Patient", patient_id),
            ehr.fhir_search("AllergyIntolerance", {"patient": patient_id, "_count": "100"}),
            ehr.fhir_search("Observation", {"patient": patient_id, "category": chart.VITAL_SIGNS, "_count": "200"}),
            ehr.fhir_search("MedicationRequest", {"patient": patient_id, "status": "active", "_count": "100"}),
            return_exceptions=True,
        )
        outcomes = (patient, allergies, vitals, medications)
        for outcome in outcomes:  # an outage anywhere wins over "not found"
            if isinstance(outcome, DependencyError) and not isinstance(outcome, NotFound):
                raise outcome
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        assert isinstance(patient, dict) and isinstance(allergies, list)
        assert isinstance(vitals, list) and isinstance(medications, list)
        return {
            "demographics": section("ok", chart.demographics(patient)),
            "allergies": section("ok", chart.allergies(allergies)),
            "vitals": section("ok", chart.latest_vitals(vitals)),
            "medications": section("ok", chart.medications(medications)),
        }

    async def results(self, patient_id: str) -> dict[str, Any]:
        labs = self.deps.get("labs")
        if labs is None:
            return section("not-configured", detail="no lab results portal is configured (--labs-url)")
        try:
            documents = await labs.get_json(f"patients/{patient_id}/results")
        except NotFound:
            return section("ok", [], "the lab portal knows no results for this patient")
        except DependencyError as error:
            return section("unavailable", detail=str(error))
        return section("ok", chart.results(documents))

    async def imaging(self, patient_id: str) -> dict[str, Any]:
        pacs = self.deps.get("imaging")
        if pacs is None:
            return section("not-configured", detail="no imaging archive is configured (--imaging-url)")
        try:
            studies = await pacs.get_json("studies", {"PatientID": patient_id}, accept=DICOM_JSON)
        except DependencyError as error:
            return section("unavailable", detail=str(error))
        return section("ok", chart.imaging(studies or []))

    async def chart_parts(self, patient_id: str) -> dict[str, Any]:
        """Every section; raises DependencyError when the EHR's part cannot be read."""
        ehr_task = asyncio.ensure_future(self.ehr_sections(patient_id))
        results, imaging = await asyncio.gather(self.results(patient_id), self.imaging(patient_id))
        ehr_part: dict[str, Any] = await ehr_task
        return {**ehr_part, "results": results, "imaging": imaging}


@dataclass
class ScheduleMirror:
    """The schedules as last read through the change feed. ``until`` is scheduling's own clock."""

    documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    until: str | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def refresh(self, scheduling: Dependency) -> None:
        """Apply the changes since the last poll; raises DependencyError (the mirror is left as it was)."""
        async with self.lock:  # two polls at once could apply an older answer last
            await self._poll(scheduling)

    async def _poll(self, scheduling: Dependency) -> None:
        answer = await scheduling.get_json("schedules/changes", {"since": self.until or EPOCH})
        if not isinstance(answer, dict) or not isinstance(answer.get("schedules"), list):
            raise BadAnswer("scheduling", "scheduling answered a change feed without a 'schedules' list")
        for document in answer["schedules"]:
            if isinstance(document, dict) and isinstance(document.get("id"), str):
                self.documents[document["id"]] = document
        self.until = str(answer.get("until") or self.until or EPOCH)
