"""The care application as a real process, with the real EHR, scheduling and notification sink processes.

The EHR is SIGKILLed (a data-center power cut) and later restarted on the same port and file;
the care application itself is SIGKILLed in the middle of the downtime and restarted: nothing
it accepted may be lost, and everything must reach the EHR exactly once.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mock_services.care.identifiers import DOWNTIME_ORDER_SYSTEM, DOWNTIME_PATIENT_SYSTEM
from mock_services.care.testing import Processes
from mock_services.common.testing import wait_until

pytestmark = pytest.mark.integration
FHIR_JSON = "application/fhir+json"
WARD = "cardiologie"
FAST = ["--probe-interval", "0.2", "--breaker-failures", "2", "--breaker-window", "5", "--breaker-reset", "0.5",
        "--dependency-timeout", "1", "--snapshot-interval", "3", "--max-snapshot-age", "30",
        "--ward", WARD]  # fmt: skip


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    started = Processes(tmp_path)
    try:
        yield started
    finally:
        started.close()


def get(url: str, **params: Any) -> Any:
    return httpx.get(url, params=params, timeout=5).json()


def search(ehr: str, resource_type: str, identifier: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in get(f"{ehr}/{resource_type}", identifier=identifier).get("entry", [])]


def test_power_cut_downtime_workstation_crash_and_exactly_once_recovery(processes: Processes) -> None:
    ehr, scheduling, notify = processes.ehr(patients=20), processes.scheduling(patients=20), processes.notify()
    for process in (ehr, scheduling, notify):
        processes.wait_healthy(process)
    for patient in ("p000001", "p000002"):
        encounter = {"resourceType": "Encounter", "status": "in-progress", "class": {"code": "IMP"},
                     "subject": {"reference": f"Patient/{patient}"}, "serviceProvider": {"display": WARD}}  # fmt: skip
        created = httpx.post(f"{ehr.url}/Encounter", json=encounter, headers={"Content-Type": FHIR_JSON})
        assert created.status_code == 201
    flags = ["--ehr-url", ehr.url, "--scheduling-url", scheduling.url, "--notify-url", f"{notify.url}/notifications",
             *FAST]  # fmt: skip
    care = processes.care("care-1", *flags)
    processes.wait_healthy(care)
    wait_until(lambda: get(f"{care.url}/downtime/status")["snapshot"].get("patients") == 2, 10, "first snapshot")
    as_of = get(f"{care.url}/downtime/status")["snapshot"]["as_of"]

    ehr.kill()  # power cut in dc-a
    cut = time.monotonic()
    wait_until(lambda: get(f"{care.url}/health")["mode"] == "downtime", 10, "downtime mode")
    print(f"downtime mode {time.monotonic() - cut:.2f} s after the power cut")
    wait_until(lambda: get(f"{notify.url}/notifications", event="downtime")["notifications"], 5, "notification")
    chart = httpx.get(f"{care.url}/patients/p000001/chart", timeout=5)
    assert chart.status_code == 200 and chart.headers["x-care-mode"] == "downtime"
    snapshot_as_of = float(chart.headers["x-snapshot-as-of"])
    assert snapshot_as_of >= as_of and chart.json()["as_of"] == snapshot_as_of
    assert chart.json()["results_complete"] is False

    order = httpx.post(f"{care.url}/patients/p000001/orders", timeout=5,
                       json={"kind": "medication", "display": "Morphine 5 mg", "order_id": "proc-1"})  # fmt: skip
    assert order.status_code == 202, order.text
    registration = httpx.post(f"{care.url}/patients", timeout=5,
                              json={"family": "Sans-Nom", "given": "Urgence", "birth_date": "1980-01-01"})  # fmt: skip
    new_patient = registration.json()["patient_id"]
    second = httpx.post(f"{care.url}/patients/{new_patient}/orders", timeout=5,
                        json={"kind": "medication", "display": "Ceftriaxone 1 g"})  # fmt: skip
    assert registration.status_code == second.status_code == 202
    pdf = httpx.get(f"{care.url}/patients/p000002/documents/mar.pdf", timeout=5)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")

    care.kill()  # the workstation crashes too
    care.start()
    processes.wait_healthy(care)
    assert get(f"{care.url}/downtime/queue", state="queued")["counts"]["queued"] == 3  # nothing accepted was lost
    wait_until(lambda: get(f"{care.url}/health")["mode"] == "downtime", 10, "downtime again after the restart")

    ehr.start()  # power is back
    processes.wait_healthy(ehr)
    wait_until(lambda: get(f"{care.url}/health")["mode"] == "normal", 15, "downtime mode left")
    wait_until(lambda: get(f"{care.url}/health")["queue_depth"] == 0, 15, "queue reconciled")
    wait_until(lambda: get(f"{notify.url}/notifications", event="restored")["notifications"], 5, "restored")

    [patient] = search(ehr.url, "Patient", f"{DOWNTIME_PATIENT_SYSTEM}|{new_patient}")
    [first] = search(ehr.url, "MedicationRequest", f"{DOWNTIME_ORDER_SYSTEM}|{order.json()['downtime_id']}")
    [other] = search(ehr.url, "MedicationRequest", f"{DOWNTIME_ORDER_SYSTEM}|{second.json()['downtime_id']}")
    assert first["authoredOn"] == order.json()["authored"] and other["authoredOn"] == second.json()["authored"]
    assert other["subject"]["reference"] == f"Patient/{patient['id']}"
    assert all(any(t["code"] == "downtime" for t in r["meta"]["tag"]) for r in (patient, first, other))
    reconciliation = get(f"{care.url}/downtime/reconciliation")
    assert len(reconciliation["reconciled"]) == 3 and not reconciliation["failed"]
    events = [n["event"] for n in get(f"{notify.url}/notifications")["notifications"]]
    assert events.count("restored") >= 1 and events[0] == "downtime"
