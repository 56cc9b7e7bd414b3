"""The imaging mock side by side with a real PACS: Orthanc 1.10 + its DICOMweb plugin 1.7
(Debian bookworm), both real processes on loopback, loaded with the same DICOM files.

Each test sends the same request to both and compares what a client notices: status codes,
content types, the attributes present (and their values). Where Orthanc deviates from PS3.18
the mock follows the standard, and the test says so (``ORTHANC DEVIATES``); where servers
legitimately differ, the mock's behaviour is a service option (``--qido-empty-status``,
default: what Orthanc does).

Orthanc is installed by ``scripts/install-tools.sh`` (Debian packages ``orthanc`` and
``orthanc-dicomweb``); without it these tests skip and say so. It runs with a temporary
configuration: its own storage directory, the DICOMweb plugin, no authentication, no DICOM
(DIMSE) listener, HTTP only -- Orthanc 1.10 cannot bind its HTTP server to one address, so
``RemoteAccessAllowed: false`` makes it refuse every client but loopback. It starts in well
under a second and is stopped (SIGTERM, then SIGKILL) at teardown whatever the tests did.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pydicom
import pytest
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from harness.errors import ToolMissing
from harness.tools import find_orthanc, find_orthanc_dicomweb
from mock_services.imaging.config import Role
from mock_services.imaging.testing import (
    ImagingProcess,
    free_port,
    make_part10,
    make_rich_dataset,
    part10_of,
    split_multipart,
    stow_body,
    wait_until,
)

pytestmark = pytest.mark.integration
JSON = {"accept": "application/dicom+json"}
MULTIPART_DICOM = 'multipart/related; type="application/dicom"'

# PS3.18 Tables 10.6.3-3/4/5, the R(equired) attributes (the C ones are "if known").
STUDY_R = {"00080020", "00080030", "00080050", "00080061", "00080090", "00100010", "00100020", "00100030",
           "00100040", "0020000D", "00200010", "00201206", "00201208"}  # fmt: skip
SERIES_R = {"00080060", "00081190", "0020000E", "00200011", "00201209"}
INSTANCE_R = {"00080016", "00080018", "00081190", "00200013"}
# Orthanc adds Specific Character Set to every QIDO result; DICOM JSON is always UTF-8
# (PS3.18 F.2), so the mock does not.
ORTHANC_ONLY = {"00080005"}


@dataclass(frozen=True)
class Server:
    name: str
    base: str  # the DICOMweb root: http://127.0.0.1:PORT[/dicom-web]

    def url(self, path: str) -> str:
        return f"{self.base}{path}"


def _orthanc_config(directory: Path, port: int, plugin: Path) -> dict[str, Any]:
    return {
        "Name": "hchaos-side-by-side",
        "StorageDirectory": str(directory / "storage"),
        "IndexDirectory": str(directory / "storage"),
        "Plugins": [str(plugin)],
        "HttpPort": port,
        "RemoteAccessAllowed": False,  # loopback clients only
        "AuthenticationEnabled": False,
        "DicomServerEnabled": False,  # no DIMSE listener
        "OrthancExplorerEnabled": False,
        "WebDavEnabled": False,
        "HttpCompressionEnabled": False,
        "SaveJobs": False,
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": False,
                     "Host": f"127.0.0.1:{port}", "Ssl": False},
    }  # fmt: skip


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    try:
        binary = find_orthanc().path
        plugin = find_orthanc_dicomweb(binary)
    except ToolMissing as missing:
        pytest.skip(f"Orthanc with its DICOMweb plugin is not installed ({missing.message}): "
                    "run scripts/install-tools.sh")
    directory = tmp_path_factory.mktemp("orthanc")
    port = free_port()
    config = directory / "orthanc.json"
    config.write_text(json.dumps(_orthanc_config(directory, port, plugin)))
    log = directory / "orthanc.log"
    with log.open("wb") as out:
        process = subprocess.Popen([str(binary), str(config)], stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        def ready() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"Orthanc exited with {process.returncode}:\n{log.read_text()}")
            return httpx.get(f"http://127.0.0.1:{port}/dicom-web/studies", headers=JSON, timeout=1).status_code == 200

        print(f"Orthanc ready in {wait_until(ready, 30, 'Orthanc answers QIDO-RS'):.2f} s")
        yield Server("orthanc", f"http://127.0.0.1:{port}/dicom-web")
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        print(f"--- orthanc log ---\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="module")
def mock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("mock")
    process = ImagingProcess("pacs-a", Role.ARCHIVE, free_port(), directory / "pacs-a", directory / "pacs-a.log")
    process.start()
    try:
        process.wait_ready()
        yield Server("mock", process.url)
    finally:
        process.kill()
        print(f"--- mock log ---\n{process.log.read_text()[-4000:]}")


def second_instance(first: Dataset) -> Dataset:
    """Another image of the same series, with the same study and series attributes."""
    ds = pydicom.dcmread(BytesIO(part10_of(first)))
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.InstanceNumber = 2
    return ds


RICH = make_rich_dataset(patient_id="SBS0001", accession="ACCSBS1")
CORPUS = [part10_of(RICH), part10_of(second_instance(RICH))]


def stow(server: Server, files: list[bytes]) -> httpx.Response:
    body, headers = stow_body(files)
    return httpx.post(server.url("/studies"), content=body, headers=headers, timeout=30)


@pytest.fixture(scope="module")
def servers(orthanc: Server, mock: Server) -> list[Server]:
    for server in (orthanc, mock):
        response = stow(server, CORPUS)
        assert response.status_code == 200, f"{server.name}: {response.status_code} {response.text[:300]}"
    return [orthanc, mock]


def get(server: Server, path: str, accept: str | None, **params: str) -> httpx.Response:
    return httpx.get(server.url(path), params=params, headers={"accept": accept} if accept else {}, timeout=30)


def both(servers: list[Server], path: str, accept: str | None, **params: str) -> tuple[httpx.Response, httpx.Response]:
    orthanc, mock = servers
    return get(orthanc, path, accept, **params), get(mock, path, accept, **params)


def essence(response: httpx.Response) -> str | None:
    content_type = response.headers.get("content-type")
    return content_type.split(";")[0].strip() if content_type else None


INSTANCE = f"/studies/{RICH.StudyInstanceUID}/series/{RICH.SeriesInstanceUID}/instances/{RICH.SOPInstanceUID}"


# -- QIDO-RS ---------------------------------------------------------------------------------------


def test_no_match_is_200_with_an_empty_array_on_both(servers: list[Server]) -> None:
    # Servers differ here (PS3.18 8.3.4.4.1 says 204): the mock's default follows Orthanc,
    # --qido-empty-status 204 follows the standard (tests/mock_services/test_imaging_standard.py).
    for response in both(servers, "/studies", JSON.get("accept"), PatientID="NOBODY"):
        assert (response.status_code, essence(response), response.json()) == (200, "application/dicom+json", [])


@pytest.mark.parametrize("params", [{"foo": "bar"}, {"NoSuchKeyword": "x"}, {"_": "1712345678"}])
def test_an_unknown_query_key_is_ignored_by_both(servers: list[Server], params: dict[str, str]) -> None:
    # PS3.18 8.3: "The origin server shall ignore any unsupported Query Parameters."
    orthanc, mock = both(servers, "/studies", JSON["accept"], PatientID="SBS0001", **params)
    assert orthanc.status_code == mock.status_code == 200
    assert len(orthanc.json()) == len(mock.json()) == 1
    assert "ignored" in mock.headers["warning"]  # the mock also says so (allowed by 8.3)


def _normalised(value: Any, server: Server) -> Any:
    """A DICOM JSON value with the server's own base URL cut out of Retrieve URLs."""
    if isinstance(value, str) and value.startswith(server.base):
        return value[len(server.base):]
    if isinstance(value, list):
        return [_normalised(v, server) for v in value]
    if isinstance(value, dict):
        return {k: _normalised(v, server) for k, v in value.items()}
    return value


# ORTHANC DEVIATES: an All Series search must carry the study's attributes of Table
# 10.6.3-3 (PS3.18 10.6.3.3.2); Orthanc 1.10 leaves out these three.
ORTHANC_ALL_SERIES_LACKS = {"00080061", "00201206", "00201208"}


@pytest.mark.parametrize(
    ("path", "required", "orthanc_lacks"),
    [
        ("/studies", STUDY_R, set()),
        (f"/studies/{RICH.StudyInstanceUID}/series", SERIES_R, set()),
        ("/series", SERIES_R | STUDY_R, ORTHANC_ALL_SERIES_LACKS),
        (f"/studies/{RICH.StudyInstanceUID}/series/{RICH.SeriesInstanceUID}/instances", INSTANCE_R, set()),
        ("/instances", INSTANCE_R, set()),
    ],
    ids=["all-studies", "study-series", "all-series", "series-instances", "all-instances"],
)
def test_qido_attribute_sets(servers: list[Server], path: str, required: set[str], orthanc_lacks: set[str]) -> None:
    orthanc_server, mock_server = servers
    orthanc, mock = both(servers, path, JSON["accept"], PatientID="SBS0001")
    assert orthanc.status_code == mock.status_code == 200
    by_uid: dict[str, dict[str, Any]] = {}
    for server, response in ((orthanc_server, orthanc), (mock_server, mock)):
        results = response.json()
        assert results, server.name
        for result in results:
            missing = required - result.keys()
            expected = orthanc_lacks if server is orthanc_server else set()
            assert missing == expected, f"{server.name} lacks {sorted(missing)} of the required in {path}"
            uid = (result.get("00080018") or result.get("0020000E") or result["0020000D"])["Value"][0]
            by_uid.setdefault(uid, {})[server.name] = _normalised(result, server)
    for uid, pair in by_uid.items():
        assert set(pair) == {"orthanc", "mock"}, f"{uid} found by one server only"
        theirs, ours = pair["orthanc"], pair["mock"]
        # The mock returns every attribute Orthanc does, with the same value.
        assert theirs.keys() - ours.keys() <= ORTHANC_ONLY, sorted(theirs.keys() - ours.keys() - ORTHANC_ONLY)
        for tag in theirs.keys() & ours.keys():
            assert theirs[tag] == ours[tag], f"{path} {tag}: orthanc {theirs[tag]} != mock {ours[tag]}"


def test_qido_conditional_attributes_of_a_series(servers: list[Server]) -> None:
    path = f"/studies/{RICH.StudyInstanceUID}/series"
    orthanc, mock = both(servers, path, JSON["accept"])
    (theirs,), (ours,) = orthanc.json(), mock.json()
    for tag in ("00400244", "00400245"):  # Performed Procedure Step Start Date / Time
        assert tag in ours and theirs[tag] == ours[tag], tag
    # ORTHANC DEVIATES: PS3.18 Table 10.6.3-4 also wants the Request Attributes Sequence
    # (with its Scheduled Procedure Step ID and Requested Procedure ID) "if known"; Orthanc
    # 1.10 leaves it out even when the instances have it.
    (item,) = ours["00400275"]["Value"]
    assert (item["00400009"]["Value"], item["00401001"]["Value"]) == (["SPS-7"], ["RP-9"])
    assert "00400275" not in theirs


# -- WADO-RS ---------------------------------------------------------------------------------------


def test_metadata_pixel_data_by_bulkdata_uri_resolving_to_the_same_bytes(servers: list[Server]) -> None:
    contents = []
    for server, response in zip(servers, both(servers, f"{INSTANCE}/metadata", JSON["accept"]), strict=True):
        assert (response.status_code, essence(response)) == (200, "application/dicom+json"), server.name
        (dataset,) = response.json()
        pixel = dataset["7FE00010"]
        assert "BulkDataURI" in pixel and "InlineBinary" not in pixel, server.name
        uri = urlparse(pixel["BulkDataURI"])
        bulk = httpx.get(f"http://{uri.netloc}{uri.path}", timeout=30,
                         headers={"accept": 'multipart/related; type="application/octet-stream"'})
        assert bulk.status_code == 200, f"{server.name}: {bulk.text[:200]}"
        (content,) = split_multipart(bulk.headers["content-type"], bulk.content)
        contents.append(content)
    assert contents[0] == contents[1] == RICH.PixelData


@pytest.mark.parametrize(("accept", "expected"), [("image/png", "PNG"), ("image/jpeg", "JPEG"), ("*/*", "JPEG")])
def test_rendered_instance(servers: list[Server], accept: str, expected: str) -> None:
    for server, response in zip(servers, both(servers, f"{INSTANCE}/rendered", accept), strict=True):
        assert response.status_code == 200, f"{server.name}: {response.text[:200]}"
        image = Image.open(BytesIO(response.content))
        assert (essence(response), image.format, image.size) == (f"image/{expected.lower()}", expected, (8, 8))


@pytest.mark.parametrize("path", [f"{INSTANCE}/frames/1/rendered",
                                  f"/studies/{RICH.StudyInstanceUID}/series/{RICH.SeriesInstanceUID}/rendered",
                                  f"/studies/{RICH.StudyInstanceUID}/rendered"])
def test_rendered_frames_series_and_study(servers: list[Server], path: str) -> None:
    for response in both(servers, path, "image/png"):
        assert (response.status_code, essence(response)) == (200, "image/png")


@pytest.mark.parametrize(
    ("path", "accept", "orthanc_status", "mock_status"),
    [
        (f"/studies/{RICH.StudyInstanceUID}", MULTIPART_DICOM, 200, 200),
        (f"/studies/{RICH.StudyInstanceUID}", f"{MULTIPART_DICOM}; transfer-syntax=*", 200, 200),
        (f"/studies/{RICH.StudyInstanceUID}", "*/*", 200, 200),
        # ORTHANC DEVIATES: a bare application/dicom cannot carry a study (several
        # instances); PS3.18 8.7.8.1 step 5 (and Table 10.4.3-1) say 406, Orthanc says 400.
        (f"/studies/{RICH.StudyInstanceUID}", "application/dicom", 400, 406),
        # ORTHANC DEVIATES: for one instance the single-part form exists (the mock sends it,
        # as Google's and Microsoft's DICOMweb services do); Orthanc refuses with 400.
        (INSTANCE, "application/dicom", 400, 200),
        # ORTHANC DEVIATES: DICOM and rendered media types in one Accept are a 400 (PS3.18
        # 8.7.5); Orthanc serves the DICOM one.
        (INSTANCE, f"{MULTIPART_DICOM}, image/jpeg", 200, 400),
        # ORTHANC DEVIATES: nothing acceptable is a 406 (8.7.8.1), Orthanc says 400.
        (f"/studies/{RICH.StudyInstanceUID}", "image/png", 400, 406),
        (f"{INSTANCE}/metadata", "application/json", 200, 200),
        (f"{INSTANCE}/metadata", "application/dicom+json", 200, 200),
    ],
)
def test_accept_variants(servers: list[Server], path: str, accept: str, orthanc_status: int,
                         mock_status: int) -> None:
    orthanc, mock = both(servers, path, accept)
    assert (orthanc.status_code, mock.status_code) == (orthanc_status, mock_status)
    if mock_status == 200 and accept.startswith("multipart"):
        assert essence(orthanc) == essence(mock) == "multipart/related"
        assert len(split_multipart(mock.headers["content-type"], mock.content)) == len(
            split_multipart(orthanc.headers["content-type"], orthanc.content))


# -- STOW-RS ---------------------------------------------------------------------------------------


def test_stow_success_response_shape(servers: list[Server]) -> None:
    data = make_part10(patient_id="SBS0002")
    sop = pydicom.dcmread(BytesIO(data)).SOPInstanceUID
    for server in servers:
        response = stow(server, [data])
        assert (response.status_code, essence(response)) == (200, "application/dicom+json"), server.name
        document = response.json()
        assert document["00081190"]["Value"], server.name  # the study's Retrieve URL
        (item,) = document["00081199"]["Value"]
        assert item["00081155"]["Value"] == [sop] and item["00081190"]["Value"], server.name
        # ORTHANC DEVIATES: it sends an empty Failed SOP Sequence; PS3.18 Table I.1-1 makes it
        # type 1C and PS3.5 7.4.4 says a 1C element whose condition is not met is not included.
        assert ("00081198" in document) == (server.name == "orthanc")


def test_stow_partial_failure(servers: list[Server]) -> None:
    good = make_part10(patient_id="SBS0003")
    orthanc, mock = (stow(server, [good, b"not dicom at all" * 20]) for server in servers)
    # The standard (PS3.18 Table 10.5.3-1): 202, and the failure in the Failed SOP Sequence.
    assert mock.status_code == 202
    (failed,) = mock.json()["00081198"]["Value"]
    assert failed["00081197"]["Value"] == [0xC000]
    assert len(mock.json()["00081199"]["Value"]) == 1
    # ORTHANC DEVIATES: 400, and the Failed SOP Sequence is empty -- the client cannot tell
    # which part failed (the good one was stored).
    assert orthanc.status_code == 400
    assert "Value" not in orthanc.json()["00081198"]


def test_stow_into_the_wrong_study(servers: list[Server]) -> None:
    data = make_part10(patient_id="SBS0004")
    for server in servers:
        body, headers = stow_body([data])
        response = httpx.post(server.url("/studies/1.2.3.4"), content=body, headers=headers, timeout=30)
        assert response.status_code == 409, server.name
        (failed,) = response.json()["00081198"]["Value"]
        # Orthanc reports 0110 (processing failure), the mock A901 (as Microsoft's service).
        assert failed["00081197"]["Value"][0] in (0x0110, 0xA901)
