"""The clinical personas and their tasks, as data: what each simulated user does, against
which service, and how often by default.

Pure data, imported on both sides: by the harness (to validate experiments before anything
starts) and by the Locust processes (to build the user classes). It must never import
Locust or gevent.

Default task weights follow the EHR time study of Overhage & McCallie (Ann Intern Med
2020;172:169-174, 155 000 physicians): chart review 33 %, documentation 24 %, ordering 17 %
of clinicians' EHR time; the remaining quarter (inbox, results, imaging) is split between
result and imaging review. Every weight can be overridden per experiment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Protocol = Literal["http", "mllp"]


@dataclass(frozen=True)
class TaskSpec:
    """One thing a persona does: ``service`` is where its requests go, ``writes`` whether it
    creates data the checkers must find again after a failover."""

    name: str
    service: str
    weight: float
    writes: bool
    description: str


@dataclass(frozen=True)
class PersonaSpec:
    """A kind of load user: ``weight`` is its default share of the users."""

    name: str
    protocol: Protocol
    weight: float
    description: str
    tasks: tuple[TaskSpec, ...]

    def task(self, name: str) -> TaskSpec:
        """The task called ``name``. Raises ``KeyError`` if the persona has none."""
        for task in self.tasks:
            if task.name == name:
                return task
        raise KeyError(name)

    @property
    def task_names(self) -> tuple[str, ...]:
        return tuple(task.name for task in self.tasks)


PERSONAS: dict[str, PersonaSpec] = {
    persona.name: persona
    for persona in (
        PersonaSpec("nurse", "http", 10, "ward nurse: reviews charts, enters vitals, records medication given", (
            TaskSpec("chart_review", "ehr", 33, False, "patient, allergies, latest vitals, active medications"),
            TaskSpec("vitals_entry", "ehr", 24, True, "a set of vital signs as an Observation"),
            TaskSpec("medication_administration", "ehr", 17, True,
                     "reads the active orders, records a dose given as a MedicationAdministration"),
        )),
        PersonaSpec("physician", "http", 6, "ward physician: reviews charts and results, documents, orders", (
            TaskSpec("chart_review", "ehr", 33, False, "patient, encounters, conditions, vitals, medications"),
            TaskSpec("documentation", "ehr", 24, True, "a progress note as an Observation"),
            TaskSpec("orders", "ehr", 17, True, "a medication order (MedicationRequest)"),
            TaskSpec("result_review", "labs", 16, False, "the patient's results on the lab portal"),
            TaskSpec("imaging_review", "imaging", 10, False, "the patient's studies (QIDO-RS) and one's metadata"),
        )),
        PersonaSpec("lab_system", "mllp", 2, "laboratory system: sends results (ORU^R01) over MLLP", (
            TaskSpec("send_result", "messaging", 1, True,
                     "an ORU^R01 to the primary engine, the backup engine if the primary fails"),
        )),
        PersonaSpec("radiology_modality", "http", 1, "CT/MR modality: stores new images (STOW-RS)", (
            TaskSpec("store_study", "imaging", 1, True, "one new DICOM instance of a new study"),
        )),
        PersonaSpec("scheduler", "http", 1, "staff/OR scheduler: reviews and updates staff and OR schedules", (
            TaskSpec("schedule_review", "scheduling", 3, False, "the ward's staff and OR schedules"),
            TaskSpec("schedule_update", "scheduling", 1, True, "adds a slot to a schedule (If-Match)"),
        )),
        PersonaSpec("ward_clinician", "http", 10,
                    "ward nurse or physician at a workstation, using the care application (downtime mode included)", (
            TaskSpec("ward_round", "care", 10, False, "the ward's patient list"),
            TaskSpec("chart_review", "care", 33, False, "a patient's chart (live, or the downtime snapshot)"),
            TaskSpec("order_entry", "care", 17, True, "a medication order (created, or queued in downtime)"),
            TaskSpec("print_documents", "care", 5, False, "the medication administration record as a PDF"),
            TaskSpec("ward_schedule", "care", 5, False, "the ward's staff rota and bookings"),
            TaskSpec("admission", "care", 3, True, "registers a new patient (a downtime id while down) and orders "
                                                   "for them at once"),
        )),
    )
}
"""Every persona, by name."""
