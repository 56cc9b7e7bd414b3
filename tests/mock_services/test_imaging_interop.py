"""Independent clients against a real imaging process seeded with 10 patients:
dicomweb-client searches, retrieves and stores; pydicom reads what WADO-RS returns."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from urllib.parse import urlparse

import pydicom
import pytest
import requests
from dicomweb_client.api import DICOMwebClient

from mock_services.imaging.config import Role
from mock_services.imaging.testing import ImagingProcess, free_port, make_dataset
from mock_services.synthetic import StudySpec, SyntheticConfig, generate

pytestmark = pytest.mark.integration
SEED, PATIENTS = 2024, 10
STUDIES: list[StudySpec] = list(generate(SyntheticConfig(seed=SEED, patients=PATIENTS)).imaging_studies())


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ImagingProcess]:
    directory = tmp_path_factory.mktemp("interop")
    process = ImagingProcess(
        "pacs-a", Role.ARCHIVE, free_port(), directory / "pacs-a", directory / "pacs-a.log",
        ["--seed", str(SEED), "--patients", str(PATIENTS)],
    )  # fmt: skip
    process.start()
    try:
        process.wait_ready()
        yield process
    finally:
        process.kill()
        print(process.log.read_text())


@pytest.fixture(autouse=True)
def _quiet_client(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="dicomweb_client")


@pytest.fixture
def client(archive: ImagingProcess) -> DICOMwebClient:
    return DICOMwebClient(url=archive.url)


def uid(dataset: dict[str, dict[str, list[str]]], tag: str) -> str:
    return dataset[tag]["Value"][0]


def test_search_with_filters(client: DICOMwebClient) -> None:
    spec = STUDIES[0]
    studies = client.search_for_studies(search_filters={"PatientID": spec.patient_id})
    assert [uid(s, "0020000D") for s in studies] == [spec.study_uid]
    family = spec.patient_name.split("^")[0]
    named = client.search_for_studies(search_filters={"PatientName": f"{family}*"}, fields=["StudyDescription"])
    assert spec.study_uid in {uid(s, "0020000D") for s in named}
    assert all("00081030" in s for s in named)
    dated = client.search_for_studies(search_filters={"StudyDate": f"{spec.study_date}-{spec.study_date}"})
    assert spec.study_uid in {uid(s, "0020000D") for s in dated}
    series = client.search_for_series(spec.study_uid, search_filters={"Modality": spec.series[0].modality})
    assert {uid(s, "0020000E") for s in series} == {
        se.series_uid for se in spec.series if se.modality == spec.series[0].modality
    }
    first = spec.series[0]
    instances = client.search_for_instances(spec.study_uid, first.series_uid)
    assert {uid(i, "00080018") for i in instances} == {i.sop_instance_uid for i in first.instances}
    assert len(client.search_for_studies(limit=1)) == 1
    assert client.search_for_studies(search_filters={"PatientID": "nobody"}) == []  # our 200 []


def test_get_remaining_pages_through_everything(client: DICOMwebClient) -> None:
    everything = client.search_for_studies(limit=1, get_remaining=True)
    assert sorted(uid(s, "0020000D") for s in everything) == sorted(s.study_uid for s in STUDIES)


def test_retrieve_instance_study_and_metadata(client: DICOMwebClient, archive: ImagingProcess) -> None:
    spec = max(STUDIES, key=lambda s: sum(len(se.instances) for se in s.series))
    first = spec.series[0]
    sop = first.instances[0].sop_instance_uid
    ds = client.retrieve_instance(spec.study_uid, first.series_uid, sop)
    assert ds.SOPInstanceUID == sop and str(ds.PatientName) == spec.patient_name
    assert ds.pixel_array.shape == (32, 32)
    study = client.retrieve_study(spec.study_uid)
    assert len(study) == sum(len(se.instances) for se in spec.series)
    metadata = client.retrieve_series_metadata(spec.study_uid, first.series_uid)
    assert len(metadata) == len(first.instances)
    # Pixel Data comes by reference (a BulkDataURI), which dicomweb-client retrieves. The URI
    # is absolute, built from the request's Host header -- which dicomweb-client sends
    # without the port (RFC 7230 5.4 wants it), so only the URI's path is ours to trust here.
    def bulk(uri: str) -> bytes:
        return bytes(client.retrieve_bulkdata(archive.url + urlparse(uri).path)[0])

    parsed = pydicom.Dataset.from_json(metadata[0], bulk_data_uri_handler=bulk)
    assert parsed.StudyInstanceUID == spec.study_uid
    assert parsed.PixelData == ds.PixelData
    frames = client.retrieve_instance_frames(spec.study_uid, first.series_uid, sop, frame_numbers=[1])
    assert frames == [ds.PixelData]


def test_pydicom_reads_raw_wado_rs_bytes(archive: ImagingProcess) -> None:
    spec = STUDIES[1]
    se = spec.series[0]
    sop = se.instances[0].sop_instance_uid
    response = requests.get(
        f"{archive.url}/studies/{spec.study_uid}/series/{se.series_uid}/instances/{sop}",
        headers={"Accept": 'multipart/related; type="application/dicom"'},
        timeout=5,
    )
    assert response.status_code == 200
    boundary = response.headers["content-type"].split("boundary=")[1].strip('"').encode()
    part = response.content.split(b"--" + boundary)[1]
    ds = pydicom.dcmread(BytesIO(part.split(b"\r\n\r\n", 1)[1].removesuffix(b"\r\n")))
    assert ds.SOPInstanceUID == sop
    assert ds.pixel_array.shape == (ds.Rows, ds.Columns) == (32, 32)


def test_store_instances_then_find_them(client: DICOMwebClient) -> None:
    first = make_dataset(rows=16, columns=16)
    study = first.StudyInstanceUID
    second = make_dataset(study_uid=study, series_uid=first.SeriesInstanceUID, instance_number=2)
    result = client.store_instances([first, second])
    stored = result.ReferencedSOPSequence
    assert {item.ReferencedSOPInstanceUID for item in stored} == {first.SOPInstanceUID, second.SOPInstanceUID}
    assert "FailedSOPSequence" not in result
    found = client.search_for_instances(study)
    assert {uid(i, "00080018") for i in found} == {first.SOPInstanceUID, second.SOPInstanceUID}
    back = client.retrieve_instance(study, first.SeriesInstanceUID, first.SOPInstanceUID)
    assert back.pixel_array.shape == (16, 16)
    assert (back.pixel_array == first.pixel_array).all()
    into_study = client.store_instances([make_dataset(study_uid=study)], study_instance_uid=study)
    assert len(into_study.ReferencedSOPSequence) == 1


def test_store_failure_reaches_the_client(client: DICOMwebClient) -> None:
    wrong_study = make_dataset()
    with pytest.raises(requests.HTTPError) as raised:
        client.store_instances([wrong_study], study_instance_uid="1.2.3.4")
    response = raised.value.response
    assert response is not None and response.status_code == 409
    failed = pydicom.Dataset.from_json(response.json()).FailedSOPSequence
    assert failed[0].ReferencedSOPInstanceUID == wrong_study.SOPInstanceUID
    assert failed[0].FailureReason == 0xA901


def test_archive_storage_holds_part10_files(archive: ImagingProcess, client: DICOMwebClient) -> None:
    spec = STUDIES[2]
    client.retrieve_study(spec.study_uid)  # seed files are rendered on first access
    files = list(Path(archive.storage / "studies" / spec.study_uid).glob("*.dcm"))
    assert len(files) == sum(len(se.instances) for se in spec.series)
    assert all(pydicom.dcmread(f).StudyInstanceUID == spec.study_uid for f in files)
