"""The ward clinician at a workstation: the clinicians' care application (not the EHR's API).

Imports Locust (see the package docstring). Each user sits at one workstation (``care-1``,
``care-2``, ...: the plan's ``http_targets`` under those names), picks a ward from the
application's census and works on its patients: chart review, medication orders, the
medication administration record printed as a PDF, the ward's schedule.

What every answer records (for the degraded-mode checks): ``mode`` (``X-Care-Mode``),
``as_of`` (``X-Snapshot-As-Of``: the data time of a downtime answer) and ``patient``. Orders
also record their ``write_key`` (the order's identifier in the EHR, found again after
recovery), ``resource_id`` when created live, ``downtime_id`` when queued. An order's
``authored`` time is the request's start, so the checks can compare it with the EHR's
``authoredOn`` after reconciliation. A printed document must carry the patient's identifier
on every page, else the request fails with ``identity-missing``.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from locust.env import Environment

from harness.load.users import clinical
from harness.load.users.base import BadBody, HttpPersona, Reply

ORDER_SYSTEM = "urn:hchaos:care:order"
"""Where the care application puts an order's client key (mock_services.care.identifiers)."""
REGISTRATION_SYSTEM = "urn:hchaos:care:registration"
"""Where it puts a registration's client key."""

SERVICE = "care"
PATIENTS_PER_CLINICIAN = 5
_MEDICATIONS = (("N02BE01", "Paracétamol 1 g", "1 g toutes les 6 h"),
                ("B01AB05", "Énoxaparine 4000 UI", "4000 UI une fois par jour"),
                ("J01CR02", "Amoxicilline + acide clavulanique 1 g", "1 g toutes les 8 h"))


def order_write_key(order_id: str) -> str:
    return f"MedicationRequest?identifier={ORDER_SYSTEM}|{order_id}"


def registration_write_key(registration_id: str) -> str:
    return f"Patient?identifier={REGISTRATION_SYSTEM}|{registration_id}"


def stamp(reply: Reply) -> None:
    """Record the mode and data time the application answered with."""
    mode = reply.header("X-Care-Mode")
    if mode:
        reply.context["mode"] = mode
    as_of = reply.header("X-Snapshot-As-Of")
    if as_of:
        reply.context["as_of"] = float(as_of)


class WardClinicianUser(HttpPersona):
    """A ward nurse or physician using the care application (workstation side)."""

    abstract = True

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        workstations = sorted(name for name in self.plan.http_targets if name.startswith(f"{SERVICE}-"))
        index = int(self.user_id.rsplit("-", 1)[-1]) if self.user_id.rsplit("-", 1)[-1].isdigit() else 0
        self.workstation = workstations[index % len(workstations)] if workstations else SERVICE
        self.ward: str | None = None
        self.looked_for_ward = False
        self.patients: list[str] = []

    def url(self, service: str, path: str) -> str:
        target = self.workstation if service == SERVICE else service
        return self.plan.http_targets[target].rstrip("/") + path

    def _patient(self) -> str | None:
        """A patient of this user's ward, or -- when the census lists none -- of the few synthetic
        patients this user looks after (the application adds the charts clinicians open to its
        downtime snapshot, so those stay readable in downtime)."""
        if not self.patients and not self.looked_for_ward:
            self.ward_round()
        if not self.patients and self.plan.patients > 0:
            self.patients = sorted({clinical.synthetic_patient(self.rng.randint(1, self.plan.patients))
                                    for _ in range(PATIENTS_PER_CLINICIAN)})
        if self.patients:
            return self.rng.choice(self.patients)
        return self.patient()

    def ward_round(self) -> None:
        """The ward's patient list (the ward is chosen once, from the census)."""
        if self.ward is None:
            if self.looked_for_ward:
                return
            reply = self.call("GET", SERVICE, "/wards", "care: GET /wards", check=stamp, context=self.context())
            if reply is None:
                return
            self.looked_for_ward = True
            wards = [w["ward"] for w in reply.body.get("wards", []) if w.get("patients")]
            if not wards:
                return
            self.ward = self.rng.choice(sorted(wards))
        found: list[str] = []

        def check(reply: Reply) -> None:
            stamp(reply)
            found.extend(str(p["id"]) for p in reply.body.get("patients", []) if p.get("id"))

        if self.call("GET", SERVICE, f"/wards/{self.ward}/patients", "care: GET /wards/{ward}/patients",
                     check=check, context=self.context()) and found:
            self.patients = found

    def chart_review(self) -> None:
        patient = self._patient()
        if patient is not None:
            self.call("GET", SERVICE, f"/patients/{patient}/chart", "care: GET /patients/{id}/chart", check=stamp,
                      context={**self.context(), "patient": patient})

    def admission(self) -> None:
        """A new patient arrives (registered live, or with a downtime identifier while the EHR is
        down) and is prescribed at once: the order must land on that patient once reconciled."""
        registration_id = self.next_write_id()
        given = self.rng.choice(("Camille", "Louis", "Inès", "Hugo", "Léa", "Nathan"))
        body = {"family": f"ADMIS-{registration_id[-12:].upper()}", "given": given,
                "birth_date": f"{self.rng.randint(1930, 2020)}-0{self.rng.randint(1, 9)}-1{self.rng.randint(0, 9)}",
                "gender": self.rng.choice(("male", "female")), "registration_id": registration_id}
        registered: dict[str, str] = {}

        def check(reply: Reply) -> None:
            stamp(reply)
            patient_id = str(reply.body["patient_id"])
            registered["id"] = patient_id
            reply.context["patient"] = patient_id
            if reply.body.get("status") in ("queued", "reconciled") and reply.body.get("downtime_id"):
                reply.context["downtime_id"] = str(reply.body["downtime_id"])
            else:
                reply.context["resource_id"] = f"Patient/{patient_id}"

        self.call("POST", SERVICE, "/patients", "care: POST /patients", expect=(200, 201, 202), json_body=body,
                  check=check, context={**self.context(), "write_key": registration_write_key(registration_id)})
        if "id" in registered:
            self.order_entry(registered["id"])

    def order_entry(self, patient: str | None = None) -> None:
        """A medication order: created live (201) or queued in downtime (202)."""
        patient = patient or self._patient()
        if patient is None:
            return
        code, display, dosage = self.rng.choice(_MEDICATIONS)
        order_id = self.next_write_id()
        started = time.time()
        body = {"kind": "medication", "code": code, "system": "http://www.whocc.no/atc", "display": display,
                "dosage": dosage, "requester": f"load {self.user_id}", "order_id": order_id,
                "authored": datetime.fromtimestamp(started, UTC).isoformat(timespec="milliseconds")}

        def check(reply: Reply) -> None:
            stamp(reply)
            status = reply.body.get("status")
            if status not in ("created", "existed", "queued"):
                raise BadBody(f"order status {status!r}")
            if status == "queued":
                reply.context["downtime_id"] = str(reply.body["downtime_id"])
            else:
                reply.context["resource_id"] = str(reply.body["resource"])

        self.call("POST", SERVICE, f"/patients/{patient}/orders", "care: POST /patients/{id}/orders",
                  expect=(200, 201, 202), json_body=body, check=check,
                  context={**self.context(), "patient": patient, "write_key": order_write_key(order_id)})

    def print_documents(self) -> None:
        """The medication administration record as a PDF, stamped with the patient on every page."""
        patient = self._patient()
        if patient is None:
            return

        def check(reply: Reply) -> None:
            stamp(reply)
            as_of = reply.header("X-Document-As-Of")
            if as_of and "as_of" not in reply.context:
                reply.context["as_of"] = float(as_of)

        self.call("GET", SERVICE, f"/patients/{patient}/documents/mar.pdf",
                  "care: GET /patients/{id}/documents/mar.pdf", parse_json=False,
                  check=_identity_on_every_page(patient, check), context={**self.context(), "patient": patient})

    def ward_schedule(self) -> None:
        if self.ward is None:
            self.ward_round()
        if self.ward is not None:
            self.call("GET", SERVICE, f"/wards/{self.ward}/schedule", "care: GET /wards/{ward}/schedule",
                      check=stamp, context=self.context())


def _identity_on_every_page(patient: str, then: Any) -> Any:
    def check(reply: Reply) -> None:
        then(reply)
        content = reply.body if isinstance(reply.body, bytes) else b""
        pages = content.count(b"/Type /Page") - content.count(b"/Type /Pages")
        stamped = content.count(patient.encode())
        if pages <= 0 or stamped < pages:
            reply.context["error"] = "identity-missing"
            raise BadBody(f"{pages} page(s), patient {patient} printed {stamped} time(s)")
    return check
