"""Synthetic data: determinism, prefix property, counts, unique ids, resolving references, schedules."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import datetime
from typing import Any

import pytest

from mock_services.synthetic import MRN_SYSTEM, StudySpec, SyntheticConfig, generate
from mock_services.synthetic.schedules import or_count, scanner_count, slug, ward_count, ward_name

SMALL = SyntheticConfig(seed=2024, patients=40)


def dump(data: Any) -> str:
    return json.dumps(data, sort_keys=True, default=repr)


def everything(config: SyntheticConfig) -> dict[str, Any]:
    data = generate(config)
    return {
        "patients": list(data.patients()),
        "clinical": list(data.clinical()),
        "imaging": list(data.imaging_studies()),
        "staff": list(data.staff_schedules()),
        "or": list(data.or_schedules()),
    }


def test_same_seed_same_data_and_views_are_reiterable() -> None:
    first, second = everything(SMALL), everything(SyntheticConfig(seed=2024, patients=40))
    assert dump(first) == dump(second)
    data = generate(SMALL)
    assert dump(list(data.clinical())) == dump(list(data.clinical()))


def test_different_seed_different_data() -> None:
    a, b = everything(SMALL), everything(SyntheticConfig(seed=2025, patients=40))
    for view in a:
        assert dump(a[view]) != dump(b[view]), view
    # ids are positional, so the same ids exist under both seeds
    assert [p["id"] for p in a["patients"]] == [p["id"] for p in b["patients"]]


def test_prefix_property_patient_data_does_not_depend_on_count() -> None:
    small, big = generate(SyntheticConfig(seed=9, patients=10)), generate(SyntheticConfig(seed=9, patients=60))
    assert dump(list(small.patients())) == dump(list(big.patients())[:10])
    small_clinical = list(small.clinical())
    assert dump(small_clinical) == dump(list(big.clinical())[: len(small_clinical)])
    small_studies = list(small.imaging_studies())
    assert small_studies == [s for s in big.imaging_studies() if int(s.patient_id[1:]) <= 10]
    assert dump(big.clinical_for(7)) == dump(small.clinical_for(7))


def test_empty_data_set() -> None:
    data = generate(SyntheticConfig(seed=1, patients=0))
    for view in (data.patients, data.clinical, data.imaging_studies, data.staff_schedules, data.or_schedules):
        assert list(view()) == []


@pytest.mark.parametrize("bad", [-1, 100_001, 1.5, True, "10"])
def test_bad_patient_count_rejected(bad: Any) -> None:
    with pytest.raises(ValueError, match="patients"):
        SyntheticConfig(seed=1, patients=bad)


def test_bad_seed_and_bad_index_rejected() -> None:
    with pytest.raises(ValueError, match="seed"):
        SyntheticConfig(seed="x", patients=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="outside"):
        generate(SMALL).patient(41)


def test_patients_have_mrn_names_and_sequential_ids() -> None:
    patients = list(generate(SMALL).patients())
    assert [p["id"] for p in patients] == [f"p{i:06d}" for i in range(1, 41)]
    for i, p in enumerate(patients, 1):
        assert p["identifier"][0] == {**p["identifier"][0], "system": MRN_SYSTEM, "value": f"MRN{i:08d}"}
        assert p["gender"] in ("male", "female")
        assert p["name"][0]["family"].isupper() and p["name"][0]["given"]
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", p["birthDate"])
    assert len({p["gender"] for p in patients}) == 2


def test_counts_per_patient_are_as_documented() -> None:
    data = generate(SyntheticConfig(seed=3, patients=300))
    counts = Counter(r["resourceType"] for r in data.clinical())
    per_patient = {kind: n / 300 for kind, n in counts.items()}
    assert 1.5 <= per_patient["Encounter"] <= 2.1  # 1-3, mean 1.75
    assert 1 <= per_patient["MedicationRequest"] <= 4
    assert 0.4 <= per_patient["AllergyIntolerance"] <= 0.9  # 0-2, mean 0.65
    assert 1.5 <= per_patient["DiagnosticReport"] <= 3.5
    assert 20 <= sum(counts.values()) / 300 <= 40  # "about 30"
    for i in range(1, 301):
        kinds = Counter(r["resourceType"] for r in data.clinical_for(i))
        assert 1 <= kinds["Encounter"] <= 3 and 1 <= kinds["MedicationRequest"] <= 4
        assert kinds["AllergyIntolerance"] <= 2
    studies = list(data.imaging_studies())
    assert 70 <= len(studies) <= 130  # one in three
    assert {s.modality for s in studies} == {"CT", "MR", "CR", "US"}


def test_ids_unique_across_types_and_well_formed() -> None:
    data = generate(SMALL)
    resources = list(data.patients()) + list(data.clinical())
    ids = [r["id"] for r in resources]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[A-Za-z0-9\-.]{1,64}", i) for i in ids)
    assert any(re.fullmatch(r"obs-p000001-\d{4}", i) for i in ids)
    uids = [s.study_uid for s in data.imaging_studies()]
    uids += [x.series_uid for s in data.imaging_studies() for x in s.series]
    uids += [i.sop_instance_uid for s in data.imaging_studies() for x in s.series for i in x.instances]
    assert len(uids) == len(set(uids))
    assert all(re.fullmatch(r"2\.25\.[1-9]\d*", u) and len(u) <= 64 for u in uids)
    schedule_ids = [s["id"] for s in data.staff_schedules()] + [s["id"] for s in data.or_schedules()]
    assert len(schedule_ids) == len(set(schedule_ids))


def references(resource: dict[str, Any]) -> list[str]:
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("reference"), str):
                found.append(node["reference"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(resource)
    return found


def test_every_reference_resolves_and_points_at_the_right_patient() -> None:
    data = generate(SMALL)
    resources = list(data.patients()) + list(data.clinical())
    by_ref = {f"{r['resourceType']}/{r['id']}": r for r in resources}
    seen_types = set()
    for resource in resources:
        for ref in references(resource):
            assert ref in by_ref, f"{resource['id']} -> {ref}"
            seen_types.add(ref.split("/")[0])
        if resource["resourceType"] != "Patient":
            owner = (resource.get("subject") or resource["patient"])["reference"]
            assert owner == f"Patient/{resource['id'].split('-')[1]}"
            enc = resource.get("encounter")
            if enc:
                assert by_ref[enc["reference"]]["subject"]["reference"] == owner
    assert seen_types == {"Patient", "Encounter", "Observation"}
    patient_ids = {p["id"] for p in data.patients()}
    assert {s.patient_id for s in data.imaging_studies()} <= patient_ids
    for schedule in data.or_schedules():
        assert all(slot["patient"].removeprefix("Patient/") in patient_ids for slot in schedule["slots"])


def test_clinical_times_lie_within_encounters_and_reports_group_lab_results() -> None:
    data = generate(SMALL)
    resources = list(data.clinical())
    by_ref = {f"{r['resourceType']}/{r['id']}": r for r in resources}
    for r in resources:
        if r["resourceType"] == "Observation":
            period = by_ref[r["encounter"]["reference"]]["period"]
            moment = datetime.fromisoformat(r["effectiveDateTime"])
            assert datetime.fromisoformat(period["start"]) <= moment
            if "end" in period:
                assert moment <= datetime.fromisoformat(period["end"])
            category = r["category"][0]["coding"][0]["code"]
            assert category in ("vital-signs", "laboratory")
            if category == "laboratory":
                assert r["referenceRange"][0]["low"]["value"] < r["referenceRange"][0]["high"]["value"]
                assert r["valueQuantity"]["system"] == "http://unitsofmeasure.org"
        if r["resourceType"] == "DiagnosticReport":
            assert r["category"][0]["coding"][0]["code"] == "LAB" and r["status"] == "final"
            for result in r["result"]:
                assert by_ref[result["reference"]]["category"][0]["coding"][0]["code"] == "laboratory"
    codes = {r["code"]["coding"][0]["code"] for r in resources if r["resourceType"] == "Observation"}
    assert {"8867-4", "85354-9", "8310-5", "59408-5", "718-7", "2823-3", "2160-0"} <= codes
    flags = Counter(
        r["interpretation"][0]["coding"][0]["code"] for r in resources if r["resourceType"] == "Observation"
        and "interpretation" in r
    )
    assert flags["N"] > flags["H"] > 0 and flags["L"] > 0


def test_studies_match_patient_demographics() -> None:
    data = generate(SMALL)
    patients = {p["id"]: p for p in data.patients()}
    studies: list[StudySpec] = list(data.imaging_studies())
    assert studies
    sop = {"CT": "1.2.840.10008.5.1.4.1.1.2", "MR": "1.2.840.10008.5.1.4.1.1.4",
           "CR": "1.2.840.10008.5.1.4.1.1.1", "US": "1.2.840.10008.5.1.4.1.1.6.1"}  # fmt: skip
    for s in studies:
        p = patients[s.patient_id]
        assert s.patient_name == f"{p['name'][0]['family']}^{p['name'][0]['given'][0]}"
        assert s.birth_date == p["birthDate"].replace("-", "") <= s.study_date
        assert s.sex == {"male": "M", "female": "F"}[p["gender"]]
        assert re.fullmatch(r"\d{6}", s.study_time) and s.accession_number.startswith("ACC")
        assert 1 <= len(s.series) <= 3
        for n, series in enumerate(s.series, 1):
            assert series.series_number == n and series.modality == s.modality
            assert 1 <= len(series.instances) <= 4
            assert all(i.sop_class_uid == sop[s.modality] for i in series.instances)


def test_schedule_shapes_and_gentle_scaling() -> None:
    assert [ward_count(n) for n in (0, 10, 1000, 100_000)] == [0, 2, 5, 500]
    assert [or_count(n) + scanner_count(n) for n in (0, 10, 100_000)] == [0, 2, 70]
    assert ward_name(0) == "urgences" and ward_name(18) == "urgences 2"
    assert slug("gastro-entérologie 2") == "gastro-enterologie-2"
    data = generate(SyntheticConfig(seed=5, patients=1000))
    staff, other = list(data.staff_schedules()), list(data.or_schedules())
    assert len(staff) == 5 * 7
    assert Counter(s["kind"] for s in other) == {"or": 7, "scanner": 7}
    assert {s["date"] for s in staff} == {f"2024-08-{d:02d}" for d in range(3, 10)}
    for schedule in staff + other:
        assert set(schedule) == {"id", "kind", "unit", "date", "slots", "version", "last_modified"}
        assert schedule["version"] == 1 and schedule["last_modified"].endswith("Z")
        for slot in schedule["slots"]:
            assert datetime.fromisoformat(slot["start"]) < datetime.fromisoformat(slot["end"])
    assert [s["shift"] for s in staff[0]["slots"]] == ["morning", "afternoon", "night"]
    roles = {person["role"] for s in staff for slot in s["slots"] for person in slot["staff"]}
    assert {"infirmier", "aide-soignant"} <= roles and roles & {"médecin", "interne"}
    weekday = next(s for s in other if s["kind"] == "or" and s["date"] == "2024-08-05")
    assert 3 <= len(weekday["slots"]) <= 6 and all("procedure" in slot for slot in weekday["slots"])
