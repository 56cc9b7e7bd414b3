"""The HTTP personas: ward nurse, ward physician, radiology modality, staff/OR scheduler.

Imports Locust (see the package docstring). Each task is a method named like its
:mod:`harness.load.catalogue` task; :mod:`.factory` builds the plan's classes from these with
the plan's weights. A task sends one or a few requests through the front door (absolute URLs
of ``plan.http_targets``), named ``"<service>: <METHOD> <what>"`` with ids replaced by
placeholders, so Locust's statistics and the timeline group them stably.

Expected answers (anything else is a failure): reads 200 (QIDO-RS also 204, "no study");
FHIR creates 201, the conditional create of a ward patient 200 or 201; STOW-RS 200 with our
instance in the Referenced SOP Sequence; a schedule slot 201 -- or 412 when another
scheduler changed the schedule between our read and our write: optimistic concurrency
doing its job, so reported as a success that wrote nothing (no ``version`` recorded). A read
of a resource this user has just created that answers 404 is a failure (read-your-writes).

Recorded write identifiers: FHIR creates ``resource_id``/``version`` (from ``Location``, by
the recorder); STOW ``instance_uid`` (set before sending: an indeterminate store is still
traceable); schedule slots ``resource_id = "Schedule/<id>"`` and ``version`` from ``ETag``.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from locust.env import Environment

from harness.load.users import clinical
from harness.load.users.base import BadBody, HttpPersona, Reply
from harness.load.users.dicom import NewImages, stow_body
from harness.readback.keys import dicom_write_key

_ETAG = re.compile(r'^(?:W/)?"?([^"]+)"?$')
REFERENCED_SOP_SEQUENCE = "00081199"
REFERENCED_SOP_INSTANCE_UID = "00081155"
STUDY_INSTANCE_UID = "0020000D"
DICOM_JSON = "application/dicom+json"


def etag_version(value: str | None) -> str | None:
    """``3`` from ``W/"3"``."""
    match = _ETAG.match(value.strip()) if value else None
    return match.group(1) if match else None


def _bundle_resources(reply: Reply) -> list[dict[str, Any]]:
    body = reply.body
    if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
        raise BadBody("not a FHIR Bundle")
    return [entry["resource"] for entry in body.get("entry", [])]


def _check_bundle(reply: Reply) -> None:
    _bundle_resources(reply)


class ClinicianPersona(HttpPersona):
    """Nurse and physician: chart reads and FHIR creates on the EHR."""

    abstract = True

    def _read_patient(self, patient: str) -> None:
        def check(reply: Reply) -> None:
            if reply.body.get("resourceType") != "Patient" or reply.body.get("id") != patient:
                raise BadBody(f"not Patient/{patient}")

        self.call("GET", "ehr", f"/Patient/{patient}", "ehr: GET Patient/{id}", check=check)

    def _search(self, resource_type: str, query: str, name: str) -> Reply | None:
        return self.call("GET", "ehr", f"/{resource_type}?{query}", f"ehr: GET {resource_type}?{name}",
                         check=_check_bundle)

    def _create(self, resource: dict[str, Any], label: str) -> str | None:
        """POST a new resource (expects 201); its ``Type/id``, or None."""
        resource_type = resource["resourceType"]
        created: dict[str, str] = {}

        def check(reply: Reply) -> None:
            resource_id = reply.body["id"]
            if reply.body.get("resourceType") != resource_type or not isinstance(resource_id, str):
                raise BadBody(f"not a {resource_type} with an id")
            created["id"] = f"{resource_type}/{resource_id}"
            source = (reply.body.get("meta") or {}).get("source")
            if isinstance(source, str):  # who accepted it, in which term: for the split-brain check
                reply.context["accepted_by"] = source
            if not reply.header("Location"):  # the recorder reads the ids from Location
                reply.context["resource_id"] = created["id"]
                reply.context["version"] = str(reply.body.get("meta", {}).get("versionId", "")) or None

        reply = self.call("POST", "ehr", f"/{resource_type}", f"ehr: POST {resource_type}{label}", expect=(201,),
                          json_body=resource, check=check, context={"write_key": clinical.write_key(resource)})
        return created["id"] if reply is not None else None

    def _read_back(self, reference: str) -> None:
        """GET what this user just created: a 404 means the write it was told about is gone."""
        resource_type, resource_id = reference.split("/", 1)

        def check(reply: Reply) -> None:
            if reply.body.get("id") != resource_id:
                raise BadBody(f"not {reference}")
            version = (reply.body.get("meta") or {}).get("versionId")
            if version is not None:  # what this read saw: the ledger's stale-read input
                reply.context["version"] = str(version)

        self.call("GET", "ehr", f"/{reference}", f"ehr: GET {resource_type}/{{id}} (read back)", check=check,
                  context={"resource_id": reference})

    def _active_orders(self, patient: str) -> list[dict[str, Any]] | None:
        reply = self._search("MedicationRequest", f"patient={patient}&status=active", "patient&status=active")
        return _bundle_resources(reply) if reply is not None else None


class NurseUser(ClinicianPersona):
    """Ward nurse (tasks: chart_review, vitals_entry, medication_administration)."""

    abstract = True
    persona = "nurse"

    def chart_review(self) -> None:
        patient = self.patient()
        if patient is None:
            return
        self._read_patient(patient)
        self._search("AllergyIntolerance", f"patient={patient}", "patient")
        self._search("Observation", f"patient={patient}&category=vital-signs&_count=10", "patient&category=vital-signs")
        self._active_orders(patient)

    def vitals_entry(self) -> None:
        patient = self.patient()
        if patient is None:
            return
        created = self._create(clinical.vital_signs(patient, self.next_write_id(), self.rng), " (vital signs)")
        if created is not None:
            self._read_back(created)

    def medication_administration(self) -> None:
        patient = self.patient()
        if patient is None:
            return
        orders = self._active_orders(patient)
        if orders is None:
            return  # the nurse cannot see the orders: no dose recorded against nothing
        order = self.rng.choice(orders) if orders else None
        dose = clinical.medication_administration(patient, self.next_write_id(), self.rng, order)
        self._create(dose, "")


class PhysicianUser(ClinicianPersona):
    """Ward physician (tasks: chart_review, documentation, orders, result_review, imaging_review)."""

    abstract = True
    persona = "physician"

    def chart_review(self) -> None:
        patient = self.patient()
        if patient is None:
            return
        self._read_patient(patient)
        self._search("Encounter", f"patient={patient}", "patient")
        self._search("Observation", f"patient={patient}&category=vital-signs&_count=10", "patient&category=vital-signs")
        self._active_orders(patient)

    def documentation(self) -> None:
        patient = self.patient()
        if patient is None:
            return
        self._create(clinical.progress_note(patient, self.next_write_id(), self.rng), " (progress note)")

    def orders(self) -> None:
        patient = self.patient()
        if patient is None:
            return
        self._create(clinical.medication_request(patient, self.next_write_id(), self.rng), "")

    def result_review(self) -> None:
        patient = self.patient()
        if patient is None:
            return

        def check(reply: Reply) -> None:
            if not isinstance(reply.body, list):
                raise BadBody("the results are not a JSON list")

        self.call("GET", "labs", f"/patients/{patient}/results", "labs: GET /patients/{id}/results", check=check)

    def imaging_review(self) -> None:
        patient = self.patient()
        if patient is None:
            return

        found: list[str] = []

        def check(reply: Reply) -> None:
            if reply.status == 204:
                return
            if not isinstance(reply.body, list):
                raise BadBody("QIDO-RS answer is not a JSON list")
            found.extend(str(study[STUDY_INSTANCE_UID]["Value"][0]) for study in reply.body)

        self.call("GET", "imaging", f"/studies?PatientID={patient}", "imaging: GET /studies?PatientID",
                  expect=(200, 204), headers={"Accept": DICOM_JSON}, check=check)
        if not found:
            return
        study_uid = self.rng.choice(found)

        def check_metadata(reply: Reply) -> None:
            if not isinstance(reply.body, list) or not reply.body:
                raise BadBody("study metadata is not a non-empty JSON list")

        self.call("GET", "imaging", f"/studies/{study_uid}/metadata", "imaging: GET /studies/{uid}/metadata",
                  headers={"Accept": DICOM_JSON}, check=check_metadata)


class RadiologyModalityUser(HttpPersona):
    """CT/MR modality (task: store_study): each acquisition is one new image of a new study."""

    abstract = True
    persona = "radiology_modality"

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        self._images = NewImages()

    def store_study(self) -> None:
        index = self.synthetic_index()
        # A modality takes its patients from the worklist, not the EHR: with no synthetic
        # patients it images a per-user one.
        patient = clinical.synthetic_patient(index) if index is not None else f"LOAD-{self.user_id}"
        accession = f"L{self.user_id.replace('-', '')}{self.rng.randrange(16**6):06X}"
        image = self._images.new(patient, f"CHARGE^PATIENT {patient}", accession)
        body, content_type = stow_body(image.data)

        def check(reply: Reply) -> None:
            stored = reply.body[REFERENCED_SOP_SEQUENCE]["Value"]
            if not any(item[REFERENCED_SOP_INSTANCE_UID]["Value"][0] == image.sop_uid for item in stored):
                raise BadBody("the store response does not reference the instance sent")

        self.call("POST", "imaging", "/studies", "imaging: POST /studies (STOW-RS)", expect=(200,), data=body,
                  headers={"Content-Type": content_type, "Accept": DICOM_JSON},
                  context={"instance_uid": image.sop_uid, "write_key": dicom_write_key(image.sop_uid)}, check=check)


class SchedulerUser(HttpPersona):
    """Staff/OR scheduler (tasks: schedule_review, schedule_update)."""

    abstract = True
    persona = "scheduler"

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        self._staff_schedules: list[str] = []

    def _list(self, query: str = "") -> list[str] | None:
        """The ids of the schedules (``query``: e.g. ``?kind=staff``), or None on failure."""
        ids: list[str] = []

        def check(reply: Reply) -> None:
            if not isinstance(reply.body, list):
                raise BadBody("the schedule list is not a JSON list")
            ids.extend(str(summary["id"]) for summary in reply.body)

        reply = self.call("GET", "scheduling", f"/schedules{query}", f"scheduling: GET /schedules{query}", check=check)
        return ids if reply is not None else None

    def _read(self, schedule_id: str) -> Reply | None:
        def check(reply: Reply) -> None:
            if reply.body.get("id") != schedule_id or not isinstance(reply.body.get("slots"), list):
                raise BadBody(f"not schedule {schedule_id}")
            datetime.fromisoformat(reply.body["date"])  # the update builds its slot on this day

        return self.call("GET", "scheduling", f"/schedules/{schedule_id}", "scheduling: GET /schedules/{id}",
                         check=check)

    def schedule_review(self) -> None:
        schedules = self._list()
        if schedules:
            self._read(self.rng.choice(schedules))

    def schedule_update(self) -> None:
        if not self._staff_schedules:
            self._staff_schedules = self._list("?kind=staff") or []
            if not self._staff_schedules:
                return  # no schedules (a hospital with no data) or no answer: nothing to update
        schedule_id = self.rng.choice(self._staff_schedules)
        current = self._read(schedule_id)
        etag = current.header("ETag") if current is not None else None
        if current is None or etag is None:
            return
        day = datetime.fromisoformat(f"{current.body['date']}T00:00:00+02:00")
        start = day + timedelta(hours=self.rng.randint(8, 17), minutes=self.rng.choice((0, 15, 30, 45)))
        slot = {
            "start": start.isoformat(),
            "end": (start + timedelta(hours=1)).isoformat(),
            "shift": f"renfort-{self.next_write_id()}",  # staff shifts must be unique in a schedule
            "staff": [{"name": f"Renfort {self.user_id}", "role": "infirmier"}],
        }

        def check(reply: Reply) -> None:
            if reply.status == 201:
                reply.context["version"] = etag_version(reply.header("ETag"))
                if reply.context["version"] is None:
                    raise BadBody("201 without an ETag")
            else:  # 412: someone else wrote first; nothing written, nothing to record
                reply.context.pop("resource_id", None)

        self.call("POST", "scheduling", f"/schedules/{schedule_id}/slots", "scheduling: POST /schedules/{id}/slots",
                  expect=(201, 412), json_body=slot, headers={"If-Match": etag},
                  context={"resource_id": f"Schedule/{schedule_id}"}, check=check)
