"""The care application against the real EHR, lab portal, scheduling and notification sink (in-process).

The links from the care application to each service are :class:`~mock_services.care.testing.Switch`
transports: cutting one is a data-center outage as the workstation sees it.
"""

from __future__ import annotations

import io
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pypdf
import pytest

from mock_services.care.dependencies import Unavailable
from mock_services.care.documents import format_time
from mock_services.care.identifiers import DOWNTIME_ORDER_SYSTEM, DOWNTIME_PATIENT_SYSTEM
from mock_services.care.testing import InProcess, admit, eventually, in_process

pytestmark = pytest.mark.anyio
FHIR_JSON = "application/fhir+json"
WARD = "cardiologie"
MED = {"kind": "medication", "display": "Paracétamol 1 g", "code": "N02BE01", "system": "http://www.whocc.no/atc",
       "dosage": "1 g toutes les 6 h", "requester": "Dr Martin"}  # fmt: skip


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def hospital(tmp_path: Path) -> AsyncIterator[InProcess]:
    async with in_process(tmp_path) as h:
        await admit(h.ehr, WARD, ["p000001", "p000002", "p000003"])
        yield h


async def snapshot_now(h: InProcess) -> float:
    response = await h.care.post("/_admin/snapshot")
    assert response.status_code == 200 and response.json()["refreshed"] is True, response.text
    as_of: float = response.json()["snapshot"]["as_of"]
    return as_of


async def cut_ehr(h: InProcess) -> float:
    """Cut the EHR (for the care app and the lab portal); returns how long downtime mode took to engage."""
    started = time.monotonic()
    h.links["ehr"].down = h.links["labs-ehr"].down = True
    await eventually(lambda: h.state.downtime, 5.0, "downtime mode entered")
    return time.monotonic() - started


async def restore_ehr(h: InProcess) -> None:
    h.links["ehr"].down = h.links["labs-ehr"].down = False
    await eventually(lambda: not h.state.downtime, 5.0, "downtime mode left")


async def notifications(h: InProcess, event: str) -> list[dict[str, Any]]:
    response = await h.notify.get("/notifications", params={"event": event})
    found: list[dict[str, Any]] = response.json()["notifications"]
    return found


async def ehr_search(h: InProcess, resource_type: str, identifier: str) -> list[dict[str, Any]]:
    response = await h.ehr.get(f"/{resource_type}", params={"identifier": identifier})
    return [entry["resource"] for entry in response.json().get("entry", [])]


async def test_normal_mode_reads_live_and_creates_orders_idempotently(hospital: InProcess) -> None:
    h = hospital
    wards = await h.care.get("/wards")
    assert wards.status_code == 200 and wards.headers["x-care-mode"] == "normal"
    assert "x-snapshot-as-of" not in wards.headers and wards.headers["x-served-by"] == "care-1"
    assert {"ward": WARD, "patients": 3} in wards.json()["wards"] and wards.json()["mode"] == "normal"
    patients = (await h.care.get(f"/wards/{WARD}/patients")).json()["patients"]
    assert [p["id"] for p in patients] == ["p000001", "p000002", "p000003"] and all(p["birth_date"] for p in patients)

    chart = (await h.care.get("/patients/p000001/chart")).json()
    assert chart["source"] == "live" and chart["as_of"] is None and chart["results_complete"] is True
    assert chart["demographics"]["items"]["id"] == "p000001" and chart["medications"]["status"] == "ok"
    assert chart["results"]["status"] == "ok" and chart["imaging"] == {**chart["imaging"], "status": "ok", "items": []}
    studies = (await h.care.get("/patients/p000003/chart")).json()["imaging"]["items"]
    assert [s["description"] for s in studies] == ["Radiographie du thorax"] and studies[0]["study_uid"]

    created = await h.care.post("/patients/p000001/orders", json={**MED, "order_id": "ord-1"})
    assert created.status_code == 201 and created.json()["status"] == "created", created.text
    again = await h.care.post("/patients/p000001/orders", json={**MED, "order_id": "ord-1"})
    assert again.status_code == 200 and again.json()["resource"] == created.json()["resource"]
    [stored] = await ehr_search(h, "MedicationRequest", "urn:hchaos:care:order|ord-1")
    assert stored["dosageInstruction"][0]["text"] == "1 g toutes les 6 h"
    registered = await h.care.post("/patients", json={"family": "Petit", "given": ["Lou"], "birth_date": "2001-05-06"})
    assert registered.status_code == 201 and registered.json()["patient_id"]

    bad = await h.care.post("/patients/p000001/orders", json={"kind": "surgery", "display": "x"})
    assert bad.status_code == 400 and bad.json()["error"] == "invalid-request" and "kind" in bad.json()["detail"]
    assert (await h.care.get("/patients/bad!id/chart")).json()["error"] == "invalid-patient-id"
    assert (await h.care.get("/patients/p999999/chart")).status_code == 404


async def test_ehr_outage_downtime_then_recovery_reconciles_exactly_once(hospital: InProcess) -> None:
    h = hospital
    as_of = await snapshot_now(h)
    late = {"resourceType": "DiagnosticReport", "status": "final", "subject": {"reference": "Patient/p000001"},
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "LAB"}]}],
            "code": {"text": "Troponine"}, "issued": "2099-01-01T00:00:00Z", "result": []}  # fmt: skip
    assert (await h.ehr.post("/DiagnosticReport", json=late, headers={"Content-Type": FHIR_JSON})).status_code == 201
    assert "Troponine" in str((await h.care.get("/patients/p000001/chart")).json()["results"]["items"])  # live: shown

    took = await cut_ehr(h)
    assert took < 2.0  # probes every 0.1 s, 2 failures open the breaker
    await eventually(lambda: notifications(h, "downtime"), 3.0, "downtime notification at the sink")
    [note] = await notifications(h, "downtime")
    assert note["source"] == "care-1" and note["snapshot_as_of"] == as_of and note["received_at"] >= note["t"]

    response = await h.care.get("/patients/p000001/chart")
    chart = response.json()
    assert response.status_code == 200 and response.headers["x-care-mode"] == "downtime"
    assert float(response.headers["x-snapshot-as-of"]) == pytest.approx(as_of, abs=1e-6)
    assert chart["mode"] == "downtime" and chart["as_of"] == as_of and chart["source"] == "snapshot"
    assert chart["results_complete"] is False and chart["not_available_after"] == as_of
    assert chart["results"]["complete"] is False and chart["results"]["source"] == "snapshot"
    assert "Troponine" not in str(chart["results"]["items"])  # arrived after the snapshot: not shown as if complete
    assert chart["demographics"]["items"]["birth_date"] and chart["medications"]["as_of"] == as_of
    unknown = await h.care.get("/patients/p000009/chart")
    assert unknown.status_code == 404 and unknown.json()["error"] == "patient-not-in-snapshot"
    assert (await h.care.get("/wards")).json()["source"] == "snapshot"

    order = await h.care.post("/patients/p000001/orders", json={**MED, "order_id": "dt-1"})
    assert order.status_code == 202, order.text
    queued = order.json()
    assert queued["downtime_id"] == "DT-O-care-1-000001" and queued["status"] == "queued"
    assert queued["patient_verified"] is True and queued["as_of"] == as_of
    repeat = await h.care.post("/patients/p000001/orders", json={**MED, "order_id": "dt-1"})
    assert repeat.status_code == 200 and repeat.json()["downtime_id"] == queued["downtime_id"]
    registered = await h.care.post("/patients", json={"family": "Inconnu", "given": "X", "birth_date": "1970-01-01"})
    assert registered.status_code == 202 and registered.json()["patient_id"] == "DT-P-care-1-000001"
    for_new = await h.care.post("/patients/DT-P-care-1-000001/orders", json={**MED, "authored": "2024-08-03T09:00:00Z"})
    assert for_new.status_code == 202 and for_new.json()["downtime_id"] == "DT-O-care-1-000002"
    new_chart = (await h.care.get("/patients/DT-P-care-1-000001/chart")).json()
    assert new_chart["source"] == "downtime-registration" and new_chart["queued_orders"][0]["display"].startswith("Par")
    assert [o["downtime_id"] for o in (await h.care.get("/patients/p000001/chart")).json()["queued_orders"]] == [
        "DT-O-care-1-000001"]

    status = (await h.care.get("/downtime/status")).json()
    assert status["mode"] == "downtime" and status["breakers"]["ehr"]["state"] in ("open", "half-open")
    assert status["queue"]["queued"] == 3 and status["snapshot"]["state"] == "ok"

    await restore_ehr(h)
    await eventually(lambda: h.state.queue.depth() == 0, 5.0, "queue reconciled")
    await eventually(lambda: notifications(h, "restored"), 3.0, "restored notification")
    reconciliation = (await h.care.get("/downtime/reconciliation")).json()
    by_id = {e["downtime_id"]: e for e in reconciliation["reconciled"]}
    assert set(by_id) == {"DT-O-care-1-000001", "DT-O-care-1-000002", "DT-P-care-1-000001"}
    [patient] = await ehr_search(h, "Patient", f"{DOWNTIME_PATIENT_SYSTEM}|DT-P-care-1-000001")
    assert reconciliation["patient_map"] == {"DT-P-care-1-000001": patient["id"]}
    [first] = await ehr_search(h, "MedicationRequest", f"{DOWNTIME_ORDER_SYSTEM}|DT-O-care-1-000001")
    assert first["authoredOn"] == queued["authored"] and any(t["code"] == "downtime" for t in first["meta"]["tag"])
    [second] = await ehr_search(h, "MedicationRequest", f"{DOWNTIME_ORDER_SYSTEM}|DT-O-care-1-000002")
    assert second["subject"]["reference"] == f"Patient/{patient['id']}"
    assert second["authoredOn"] == "2024-08-03T09:00:00.000Z"
    assert by_id["DT-O-care-1-000002"]["permanent_id"] == f"MedicationRequest/{second['id']}"
    # the downtime patient id keeps working after recovery: it now means the permanent record
    after = await h.care.get("/patients/DT-P-care-1-000001/chart")
    assert after.status_code == 200 and after.json()["patient_id"] == patient["id"]
    ran = (await h.care.post("/_admin/reconcile")).json()["progress"]
    assert ran["reconciled"] == 0 and ran["existed"] == 0  # nothing left, nothing replayed twice
    assert len(await ehr_search(h, "MedicationRequest", f"{DOWNTIME_ORDER_SYSTEM}|DT-O-care-1-000001")) == 1


async def test_documents_are_stamped_and_a_printer_failure_is_contained(hospital: InProcess) -> None:
    h = hospital
    as_of = await snapshot_now(h)
    await cut_ehr(h)
    response = await h.care.get("/patients/p000002/documents/prescriptions.pdf")
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    assert float(response.headers["x-document-as-of"]) == pytest.approx(as_of, abs=1e-6)
    chart = (await h.care.get("/patients/p000002/chart")).json()
    name, born = chart["demographics"]["items"]["name"], chart["demographics"]["items"]["birth_date"]
    for page in pypdf.PdfReader(io.BytesIO(response.content)).pages:
        text = page.extract_text()
        assert name in text and born in text and "p000002" in text and "MODE DÉGRADÉ" in text
    live = await h.care.get(f"/wards/{WARD}/documents/schedule.pdf")  # scheduling still answers: live
    assert live.status_code == 200 and float(live.headers["x-document-as-of"]) > as_of
    h.links["scheduling"].down = True  # dc-a is out: scheduling too -> the snapshot's copy, with its time
    schedule = await h.care.get(f"/wards/{WARD}/documents/schedule.pdf")
    assert schedule.status_code == 200 and schedule.headers["x-document-as-of"] == repr(as_of)
    stamp = f"Données au : {format_time(as_of)}"
    assert all(stamp in page.extract_text() for page in pypdf.PdfReader(io.BytesIO(schedule.content)).pages)

    assert (await h.care.post("/_admin/printer", json={"failing": True, "reason": "paper jam"})).status_code == 200
    broken = await h.care.get("/patients/p000002/documents/mar.pdf")
    assert broken.status_code == 503 and broken.json()["error"] == "printer-failure"
    assert broken.json()["document"] == "mar.pdf" and "paper jam" in broken.json()["detail"]
    assert broken.headers["x-care-mode"] == "downtime"
    assert (await h.care.get("/patients/p000002/chart")).status_code == 200  # everything else keeps working
    assert (await h.care.post("/patients/p000002/orders", json=MED)).status_code == 202
    await h.care.post("/_admin/printer", json={"failing": False})
    assert (await h.care.get("/patients/p000002/documents/mar.pdf")).status_code == 200


async def test_a_corrupt_snapshot_is_reported_and_orders_still_queue(hospital: InProcess) -> None:
    h = hospital
    await snapshot_now(h)
    path = h.config.state_dir / "snapshot.dat"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte on the workstation's disk
    path.write_bytes(bytes(data))
    await cut_ehr(h)
    chart = await h.care.get("/patients/p000001/chart")
    assert chart.status_code == 503 and chart.json()["error"] == "downtime-snapshot-unavailable"
    assert "checksum" in chart.json()["detail"] and chart.json()["snapshot_state"] == "corrupt"
    assert chart.headers["x-care-mode"] == "downtime" and chart.headers["x-snapshot-state"] == "corrupt"
    status = (await h.care.get("/downtime/status")).json()
    assert status["snapshot"]["state"] == "corrupt" and "checksum" in status["snapshot"]["detail"]
    order = await h.care.post("/patients/p000001/orders", json=MED)
    assert order.status_code == 202 and order.json()["patient_verified"] is False
    await eventually(lambda: notifications(h, "downtime"), 3.0, "downtime notification")
    assert (await notifications(h, "downtime"))[0]["snapshot_state"] == "corrupt"


async def test_a_missing_snapshot_is_reported(hospital: InProcess) -> None:
    h = hospital
    await snapshot_now(h)
    (h.config.state_dir / "snapshot.dat").unlink()
    await cut_ehr(h)
    chart = await h.care.get("/patients/p000001/chart")
    assert chart.status_code == 503 and chart.json()["snapshot_state"] == "missing"
    assert (await h.care.get(f"/wards/{WARD}/patients")).json()["error"] == "downtime-snapshot-unavailable"


async def test_a_full_queue_says_so_and_keeps_what_it_has(tmp_path: Path) -> None:
    async with in_process(tmp_path, queue_capacity=2) as h:
        await admit(h.ehr, WARD, ["p000001"])
        await snapshot_now(h)
        await cut_ehr(h)
        ids = [(await h.care.post("/patients/p000001/orders", json=MED)).json()["downtime_id"] for _ in range(2)]
        full = await h.care.post("/patients/p000001/orders", json=MED)
        assert full.status_code == 507 and full.json()["error"] == "downtime-queue-full"
        assert full.json()["capacity"] == 2
        queue = (await h.care.get("/downtime/queue", params={"state": "queued"})).json()
        assert [e["downtime_id"] for e in queue["entries"]] == ids


async def test_downtime_mode_off_just_fails(tmp_path: Path) -> None:
    async with in_process(tmp_path, downtime_mode=False) as h:
        await admit(h.ehr, WARD, ["p000001"])
        h.links["ehr"].down = True
        await eventually(lambda: h.state.deps["ehr"].breaker.state.value == "open", 3.0, "breaker open")
        chart = await h.care.get("/patients/p000001/chart")
        assert chart.status_code == 503 and chart.json()["error"] == "ehr-unavailable"
        assert "downtime mode is off" in chart.json()["detail"] and chart.headers["x-care-mode"] == "normal"
        order = await h.care.post("/patients/p000001/orders", json=MED)
        assert order.status_code == 503 and "NOT recorded" in order.json()["detail"]
        assert h.state.queue.counts()["queued"] == 0 and not h.state.downtime
        assert (await h.care.get("/downtime/status")).json()["snapshot"]["state"] == "missing"


async def test_a_lab_portal_outage_degrades_only_the_results_section(hospital: InProcess) -> None:
    h = hospital
    as_of = await snapshot_now(h)
    h.links["labs"].down = True
    await eventually(lambda: h.state.deps["labs"].breaker.state.value == "open", 3.0, "lab portal breaker open")
    assert not h.state.downtime  # only the EHR's breaker changes the mode
    chart = (await h.care.get("/patients/p000001/chart")).json()
    assert chart["mode"] == "normal" and chart["source"] == "live" and chart["results_complete"] is False
    assert chart["results"]["status"] == "unavailable" and chart["results"]["source"] == "snapshot"
    assert chart["results"]["as_of"] == as_of and chart["allergies"]["source"] == "live"


async def test_schedules_fall_back_to_the_snapshot_and_diff_after_recovery(hospital: InProcess) -> None:
    h = hospital
    as_of = await snapshot_now(h)
    live = (await h.care.get(f"/wards/{WARD}/schedule")).json()
    assert live["source"] == "live" and live["staff"] and all(s["staff"] for s in live["staff"])
    h.links["scheduling"].down = True  # scheduling is single-DC: it goes away on its own
    fallback = (await h.care.get(f"/wards/{WARD}/schedule")).json()
    assert fallback["mode"] == "normal" and fallback["status"] == "unavailable" and fallback["source"] == "snapshot"
    assert fallback["snapshot_as_of"] == as_of and fallback["staff"] == live["staff"]
    h.links["scheduling"].down = False

    await cut_ehr(h)
    extra = {"shift": "renfort", "start": "2024-08-03T10:00:00+02:00", "end": "2024-08-03T14:00:00+02:00",
             "staff": [{"name": "Nina Roux", "role": "infirmier"}]}  # fmt: skip
    changed = await h.scheduling.post(f"/schedules/staff-{WARD}-2024-08-03/slots", json=extra)
    assert changed.status_code == 201
    await restore_ehr(h)
    await snapshot_now(h)  # a refresh after recovery does not move the downtime baseline
    diff = (await h.care.get(f"/wards/{WARD}/schedule/diff")).json()
    assert diff["baseline"] == "downtime" and diff["baseline_as_of"] == as_of
    [change] = diff["changes"]
    assert change["schedule_id"] == f"staff-{WARD}-2024-08-03" and change["added"] == [extra]
    assert change["removed"] == [] and change["current_version"] == change["snapshot_version"] + 1


async def test_a_schedule_diff_before_any_snapshot_is_a_409_not_an_outage(hospital: InProcess) -> None:
    """In normal mode with no snapshot yet (the first refresh failed: the EHR was not up when the
    workstation started), the diff answered 503 downtime-snapshot-unavailable -- a 5xx that is no
    outage, on a screen that merely has no baseline yet (the long fuzz campaign's find)."""
    h = hospital
    (h.config.state_dir / "snapshot.dat").unlink(missing_ok=True)
    h.state.snapshots.load()  # as after a start whose first refresh failed
    assert h.state.snapshots.current is None and not h.state.downtime

    diff = await h.care.get(f"/wards/{WARD}/schedule/diff")

    assert diff.status_code == 409, diff.text
    assert diff.json()["error"] == "no-schedule-baseline" and "no snapshot" in diff.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [
        b'{"kind": "medication", "display": "Parac\\udce9tamol"}',  # a lone surrogate: the EHR's SQLite cannot store it
        b'{"kind": "medication", "display": "x", "dose": NaN}',  # not JSON, and not answerable as JSON
        b'{"kind": "medication", "display": "x", "extra": ' + b"[" * 20_000 + b"]" * 20_000 + b"}",  # RecursionError
    ],
)
async def test_orders_json_loads_takes_but_nobody_can_store_are_400_and_not_recorded(
    hospital: InProcess, body: bytes
) -> None:
    """Each was a 500 (in the EHR, the queue, or the answer); none is an order."""
    params = {"patient": "p000001", "_summary": "count"}
    before = (await hospital.ehr.get("/MedicationRequest", params=params)).json()["total"]
    response = await hospital.care.post("/patients/p000001/orders", content=body,
                                        headers={"Content-Type": "application/json"})  # fmt: skip
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid-json"
    assert hospital.state.queue.depth() == 0
    assert (await hospital.ehr.get("/MedicationRequest", params=params)).json()["total"] == before


async def test_every_answer_is_stamped(hospital: InProcess) -> None:
    h = hospital
    await snapshot_now(h)
    await cut_ehr(h)
    for path in ("/health", "/metrics", "/no-such-page", "/downtime/status"):
        response = await h.care.get(path)
        assert response.headers["x-care-mode"] == "downtime", path
        assert "x-snapshot-as-of" in response.headers and response.headers["x-datacenter"] == "campus", path
    metrics = (await h.care.get("/metrics")).text
    assert "care_downtime_mode 1.0" in metrics and 'care_breaker_state{dependency="ehr"}' in metrics



async def test_a_refresh_failing_midway_keeps_the_previous_snapshot(
    hospital: InProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = hospital
    as_of = await snapshot_now(h)
    before = (h.config.state_dir / "snapshot.dat").read_bytes()
    reader = h.state.snapshotter.reader
    original = reader.chart_parts

    async def ehr_dies_at_the_second_patient(patient_id: str) -> dict[str, Any]:
        if patient_id == "p000002":
            raise Unavailable("ehr", "ehr unreachable (test: died during the snapshot)")
        return await original(patient_id)

    monkeypatch.setattr(reader, "chart_parts", ehr_dies_at_the_second_patient)
    response = await h.care.post("/_admin/snapshot")
    assert response.json()["refreshed"] is False
    snapshot = response.json()["snapshot"]
    assert snapshot["as_of"] == as_of and snapshot["last_refresh"]["outcome"] == "failed"
    assert "died during the snapshot" in snapshot["last_refresh"]["detail"]
    assert (h.config.state_dir / "snapshot.dat").read_bytes() == before


async def test_a_stale_snapshot_is_flagged_on_every_answer(tmp_path: Path) -> None:
    async with in_process(tmp_path, snapshot_interval=0.2, max_snapshot_age=0.3) as h:
        await admit(h.ehr, WARD, ["p000001"])
        await snapshot_now(h)
        await cut_ehr(h)
        await eventually(lambda: h.state.controller.stamp().stale, 2.0, "snapshot older than max_snapshot_age")
        stale = await h.care.get("/patients/p000001/chart")
        assert stale.headers["x-snapshot-stale"] == "true" and stale.json()["snapshot_stale"] is True
        assert (await h.care.get("/downtime/status")).json()["snapshot"]["stale"] is True
