"""DICOMweb conformance of the imaging service, in-process (Starlette TestClient).

The read-only tests share one archive seeded with 10 synthetic patients (3 studies, 21
instances with seed 2024); expected values come from the synthetic generator itself.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import pydicom
import pytest
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    # Starlette 1.x warns that its TestClient will move from httpx to httpx2; not our concern here.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

from mock_services.imaging.app import create_app
from mock_services.imaging.config import Role
from mock_services.imaging.testing import make_config, split_multipart
from mock_services.synthetic import StudySpec, SyntheticConfig, generate

SEED, PATIENTS = 2024, 10
STUDIES: list[StudySpec] = list(generate(SyntheticConfig(seed=SEED, patients=PATIENTS)).imaging_studies())
DICOM_JSON = {"accept": "application/dicom+json"}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    config = make_config(tmp_path_factory.mktemp("qido"), "pacs-a", Role.ARCHIVE, seed=SEED, patients=PATIENTS)
    with TestClient(create_app(config), base_url="http://pacs.test") as test_client:
        yield test_client


def values(dataset: dict[str, Any], tag: str) -> list[Any]:
    return list(dataset.get(tag, {}).get("Value", []))


def value(dataset: dict[str, Any], tag: str) -> Any:
    found = values(dataset, tag)
    assert found, f"{tag} has no value in {dataset}"
    return found[0]


def search(client: TestClient, path: str, **params: str) -> list[dict[str, Any]]:
    response = client.get(path, params=params, headers=DICOM_JSON)
    if response.status_code == 204:
        assert response.content == b""
        return []
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/dicom+json"
    result = response.json()
    assert isinstance(result, list)
    return result


def study_uids(results: list[dict[str, Any]]) -> set[str]:
    return {value(r, "0020000D") for r in results}


def test_fixture_has_studies_with_several_series() -> None:
    assert len(STUDIES) >= 3
    assert any(len(s.series) > 1 for s in STUDIES)


# -- QIDO-RS ---------------------------------------------------------------------------------


def test_all_studies_in_the_dicom_json_model(client: TestClient) -> None:
    results = search(client, "/studies")
    assert study_uids(results) == {s.study_uid for s in STUDIES}
    by_uid = {value(r, "0020000D"): r for r in results}
    for spec in STUDIES:
        found = by_uid[spec.study_uid]
        assert found["0020000D"]["vr"] == "UI"
        assert found["00100010"] == {"vr": "PN", "Value": [{"Alphabetic": spec.patient_name}]}
        assert value(found, "00100020") == spec.patient_id
        assert value(found, "00080020") == spec.study_date
        assert value(found, "00080050") == spec.accession_number
        assert values(found, "00080061") == sorted({se.modality for se in spec.series})
        assert value(found, "00201206") == len(spec.series)
        assert value(found, "00201208") == sum(len(se.instances) for se in spec.series)
        assert value(found, "00081190") == f"http://pacs.test/studies/{spec.study_uid}"
        assert "Value" not in found["00080090"]  # type 2, empty: present without a value


def test_match_patient_id_exactly(client: TestClient) -> None:
    spec = STUDIES[1]
    assert study_uids(search(client, "/studies", PatientID=spec.patient_id)) == {spec.study_uid}
    assert study_uids(search(client, "/studies", **{"00100020": spec.patient_id})) == {spec.study_uid}
    assert search(client, "/studies", PatientID=spec.patient_id[:-1]) == []


def test_match_patient_name_with_wildcards_case_insensitively(client: TestClient) -> None:
    spec = STUDIES[0]
    family = spec.patient_name.split("^")[0]
    expected = {s.study_uid for s in STUDIES if s.patient_name.lower().startswith(family.lower())}
    assert study_uids(search(client, "/studies", PatientName=f"{family.lower()}*")) == expected
    assert study_uids(search(client, "/studies", PatientName=spec.patient_name)) >= {spec.study_uid}
    assert search(client, "/studies", PatientName=family) == []  # no wildcard: the whole name must match


def test_match_study_date_ranges(client: TestClient) -> None:
    dates = sorted(s.study_date for s in STUDIES)
    low, high = dates[0], dates[-1]
    assert len(search(client, "/studies", StudyDate=f"{low}-{high}")) == len(STUDIES)
    on_low = {s.study_uid for s in STUDIES if s.study_date == low}
    assert study_uids(search(client, "/studies", StudyDate=low)) == on_low
    after = {s.study_uid for s in STUDIES if s.study_date > low}
    assert study_uids(search(client, "/studies", StudyDate=f"{int(low) + 1}-")) == after
    assert study_uids(search(client, "/studies", StudyDate=f"-{low}")) == {
        s.study_uid for s in STUDIES if s.study_date <= low
    }


def test_match_modalities_accession_and_uid_lists(client: TestClient) -> None:
    spec = STUDIES[0]
    modality = spec.series[0].modality
    with_modality = {s.study_uid for s in STUDIES if any(se.modality == modality for se in s.series)}
    assert study_uids(search(client, "/studies", ModalitiesInStudy=modality)) == with_modality
    assert study_uids(search(client, "/studies", Modality=modality)) == with_modality
    assert study_uids(search(client, "/studies", AccessionNumber=spec.accession_number)) == {spec.study_uid}
    two = [STUDIES[0].study_uid, STUDIES[2].study_uid]
    assert study_uids(search(client, "/studies", StudyInstanceUID=",".join(two))) == set(two)
    assert study_uids(search(client, "/studies", StudyInstanceUID="\\".join(two))) == set(two)


def test_series_and_instances_of_a_study(client: TestClient) -> None:
    spec = max(STUDIES, key=lambda s: len(s.series))
    series = search(client, f"/studies/{spec.study_uid}/series")
    assert {value(r, "0020000E") for r in series} == {se.series_uid for se in spec.series}
    first = spec.series[0]
    found = next(r for r in series if value(r, "0020000E") == first.series_uid)
    assert value(found, "00080060") == first.modality
    assert value(found, "00200011") == first.series_number
    assert value(found, "00201209") == len(first.instances)
    assert value(found, "00100020") == spec.patient_id  # the study's attributes too, as Orthanc does
    only = search(client, f"/studies/{spec.study_uid}/series", SeriesInstanceUID=first.series_uid)
    assert [value(r, "0020000E") for r in only] == [first.series_uid]
    instances = search(client, f"/studies/{spec.study_uid}/series/{first.series_uid}/instances")
    assert {value(r, "00080018") for r in instances} == {i.sop_instance_uid for i in first.instances}
    one = instances[0]
    assert value(one, "00080016") == first.instances[0].sop_class_uid
    assert (value(one, "00280010"), value(one, "00280011")) == (32, 32)
    sop = first.instances[-1].sop_instance_uid
    in_study = search(client, f"/studies/{spec.study_uid}/instances", SOPInstanceUID=sop)
    assert [value(r, "00080018") for r in in_study] == [sop]
    url = f"http://pacs.test/studies/{spec.study_uid}/series/{first.series_uid}/instances/{sop}"
    assert value(search(client, "/instances", SOPInstanceUID=sop)[0], "00081190") == url


def test_root_series_search_carries_study_attributes(client: TestClient) -> None:
    spec = STUDIES[0]
    results = search(client, "/series", PatientID=spec.patient_id)
    assert {value(r, "0020000E") for r in results} == {se.series_uid for se in spec.series}
    assert all(value(r, "00100020") == spec.patient_id for r in results)


def test_includefield_by_keyword_and_tag(client: TestClient) -> None:
    spec = STUDIES[0]
    plain = search(client, "/studies")[0]
    assert "0020000E" not in plain and "00080060" not in plain  # series attributes: never in a study
    extra = search(client, "/studies", includefield="PatientID,00100010,SeriesInstanceUID")[0]
    assert "0020000E" not in extra  # lower levels are not returned (PS3.18 10.6.3.3.1)
    assert extra["00100010"]["Value"] and "00100020" in extra
    mine = search(client, "/studies", PatientID=spec.patient_id, includefield="all")[0]
    assert value(mine, "00081030") == spec.description


def test_limit_offset_and_the_more_results_warning(client: TestClient) -> None:
    everything = [value(r, "0020000D") for r in search(client, "/studies")]
    response = client.get("/studies", params={"limit": "1", "offset": "1"}, headers=DICOM_JSON)
    assert [value(r, "0020000D") for r in response.json()] == everything[1:2]
    assert "additional results" in response.headers["warning"]
    last = client.get("/studies", params={"offset": str(len(everything) - 1)}, headers=DICOM_JSON)
    assert "warning" not in last.headers
    assert client.get("/studies", params={"offset": "99"}, headers=DICOM_JSON).json() == []
    fuzzy = client.get("/studies", params={"fuzzymatching": "true"}, headers=DICOM_JSON)
    assert "fuzzymatching" in fuzzy.headers["warning"]


@pytest.mark.parametrize(
    ("path", "params", "expected"),
    [
        ("/studies", {"StudyDate": "2024-01-01"}, "StudyDate"),
        ("/studies", {"SOPInstanceUID": "1.2.3"}, "instance-level"),
        ("/studies", {"limit": "-1"}, "limit"),
        ("/series", {"SeriesNumber": "two"}, "integer"),
    ],
)
def test_bad_queries_are_400_naming_the_parameter(
    client: TestClient, path: str, params: dict[str, str], expected: str
) -> None:
    response = client.get(path, params=params, headers=DICOM_JSON)
    assert response.status_code == 400
    assert expected in response.json()["error"]
    assert response.headers["x-served-by"] == "pacs-a"


def test_search_refuses_a_non_json_accept(client: TestClient) -> None:
    assert client.get("/studies", headers={"accept": "application/dicom+xml"}).status_code == 406
    assert client.get("/studies", headers={"accept": "application/json"}).status_code == 200


# -- WADO-RS ---------------------------------------------------------------------------------


def retrieve(client: TestClient, path: str, accept: str = 'multipart/related; type="application/dicom"') -> list[Any]:
    response = client.get(path, headers={"accept": accept})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith('multipart/related; type="application/dicom"')
    parts = split_multipart(response.headers["content-type"], response.content)
    return [pydicom.dcmread(BytesIO(part)) for part in parts]


def test_retrieve_study_series_and_instance_as_part10(client: TestClient) -> None:
    spec = max(STUDIES, key=lambda s: len(s.series))
    study = retrieve(client, f"/studies/{spec.study_uid}")
    assert sorted(ds.SOPInstanceUID for ds in study) == sorted(
        i.sop_instance_uid for se in spec.series for i in se.instances
    )
    for ds in study:
        assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
        assert ds.StudyInstanceUID == spec.study_uid
        assert str(ds.PatientName) == spec.patient_name
        assert ds.pixel_array.shape == (32, 32)
    se = spec.series[0]
    assert {ds.SeriesInstanceUID for ds in retrieve(client, f"/studies/{spec.study_uid}/series/{se.series_uid}")} == {
        se.series_uid
    }
    sop = se.instances[0].sop_instance_uid
    (ds,) = retrieve(client, f"/studies/{spec.study_uid}/series/{se.series_uid}/instances/{sop}", accept="*/*")
    assert ds.SOPInstanceUID == sop
    assert ds.SOPClassUID == se.instances[0].sop_class_uid
    assert ds.Modality == se.modality


@pytest.mark.parametrize(
    ("accept", "status"),
    [
        ('multipart/related; type="application/dicom"; transfer-syntax=*', 200),
        ("multipart/related; type=application/dicom; transfer-syntax=1.2.840.10008.1.2.1", 200),
        ("multipart/related", 200),
        ("application/json, */*;q=0.1", 200),
        ('multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.50', 406),
        ('multipart/related; type="application/octet-stream"', 406),
        ("application/dicom+json", 406),
    ],
)
def test_retrieve_negotiates_accept(client: TestClient, accept: str, status: int) -> None:
    response = client.get(f"/studies/{STUDIES[0].study_uid}", headers={"accept": accept})
    assert response.status_code == status, response.text


def test_metadata_is_dicom_json_with_pixels_by_reference_and_no_file_meta(client: TestClient) -> None:
    spec = STUDIES[0]
    se = spec.series[0]
    for path in (
        f"/studies/{spec.study_uid}/metadata",
        f"/studies/{spec.study_uid}/series/{se.series_uid}/metadata",
        f"/studies/{spec.study_uid}/series/{se.series_uid}/instances/{se.instances[0].sop_instance_uid}/metadata",
    ):
        response = client.get(path, headers=DICOM_JSON)
        assert response.status_code == 200, path
        assert response.headers["content-type"] == "application/dicom+json"
        datasets = response.json()
        assert datasets
        for dataset in datasets:
            assert set(dataset["7FE00010"]) == {"vr", "BulkDataURI"}  # never inline
            assert not any(tag.startswith("0002") for tag in dataset)
            assert value(dataset, "00100020") == spec.patient_id
            pydicom.Dataset.from_json(dataset, bulk_data_uri_handler=lambda uri: b"")  # valid DICOM JSON
    assert len(client.get(f"/studies/{spec.study_uid}/series/{se.series_uid}/metadata").json()) == len(se.instances)
    assert client.get(f"/studies/{spec.study_uid}/metadata", headers={"accept": "application/dicom"}).status_code == 406


def test_frames(client: TestClient) -> None:
    spec = STUDIES[0]
    se = spec.series[0]
    base = f"/studies/{spec.study_uid}/series/{se.series_uid}/instances/{se.instances[0].sop_instance_uid}"
    (full,) = retrieve(client, base)
    response = client.get(f"{base}/frames/1")
    assert response.status_code == 200
    (frame,) = split_multipart(response.headers["content-type"], response.content)
    assert frame == full.PixelData
    raw = client.get(f"{base}/frames/1", headers={"accept": "application/octet-stream"})
    assert raw.headers["content-type"] == "application/octet-stream"
    assert raw.content == full.PixelData
    assert client.get(f"{base}/frames/2").status_code == 404
    assert client.get(f"{base}/frames/x").status_code == 400


def test_unknown_uids_are_404_naming_the_level(client: TestClient) -> None:
    spec = STUDIES[0]
    se = spec.series[0]
    cases = {
        "/studies/1.2.3": "study 1.2.3",
        f"/studies/{spec.study_uid}/series/1.2.3": "series 1.2.3",
        f"/studies/{spec.study_uid}/series/{se.series_uid}/instances/1.2.3": "instance 1.2.3",
        f"/studies/{spec.study_uid}/series/{se.series_uid}/instances/1.2.3/metadata": "instance 1.2.3",
        f"/studies/{STUDIES[1].study_uid}/series/{se.series_uid}": "series",  # a series of another study
    }
    for path, expected in cases.items():
        response = client.get(path)
        assert response.status_code == 404, path
        assert expected in response.json()["error"]
        assert response.headers["x-datacenter"] == "dc-a"


# -- service endpoints ---------------------------------------------------------------------


def test_health_writable_metrics_and_identity_headers(client: TestClient) -> None:
    health = client.get("/health")
    assert health.status_code == 200
    document = health.json()
    assert document["role"] == "archive" and document["name"] == "pacs-a" and document["datacenter"] == "dc-a"
    assert document["instances"] == sum(len(se.instances) for s in STUDIES for se in s.series)
    assert document["replication"]["backlog"] == 0  # seed data is never shipped
    assert client.get("/writable").status_code == 200
    client.get(f"/studies/{STUDIES[0].study_uid}/metadata")
    metrics = client.get("/metrics")
    assert metrics.headers["x-served-by"] == "pacs-a"
    assert 'route="/studies/{study}/metadata"' in metrics.text
    assert "imaging_http_request_duration_seconds_bucket" in metrics.text
    assert client.get("/nowhere").status_code == 404
    assert client.delete("/studies").status_code == 405


def test_a_replica_reports_its_role_and_is_not_writable(tmp_path: Path) -> None:
    with TestClient(create_app(make_config(tmp_path, "pacs-b", Role.REPLICA))) as replica:
        assert replica.get("/health").json()["role"] == "replica"
        assert replica.get("/writable").status_code == 503
        assert replica.get("/health").headers["x-datacenter"] == "dc-b"
