"""The HTTP personas against the real hospital, one short Locust run each, started exactly as
the harness starts it; the counting property (Locust's count = records written = lines in the
file) standalone, with two worker processes and on a graceful stop; and the payloads the
personas send, checked against the services' own validation."""

from __future__ import annotations

import random
import re
import time
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from harness.backends import Endpoints
from harness.load.plan import Stage
from harness.load.users import clinical
from harness.load.users.dicom import NewImages, stow_body
from harness.timeline.events import RequestRecord, record_from_dict
from mock_services.ehr.resources import validate_resource
from mock_services.imaging import multipart
from mock_services.imaging.part10 import parse_part10
from mock_services.messaging.hl7v2 import parse
from mock_services.messaging.testing import free_port
from mock_services.messaging.validation import validate
from tests.load.conftest import LoadRun, make_plan, run_locust

SHORT = [Stage(2, 3, 10)]
SERVICES = {
    "nurse": {"ehr"},
    "physician": {"ehr", "labs", "imaging"},
    "radiology_modality": {"imaging"},
    "scheduler": {"scheduling"},
}
WRITES = {
    "nurse": {"ehr: POST Observation (vital signs)": "Observation", "ehr: POST MedicationAdministration":
              "MedicationAdministration"},
    "physician": {"ehr: POST Observation (progress note)": "Observation", "ehr: POST MedicationRequest":
                  "MedicationRequest"},
}


def assert_counts_match(run: LoadRun) -> None:
    assert run.summary, run.describe()
    assert run.summary["locust_requests"] == run.summary["recorded"] == run.record_lines > 0, run.describe()
    by_name = sum(counts["requests"] for counts in run.summary["by_name"].values())
    assert by_name == run.record_lines
    for line in run.records:
        assert isinstance(record_from_dict(line), RequestRecord)


def assert_healthy(run: LoadRun, persona: str) -> None:
    assert run.returncode == 0, run.describe()
    assert_counts_match(run)
    assert run.summary["locust_failures"] == 0, run.describe()
    failed = [r for r in run.records if not r["ok"]]
    assert not failed, failed[:5]
    for line in run.records:
        assert line["persona"] == persona and line["source"] == "load"
        assert re.fullmatch(r"\d+-\d+", line["user"])
        assert line["served_by"] and line["datacenter"]
        assert line["service"] in SERVICES.get(persona, {"messaging"})
        assert line["operation"].startswith(line["service"] + ": ")


@pytest.mark.integration
@pytest.mark.parametrize("persona", ["nurse", "physician", "radiology_modality", "scheduler"])
def test_each_http_persona_runs_clean_and_records_every_request(persona: str, hospital: Endpoints,
                                                                 tmp_path: Path) -> None:
    run = run_locust(tmp_path, make_plan(tmp_path, hospital, {persona: None}, stages=SHORT))

    assert_healthy(run, persona)
    assert run.elapsed < 15
    operations = {line["operation"] for line in run.records}
    fd = hospital.front_door_urls
    if persona in WRITES:
        for operation, resource_type in WRITES[persona].items():
            writes = [r for r in run.records if r["operation"] == operation]
            assert writes, (operation, operations)
            for write in writes:
                assert write["status"] == 201 and write["version"] == "1"
                assert write["resource_id"].startswith(f"{resource_type}/")
            stored = httpx.get(f"{fd['ehr']}/{writes[-1]['resource_id']}", timeout=5)
            assert stored.status_code == 200 and stored.json()["subject"]["reference"].startswith("Patient/p")
    if persona == "nurse":
        assert "ehr: GET Observation/{id} (read back)" in operations
    if persona == "radiology_modality":
        uids = [r["instance_uid"] for r in run.records]
        assert len(set(uids)) == len(uids) == run.record_lines
        found = httpx.get(f"{fd['imaging']}/instances", params={"SOPInstanceUID": uids[-1]}, timeout=5)
        assert found.status_code == 200 and len(found.json()) == 1
    if persona == "scheduler":
        slots = [r for r in run.records if r["operation"] == "scheduling: POST /schedules/{id}/slots"]
        assert slots and {"scheduling: GET /schedules", "scheduling: GET /schedules/{id}"} <= operations
        for slot in slots:
            if slot["status"] == 412:  # another scheduler wrote first: nothing written, so no resource
                assert slot.get("resource_id") is None and slot.get("version") is None
                continue
            assert slot["resource_id"].startswith("Schedule/staff-")
            assert int(slot["version"]) >= 2
        last = next(s for s in reversed(slots) if s["status"] == 201)
        current = httpx.get(f"{fd['scheduling']}/schedules/{last['resource_id'].split('/')[1]}", timeout=5).json()
        assert current["version"] >= int(last["version"])


@pytest.mark.integration
def test_without_synthetic_patients_each_user_registers_its_own_ward_patient(hospital: Endpoints,
                                                                             tmp_path: Path) -> None:
    plan = make_plan(tmp_path, hospital, {"nurse": None, "physician": None}, stages=[Stage(2, 4, 10)], patients=0)
    run = run_locust(tmp_path, plan)

    assert run.returncode == 0, run.describe()
    assert_counts_match(run)
    registrations = [r for r in run.records if r["operation"] == "ehr: POST Patient (conditional)"]
    users = {r["user"] for r in run.records}
    assert sorted(r["user"] for r in registrations) == sorted(users)  # once per user, and only once
    patients = {r["user"]: r["resource_id"] for r in registrations}
    assert all(r["ok"] and r["status"] == 201 for r in registrations)
    with httpx.Client(base_url=hospital.front_door_urls["ehr"], timeout=5) as ehr:
        for write in (r for r in run.records if r.get("resource_id", "").startswith(("Observation/", "Medication"))):
            assert ehr.get(f"/{write['resource_id']}").json()["subject"]["reference"] == patients[write["user"]]


@pytest.mark.integration
def test_with_two_worker_processes_the_counts_still_match(hospital: Endpoints, tmp_path: Path) -> None:
    plan = make_plan(tmp_path, hospital, {"nurse": None, "scheduler": None}, stages=[Stage(3, 4, 20)])
    run = run_locust(tmp_path, plan, processes=2)

    assert run.returncode == 0, run.describe()
    assert_counts_match(run)
    assert run.summary["workers"] == 2
    assert {r["user"].split("-")[0] for r in run.records} == {"0", "1"}  # both workers' records arrived


@pytest.mark.integration
@pytest.mark.parametrize("processes", [1, 2])
def test_the_stop_file_ends_the_run_gracefully(processes: int, hospital: Endpoints, tmp_path: Path) -> None:
    plan = make_plan(tmp_path, hospital, {"nurse": None}, stages=[Stage(60, 4, 20)])
    run = run_locust(tmp_path, plan, processes=processes, stop_after=2.0, timeout=20)

    assert run.returncode == 0, run.describe()
    assert run.elapsed < 6, f"stopped {run.elapsed:.1f} s after the stop file"
    assert_counts_match(run)
    last = max(r["t"] + r["duration"] for r in run.records)
    assert last <= time.time()


@pytest.mark.integration
def test_recording_can_be_switched_off_and_the_summary_still_comes(hospital: Endpoints, tmp_path: Path) -> None:
    plan = make_plan(tmp_path, hospital, {"scheduler": {"schedule_review": 1}}, stages=[Stage(1.5, 2, 10)],
                     extra={"record": False})
    run = run_locust(tmp_path, plan)

    assert run.returncode == 0, run.describe()
    assert run.summary["locust_requests"] > 0 and run.summary["recorded"] == 0 and run.record_lines == 0
    assert run.summary["recording"] is False


@pytest.mark.integration
def test_an_unreachable_service_is_recorded_as_connect_failures(hospital: Endpoints, tmp_path: Path) -> None:
    plan = make_plan(tmp_path, hospital, {"scheduler": {"schedule_review": 1}}, stages=[Stage(1.5, 2, 10)])
    plan = replace(plan, http_targets={**plan.http_targets, "scheduling": f"http://127.0.0.1:{free_port()}"})
    run = run_locust(tmp_path, plan)

    assert run.returncode == 1, run.describe()  # Locust's exit code when requests failed
    assert_counts_match(run)
    assert run.summary["locust_failures"] == run.record_lines
    assert {(r["ok"], r["error"], r["operation"]) for r in run.records} == {
        (False, "connect", "scheduling: GET /schedules")}
    assert not any("status" in r or "served_by" in r for r in run.records)


@pytest.mark.integration
def test_a_plan_aimed_elsewhere_is_refused_before_any_request(hospital: Endpoints, tmp_path: Path) -> None:
    plan = make_plan(tmp_path, hospital, {"nurse": None}, stages=SHORT)
    plan = replace(plan, http_targets={"ehr": "http://192.0.2.10:8080"})
    run = run_locust(tmp_path, plan, timeout=20)

    assert run.returncode != 0 and "not a loopback address" in run.output
    assert run.record_lines == 0 and not run.summary


# -- payloads (pure) --------------------------------------------------------------------------


def test_fhir_payloads_pass_the_ehrs_validation() -> None:
    rng = random.Random(1)
    order = {**clinical.medication_request("p000001", "r-0-1-1", rng), "id": "mr-1"}
    for resource in (
        clinical.ward_patient("r-0-1", rng),
        clinical.vital_signs("p000001", "r-0-1-2", rng),
        clinical.progress_note("p000001", "r-0-1-3", rng),
        clinical.medication_request("p000001", "r-0-1-4", rng),
        clinical.medication_administration("p000001", "r-0-1-5", rng),
        clinical.medication_administration("p000001", "r-0-1-6", rng, order),
    ):
        validate_resource(resource, resource["resourceType"])
    given = clinical.medication_administration("p000001", "r-0-1-6", rng, order)
    assert given["request"] == {"reference": "MedicationRequest/mr-1"}
    assert given["medicationCodeableConcept"] == order["medicationCodeableConcept"]
    assert clinical.vital_signs("p1", "x", rng)["identifier"] == [{"system": clinical.LOAD_SYSTEM, "value": "x"}]


def test_oru_r01_is_accepted_by_the_engines_validation() -> None:
    message = clinical.oru_r01("LAB-0-1-1", clinical.synthetic_mrn(7), random.Random(2))
    parsed = parse(message)
    assert parsed.control_id == "LAB-0-1-1" and validate(parsed) == []
    assert "MRN00000007^^^HCHAOS&1.2.250.1.213.1.4.8&ISO^MR" in message


def test_new_dicom_images_are_valid_and_new_every_time() -> None:
    images = NewImages()
    first, second = images.new("p000003", "MARTIN^LEA", "L01ABCDEF"), images.new("p000003", "MARTIN^LEA", "L02")
    attrs = parse_part10(first.data)
    assert (attrs.sop_uid, attrs.study_uid, attrs.patient_id, attrs.modality) == (
        first.sop_uid, first.study_uid, "p000003", "CT")
    assert len({first.sop_uid, first.study_uid, first.series_uid, second.sop_uid, second.study_uid}) == 5
    body, content_type = stow_body(second.data, boundary="b0undary")
    assert content_type == 'multipart/related; type="application/dicom"; boundary=b0undary'
    parts = multipart.decode(body, "b0undary")
    assert [p.content for p in parts] == [second.data] and parts[0].content_type == "application/dicom"
