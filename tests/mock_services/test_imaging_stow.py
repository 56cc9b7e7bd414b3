"""STOW-RS conformance, in-process (Starlette TestClient): success, partial, failure, and
"the archive is untouched" after a refused instance."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.uid import generate_uid
from starlette.exceptions import StarletteDeprecationWarning

from mock_services.imaging.app import create_app
from mock_services.imaging.config import Role
from mock_services.imaging.part10 import FailureReason
from mock_services.imaging.testing import make_config, make_part10, service_of, split_multipart, stow_body

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

STORED, FAILED = "00081199", "00081198"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(make_config(tmp_path, "pacs-a", Role.ARCHIVE)), base_url="http://pacs.test") as c:
        yield c


def stow(client: TestClient, files: list[bytes], path: str = "/studies") -> tuple[int, dict[str, Any]]:
    body, headers = stow_body(files)
    response = client.post(path, content=body, headers=headers)
    assert response.headers["content-type"] == "application/dicom+json", response.text
    return response.status_code, response.json()


def items(document: dict[str, Any], tag: str) -> list[dict[str, Any]]:
    return list(document.get(tag, {}).get("Value", []))


def uid_of(item: dict[str, Any]) -> str | None:
    found = item["00081155"].get("Value")
    return found[0] if found else None


def reasons(document: dict[str, Any]) -> list[int]:
    return [item["00081197"]["Value"][0] for item in items(document, FAILED)]


def files_on_disk(client: TestClient) -> list[Path]:
    root = service_of(client.app).config.storage  # type: ignore[arg-type]
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("index.sqlite"))


def test_store_two_instances_then_find_and_retrieve_them(client: TestClient) -> None:
    study = generate_uid()
    files = [make_part10(study_uid=study, instance_number=n) for n in (1, 2)]
    status, document = stow(client, files)
    assert status == 200
    assert FAILED not in document
    assert document["00081190"]["Value"] == [f"http://pacs.test/studies/{study}"]
    stored = items(document, STORED)
    assert len(stored) == 2
    for item in stored:
        assert item["00081150"]["Value"] == ["1.2.840.10008.5.1.4.1.1.2"]
        assert item["00081190"]["Value"][0].startswith(f"http://pacs.test/studies/{study}/series/")
    found = client.get("/studies", params={"StudyInstanceUID": study})
    assert found.json()[0]["00201208"]["Value"] == [2]
    retrieved = client.get(f"/studies/{study}")
    assert sorted(split_multipart(retrieved.headers["content-type"], retrieved.content)) == sorted(files)
    assert len(files_on_disk(client)) == 2
    assert client.get("/health").json()["replication"]["backlog"] == 2  # queued for a replica


def test_store_into_a_named_study(client: TestClient) -> None:
    study = generate_uid()
    status, document = stow(client, [make_part10(study_uid=study)], path=f"/studies/{study}")
    assert status == 200
    assert len(items(document, STORED)) == 1


def test_study_uid_mismatch_is_409_and_stores_nothing(client: TestClient) -> None:
    data = make_part10()
    status, document = stow(client, [data], path=f"/studies/{generate_uid()}")
    assert status == 409
    assert reasons(document) == [FailureReason.STUDY_UID_MISMATCH]
    assert STORED not in document
    assert files_on_disk(client) == []
    assert client.get("/health").json()["instances"] == 0


def test_partial_success_is_202_listing_each_outcome(client: TestClient) -> None:
    good = make_part10()
    status, document = stow(client, [good, b"this is not DICOM at all" * 10])
    assert status == 202
    assert len(items(document, STORED)) == 1
    (failed,) = items(document, FAILED)
    assert failed["00081197"]["Value"] == [FailureReason.CANNOT_UNDERSTAND]
    assert uid_of(failed) is None  # nothing readable to name it by
    assert len(files_on_disk(client)) == 1


def _without(keyword: str) -> bytes:
    ds = pydicom.dcmread(BytesIO(make_part10()))
    delattr(ds, keyword)
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _truncated_pixels() -> bytes:
    data = make_part10(rows=16, columns=16)
    return data[:-100]  # Pixel Data's declared length now overruns the file


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (lambda: b"\0" * 128 + b"DICM" + b"garbage" * 20, FailureReason.CANNOT_UNDERSTAND),
        (lambda: make_part10()[132:], FailureReason.CANNOT_UNDERSTAND),  # no preamble: not Part 10
        (lambda: _without("SOPInstanceUID"), FailureReason.DATASET_DOES_NOT_MATCH),
        (lambda: _without("StudyInstanceUID"), FailureReason.DATASET_DOES_NOT_MATCH),
        (lambda: make_part10(series_uid="1.2.03"), FailureReason.DATASET_DOES_NOT_MATCH),  # invalid UID
        (_truncated_pixels, FailureReason.DATASET_DOES_NOT_MATCH),
    ],
    ids=["garbage-after-DICM", "no-preamble", "no-sop-uid", "no-study-uid", "invalid-uid", "truncated"],
)
@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")
def test_invalid_dicom_is_refused_and_the_archive_untouched(client: TestClient, payload: Any, reason: int) -> None:
    before = client.get("/health").json()
    status, document = stow(client, [payload()])
    # PS3.18 Table 10.5.3-1: 400 when nothing was stored "due to bad syntax" (no part was
    # readable DICOM), 409 when the request was well formed but the instances conflict.
    assert status == (400 if reason == FailureReason.CANNOT_UNDERSTAND else 409)
    assert reasons(document) == [reason]
    after = client.get("/health").json()
    assert (after["instances"], after["studies"], after["replication"]["backlog"]) == (0, 0, 0)
    assert before["instances"] == 0
    assert files_on_disk(client) == []


@pytest.mark.parametrize("value", ["1e30", "99999999999999999999", "-9223372036854775809"])
@pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom: not a valid IS value
def test_numbers_beyond_64_bits_are_stored_without_being_indexed(client: TestClient, value: str) -> None:
    # Regression (fuzz campaign): an Instance or Series Number beyond SQLite's 64 bits was a 500
    # and left a temporary file behind. Such a number is not a valid IS (32 bits), so the index
    # does not hold it -- as for any unreadable non-critical number -- and the image is kept.
    ds = pydicom.dcmread(BytesIO(make_part10()))
    ds["InstanceNumber"].value = value
    ds["SeriesNumber"].value = value
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    status, document = stow(client, [buffer.getvalue()])
    assert status == 200, document
    found = client.get("/instances", params={"SOPInstanceUID": ds.SOPInstanceUID},
                       headers={"accept": "application/dicom+json"}).json()
    assert len(found) == 1 and "Value" not in found[0]["00200013"]  # type 2: present, empty
    assert [p.name for p in files_on_disk(client) if p.suffix == ".part"] == []


@pytest.mark.parametrize("syntax", ["9.9.999.99999.9.9.9", "1.2.840.10008.1.2.4"])
def test_a_transfer_syntax_nobody_knows_is_refused_not_a_500(client: TestClient, syntax: str) -> None:
    # Regression (fuzz campaign): pydicom's UID.is_compressed raises for a UID that is no
    # transfer syntax, and that was a 500. Such a file cannot be understood: C000.
    data = make_part10().replace(b"1.2.840.10008.1.2.1\0", syntax.encode() + b"\0", 1)
    status, document = stow(client, [data])
    assert (status, reasons(document)) == (400, [FailureReason.CANNOT_UNDERSTAND])
    assert files_on_disk(client) == []


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom: invalid IS value
def test_an_accepted_instance_with_an_unreadable_number_still_has_metadata(client: TestClient) -> None:
    # Regression (fuzz campaign): an IS value that is no number ("a ") is kept -- a modality's
    # sloppy Instance Number is no reason to refuse its image -- but DICOM JSON wants IS as a
    # number, and the instance's metadata was a 500. It is now the attribute without a value.
    data = make_part10(instance_number=1)
    header = b"\x20\x00\x13\x00IS\x02\x00"
    assert data.count(header + b"1 ") == 1
    data = data.replace(header + b"1 ", header + b"a ")
    status, document = stow(client, [data])
    assert status == 200, document
    url = items(document, STORED)[0]["00081190"]["Value"][0]
    response = client.get(f"{url}/metadata", headers={"accept": "application/dicom+json"})
    assert response.status_code == 200, response.text
    (dataset,) = response.json()
    assert dataset["00200013"] == {"vr": "IS"}
    assert dataset["00100020"]["Value"] == ["TEST0001"]  # the rest is all there


def test_a_garbled_file_meta_is_refused_not_a_500(client: TestClient) -> None:
    # Regression (fuzz campaign): a flipped bit made Media Storage SOP Class UID's VR "UY";
    # the data set was checked element by element, the File Meta was not, and reading it
    # later raised pydicom's NotImplementedError: a 500.
    data = make_part10().replace(b"\x02\x00\x02\x00UI", b"\x02\x00\x02\x00UY", 1)
    status, document = stow(client, [data])
    assert (status, reasons(document)) == (400, [FailureReason.CANNOT_UNDERSTAND])


def test_short_pixel_data_is_refused(client: TestClient) -> None:
    ds = pydicom.dcmread(BytesIO(make_part10(rows=16, columns=16)))
    ds.PixelData = ds.PixelData[:100]
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    status, document = stow(client, [buffer.getvalue()])
    assert status == 409
    assert reasons(document) == [FailureReason.DATASET_DOES_NOT_MATCH]


def test_identical_retry_is_acknowledged_once_stored_and_different_content_refused(client: TestClient) -> None:
    sop = generate_uid()
    data = make_part10(sop_uid=sop)
    assert stow(client, [data])[0] == 200
    status, document = stow(client, [data])  # a client retrying after a lost answer
    assert status == 200
    assert uid_of(items(document, STORED)[0]) == sop
    health = client.get("/health").json()
    assert (health["instances"], health["replication"]["backlog"]) == (1, 1)
    status, document = stow(client, [make_part10(sop_uid=sop, patient_id="SOMEONE-ELSE")])
    assert status == 409
    assert reasons(document) == [FailureReason.DUPLICATE_SOP_INSTANCE]
    retrieved = client.get("/instances", params={"SOPInstanceUID": sop}).json()
    assert retrieved[0]["00100020"]["Value"] == ["TEST0001"]  # the original is untouched


def test_duplicate_within_one_request(client: TestClient) -> None:
    sop = generate_uid()
    data = make_part10(sop_uid=sop)
    status, document = stow(client, [data, data, make_part10(sop_uid=sop, instance_number=9)])
    assert status == 202
    assert len(items(document, STORED)) == 2
    assert reasons(document) == [FailureReason.DUPLICATE_SOP_INSTANCE]
    assert client.get("/health").json()["instances"] == 1


@pytest.mark.parametrize(
    ("content_type", "body", "status"),
    [
        ("application/dicom", b"x", 415),
        ('multipart/related; type="application/dicom+json"; boundary=abc', b"--abc--", 415),
        ('multipart/related; type="application/dicom"', b"--abc--", 400),  # no boundary
        ('multipart/related; type="application/dicom"; boundary=abc', b"--abc\r\n\r\nno end", 400),
        ('multipart/related; type="application/dicom"; boundary=abc', b"--abc--\r\n", 400),  # no parts
        ('multipart/related; type="application/dicom"; boundary=abc', b"no delimiter at all", 400),
    ],
)
def test_unreadable_requests(client: TestClient, content_type: str, body: bytes, status: int) -> None:
    response = client.post("/studies", content=body, headers={"content-type": content_type})
    assert response.status_code == status, response.text
    assert response.json()["status"] == status
    assert client.get("/health").json()["instances"] == 0


def test_store_response_needs_a_json_accept(client: TestClient) -> None:
    body, headers = stow_body([make_part10()])
    response = client.post("/studies", content=body, headers={**headers, "accept": "application/dicom+xml"})
    assert response.status_code == 406
    assert client.get("/health").json()["instances"] == 0


def test_a_part_of_another_type_fails_alone(client: TestClient) -> None:
    body = (
        b"--b\r\nContent-Type: application/dicom\r\n\r\n" + make_part10() + b"\r\n"
        b"--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b--"
    )
    content_type = 'multipart/related; type="application/dicom"; boundary=b'
    response = client.post("/studies", content=body, headers={"content-type": content_type})
    assert response.status_code == 202
    assert reasons(response.json()) == [FailureReason.CANNOT_UNDERSTAND]


def test_a_replica_refuses_client_stow_with_503(tmp_path: Path) -> None:
    with TestClient(create_app(make_config(tmp_path, "pacs-b", Role.REPLICA))) as replica:
        body, headers = stow_body([make_part10()])
        response = replica.post("/studies", content=body, headers=headers)
        assert response.status_code == 503
        assert response.headers["retry-after"]
        assert "read-only replica" in response.json()["error"]
        assert replica.get("/health").json()["instances"] == 0


def test_an_archive_refuses_replication_traffic(client: TestClient) -> None:
    body, headers = stow_body([make_part10()])
    assert client.post("/_replication/instances", content=body, headers=headers).status_code == 403
    assert client.get("/health").json()["instances"] == 0


def test_an_oversized_body_is_413_and_stores_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("mock_services.imaging.app.MAX_BODY_BYTES", 2000)
    with TestClient(create_app(make_config(tmp_path, "pacs-a", Role.ARCHIVE))) as small:
        body, headers = stow_body([make_part10(rows=32, columns=32)])  # ~2.6 KB
        response = small.post("/studies", content=body, headers=headers)
        assert response.status_code == 413
        assert response.headers["x-served-by"] == "pacs-a"
        assert small.get("/health").json()["instances"] == 0
