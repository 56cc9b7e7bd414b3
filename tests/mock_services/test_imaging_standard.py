"""The imaging service where PS3.18 is specific, in-process: what issue 10 aligned after a
side-by-side with Orthanc (tests/mock_services/test_imaging_vs_orthanc.py).

* QIDO-RS: the no-match answer is a service option (200 ``[]`` like Orthanc, or the 204 of
  PS3.18 8.3.4.4.1); unsupported parameters are ignored with a ``Warning`` (PS3.18 8.3:
  "The origin server shall ignore any unsupported Query Parameters"), invalid values of
  supported ones are a 400; each level returns the attributes of PS3.18 Tables 10.6.3-3/4/5.
* WADO-RS: metadata carries a BulkDataURI for Pixel Data, and it resolves; ``/rendered``
  answers image/jpeg (default) or image/png; Accept follows 8.7.5 / 8.7.8 (406 when nothing
  acceptable can be produced, 400 when DICOM and rendered media types are mixed).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
import schemathesis
from PIL import Image
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

from mock_services.common.openapi import documented_operations, route_table
from mock_services.imaging.app import create_app
from mock_services.imaging.config import Role
from mock_services.imaging.testing import make_config, make_rich_dataset, part10_of, split_multipart, stow_body
from mock_services.synthetic import StudySpec, SyntheticConfig, generate

SEED, PATIENTS = 2024, 4
STUDIES: list[StudySpec] = list(generate(SyntheticConfig(seed=SEED, patients=PATIENTS)).imaging_studies())
DICOM_JSON = {"accept": "application/dicom+json"}

# PS3.18 Tables 10.6.3-3, 10.6.3-4 and 10.6.3-5: R(equired) attributes are always returned,
# C(onditional) ones "if known". Retrieve URL and Instance Availability we always know.
STUDY_REQUIRED = {
    "00080020", "00080030", "00080050", "00080056", "00080061", "00080090", "00081190", "00100010",
    "00100020", "00100030", "00100040", "0020000D", "00200010", "00201206", "00201208",
}  # fmt: skip
SERIES_REQUIRED = {"00080060", "00081190", "0020000E", "00200011", "00201209"}
INSTANCE_REQUIRED = {"00080016", "00080018", "00080056", "00081190", "00200013"}
TIMEZONE, PPS_DATE, PPS_TIME, REQUEST_ATTRIBUTES = "00080201", "00400244", "00400245", "00400275"


RICH = make_rich_dataset(patient_id="RICH0001", accession="ACCRICH1")
RICH.TimezoneOffsetFromUTC = "+0200"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    config = make_config(tmp_path_factory.mktemp("std"), "pacs-a", Role.ARCHIVE, seed=SEED, patients=PATIENTS)
    with TestClient(create_app(config), base_url="http://pacs.test") as test_client:
        body, headers = stow_body([part10_of(RICH)])
        assert test_client.post("/studies", content=body, headers=headers).status_code == 200
        yield test_client


def search(client: TestClient, path: str, **params: str) -> list[dict[str, Any]]:
    response = client.get(path, params=params, headers=DICOM_JSON)
    assert response.status_code == 200, response.text
    result = response.json()
    assert isinstance(result, list)
    return result


def value(dataset: dict[str, Any], tag: str) -> Any:
    return dataset[tag]["Value"][0]


# -- QIDO-RS: no match -------------------------------------------------------------------------


def test_no_match_is_200_with_an_empty_array_by_default(client: TestClient) -> None:
    response = client.get("/studies", params={"PatientID": "nobody"}, headers=DICOM_JSON)
    assert (response.status_code, response.json()) == (200, [])
    assert response.headers["content-type"] == "application/dicom+json"


def test_no_match_is_204_when_the_service_is_configured_so(tmp_path: Path) -> None:
    config = make_config(tmp_path, "pacs-a", Role.ARCHIVE, qido_empty_status=204)
    with TestClient(create_app(config)) as client:
        for path in ("/studies", "/series", "/instances"):
            response = client.get(path, params={"PatientID": "nobody"}, headers=DICOM_JSON)
            assert (response.status_code, response.content) == (204, b""), path


# -- QIDO-RS: what is ignored, what is refused ---------------------------------------------------


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"foo": "bar"}, "foo"),  # not a DICOM attribute at all
        ({"_": "1712345678"}, "_"),  # a browser-style cache buster
        ({"NoSuchKeyword": "x"}, "NoSuchKeyword"),
        ({"00091010": "x"}, "00091010"),  # a private tag (no Private Creator in the index)
        ({"OtherPatientIDsSequence.PatientID": "x"}, "OtherPatientIDsSequence.PatientID"),
        ({"BodyPartExamined": "CHEST"}, "BodyPartExamined"),  # a keyword we do not match on
        ({"includefield": "NoSuchKeyword"}, "NoSuchKeyword"),
        ({"Limit": "1"}, "Limit"),  # qp-names are case-sensitive: not "limit"
    ],
)
def test_unsupported_parameters_are_ignored_with_a_warning(
    client: TestClient, params: dict[str, str], named: str
) -> None:
    everything = search(client, "/studies")
    response = client.get("/studies", params=params, headers=DICOM_JSON)
    assert response.status_code == 200, response.text
    assert len(response.json()) == len(everything)
    assert response.headers["warning"].startswith("299 ")
    assert named in response.headers["warning"]


@pytest.mark.parametrize(
    ("path", "params", "expected"),
    [
        ("/studies", {"StudyDate": "2024-01-01"}, "StudyDate"),
        ("/studies", {"StudyTime": "25h"}, "StudyTime"),
        ("/studies", {"limit": "-1"}, "limit"),
        ("/studies", {"offset": "x"}, "offset"),
        ("/studies", {"fuzzymatching": "maybe"}, "fuzzymatching"),
        ("/series", {"SeriesNumber": "two"}, "integer"),
        ("/studies", {"SOPInstanceUID": "1.2.3"}, "instance-level"),  # PS3.18 10.6.1.2.1
    ],
)
def test_invalid_values_of_supported_parameters_are_400(
    client: TestClient, path: str, params: dict[str, str], expected: str
) -> None:
    response = client.get(path, params=params, headers=DICOM_JSON)
    assert response.status_code == 400
    assert expected in response.json()["error"]


# -- QIDO-RS: the required attributes of each level -----------------------------------------------


def test_each_level_returns_the_required_attributes(client: TestClient) -> None:
    spec = STUDIES[0]
    for study in search(client, "/studies"):
        assert study.keys() >= STUDY_REQUIRED, STUDY_REQUIRED - study.keys()
    for series in search(client, f"/studies/{spec.study_uid}/series"):
        assert series.keys() >= SERIES_REQUIRED, SERIES_REQUIRED - series.keys()
    for series in search(client, "/series"):  # All Series: the study's attributes too
        assert series.keys() >= SERIES_REQUIRED | STUDY_REQUIRED
    for instance in search(client, "/instances"):
        assert instance.keys() >= INSTANCE_REQUIRED, INSTANCE_REQUIRED - instance.keys()
    seeded = search(client, "/instances", PatientID=spec.patient_id)[0]
    assert {"00280010", "00280011", "00280100", "00280008"} <= seeded.keys()  # known: a real image
    assert TIMEZONE not in seeded  # conditional, and not known for the seed data


def test_conditional_attributes_are_returned_when_the_files_have_them(client: TestClient) -> None:
    (study,) = search(client, "/studies", PatientID="RICH0001")
    assert study["00080090"]["Value"] == [{"Alphabetic": "HOUSE^Gregory"}]
    assert value(study, "00200010") == "S-42"
    assert value(study, TIMEZONE) == "+0200"
    (series,) = search(client, f"/studies/{RICH.StudyInstanceUID}/series")
    assert (value(series, PPS_DATE), value(series, PPS_TIME)) == ("20240803", "101200")
    (item,) = series[REQUEST_ATTRIBUTES]["Value"]
    assert (value(item, "00400009"), value(item, "00401001")) == ("SPS-7", "RP-9")
    (instance,) = search(client, f"/studies/{RICH.StudyInstanceUID}/instances")
    assert value(instance, TIMEZONE) == "+0200"


def test_match_on_the_required_matching_attributes(client: TestClient) -> None:
    # PS3.18 Table 10.6.1-5: Study ID, Referring Physician's Name, PPS start date/time and the
    # Request Attributes Sequence items must be matchable.
    uid = RICH.StudyInstanceUID
    for params in (
        {"StudyID": "S-42"},
        {"ReferringPhysicianName": "house*"},
        {"00080090": "HOUSE^Gregory"},
    ):
        assert [value(s, "0020000D") for s in search(client, "/studies", **params)] == [uid], params
    assert search(client, "/studies", StudyID="S-43") == []
    for params in (
        {"PerformedProcedureStepStartDate": "20240801-20240805"},
        {"PerformedProcedureStepStartTime": "1012-1013"},
        {"RequestAttributesSequence.ScheduledProcedureStepID": "SPS-7"},
        {"00400275.00401001": "RP-9"},
    ):
        found = search(client, "/series", **params)
        assert [value(s, "0020000D") for s in found] == [uid], params
    assert search(client, "/series", **{"RequestAttributesSequence.RequestedProcedureID": "RP-0"}) == []


# -- WADO-RS: metadata and bulk data ---------------------------------------------------------------


def instance_path(spec: StudySpec) -> str:
    se = spec.series[0]
    return f"/studies/{spec.study_uid}/series/{se.series_uid}/instances/{se.instances[0].sop_instance_uid}"


def test_metadata_gives_pixel_data_a_bulkdata_uri_that_resolves(client: TestClient) -> None:
    base = instance_path(STUDIES[0])
    (dataset,) = client.get(f"{base}/metadata", headers=DICOM_JSON).json()
    pixel = dataset["7FE00010"]
    assert pixel["vr"] == "OW" and "InlineBinary" not in pixel
    uri = pixel["BulkDataURI"]
    assert uri.startswith(f"http://pacs.test{base}/")
    response = client.get(uri, headers={"accept": 'multipart/related; type="application/octet-stream"'})
    assert response.status_code == 200, response.text
    (content,) = split_multipart(response.headers["content-type"], response.content)
    (full,) = [pydicom.dcmread(BytesIO(p)) for p in split_multipart(*_retrieve(client, base))]
    assert content == full.PixelData
    bare = client.get(uri, headers={"accept": "application/octet-stream"})
    assert (bare.headers["content-type"], bare.content) == ("application/octet-stream", full.PixelData)
    assert client.get(f"{base}/bulk/00100010").status_code == 404  # not bulk data
    assert client.get(f"{base}/bulk/nothex").status_code == 404


def _retrieve(client: TestClient, path: str) -> tuple[str, bytes]:
    response = client.get(path, headers={"accept": 'multipart/related; type="application/dicom"'})
    assert response.status_code == 200
    return response.headers["content-type"], response.content


# -- WADO-RS: rendered ---------------------------------------------------------------------------


def rendered(client: TestClient, path: str, accept: str | None, **params: str) -> Image.Image:
    response = client.get(path, params=params, headers={"accept": accept} if accept else {})
    assert response.status_code == 200, response.text
    image = Image.open(BytesIO(response.content))
    expected = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif"}[str(image.format)]
    assert response.headers["content-type"] == expected
    return image


def test_rendered_instance_png_jpeg_and_the_default(client: TestClient) -> None:
    path = f"{instance_path(STUDIES[0])}/rendered"
    png = rendered(client, path, "image/png")
    assert (png.format, png.size, png.mode) == ("PNG", (32, 32), "L")
    pixels = np.asarray(png)
    assert (pixels.min(), pixels.max()) == (0, 255)  # no window in the file: full range
    assert rendered(client, path, "image/jpeg").format == "JPEG"
    assert rendered(client, path, "*/*").format == "JPEG"  # PS3.18 Table 8.7.4-1: jpeg is the default
    assert rendered(client, path, "image/*").format == "JPEG"
    assert rendered(client, path, "image/gif").format == "GIF"
    assert rendered(client, path, "image/png", quality="50").format == "PNG"


def test_rendered_window_changes_the_image(client: TestClient) -> None:
    path = f"{instance_path(STUDIES[0])}/rendered"
    full = np.asarray(rendered(client, path, "image/png"))
    narrow = np.asarray(rendered(client, path, "image/png", window="100,50,linear"))
    assert not np.array_equal(full, narrow)
    assert (narrow == 255).sum() > (full == 255).sum()  # most of the image is above 125 HU-ish


def test_rendered_frames_series_and_study(client: TestClient) -> None:
    spec = STUDIES[0]
    se = spec.series[0]
    for path in (
        f"{instance_path(spec)}/frames/1/rendered",
        f"/studies/{spec.study_uid}/series/{se.series_uid}/rendered",
        f"/studies/{spec.study_uid}/rendered",
    ):
        assert rendered(client, path, "image/png").size == (32, 32), path
    assert client.get(f"{instance_path(spec)}/frames/2/rendered", headers={"accept": "image/png"}).status_code == 404


@pytest.mark.parametrize(
    ("accept", "params", "status"),
    [
        ("application/dicom", {}, 406),
        ('multipart/related; type="application/dicom"', {}, 406),
        ("text/html", {}, 406),
        ("image/png, application/dicom", {}, 400),  # PS3.18 8.7.5: DICOM and rendered mixed
        ("image/jpeg", {"quality": "0"}, 400),
        ("image/jpeg", {"quality": "best"}, 400),
        ("image/png", {"window": "40"}, 400),
        ("image/png", {"window": "40,0"}, 400),
        ("image/png", {"window": "40,400,cubic"}, 400),
        ("image/png", {"annotation": "patient"}, 200),  # unsupported: ignored (PS3.18 8.3)
    ],
)
def test_rendered_negotiation_and_parameters(
    client: TestClient, accept: str, params: dict[str, str], status: int
) -> None:
    path = f"{instance_path(STUDIES[0])}/rendered"
    response = client.get(path, params=params, headers={"accept": accept})
    assert response.status_code == status, response.text


def test_rendered_unknown_instance_is_404(client: TestClient) -> None:
    spec = STUDIES[0]
    path = f"/studies/{spec.study_uid}/series/{spec.series[0].series_uid}/instances/1.2.3/rendered"
    response = client.get(path, headers={"accept": "image/png"})
    assert response.status_code == 404 and "instance 1.2.3" in response.json()["error"]


# -- WADO-RS: Accept on DICOM resources ---------------------------------------------------------


def test_a_bare_application_dicom_accept(client: TestClient) -> None:
    spec = STUDIES[0]
    study = client.get(f"/studies/{spec.study_uid}", headers={"accept": "application/dicom"})
    assert study.status_code == 406  # a study is several instances: no single-part form
    assert "multipart/related" in study.json()["error"]
    one = client.get(instance_path(spec), headers={"accept": "application/dicom"})
    assert one.status_code == 200
    assert one.headers["content-type"] == "application/dicom"
    assert pydicom.dcmread(BytesIO(one.content)).SOPInstanceUID == spec.series[0].instances[0].sop_instance_uid


def test_dicom_and_rendered_types_mixed_in_accept_is_400(client: TestClient) -> None:
    accept = 'multipart/related; type="application/dicom", image/jpeg'
    response = client.get(f"/studies/{STUDIES[0].study_uid}", headers={"accept": accept})
    assert response.status_code == 400
    assert "8.7.5" in response.json()["error"]


# -- regressions found by the fuzz campaigns (tests/mock_services/test_imaging_fuzz.py) ---------


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        # Integers beyond SQLite's 64 bits were a 500 (OverflowError binding the parameter).
        ("/series", {"SeriesNumber": "99999999999999999999999"}, 400),  # not an IS value
        ("/instances", {"InstanceNumber": "-99999999999999999999999"}, 400),
        ("/studies", {"offset": "99999999999999999999999"}, 200),  # a valid uint: nothing left
        ("/studies", {"limit": "99999999999999999999999"}, 200),
    ],
)
def test_numbers_beyond_64_bits_are_never_a_500(
    client: TestClient, path: str, params: dict[str, str], status: int
) -> None:
    response = client.get(path, params=params, headers=DICOM_JSON)
    assert response.status_code == status, response.text


# -- the OpenAPI document ----------------------------------------------------------------------


def test_the_openapi_document_lists_exactly_the_routes(client: TestClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    document = response.json()
    assert documented_operations(document) == route_table(client.app.routes)  # type: ignore[attr-defined]
    schemathesis.openapi.from_dict(document)  # loads as a valid OpenAPI 3.0 document
    assert {"/studies", "/studies/{study}/series/{series}/instances/{sop}/rendered"} <= document["paths"].keys()
    allowed = client.request("DELETE", "/studies")
    assert allowed.status_code == 405  # one route per path: Allow names both GET and POST
    assert set(allowed.headers["allow"].split(", ")) == {"GET", "HEAD", "POST"}
