"""Fuzz campaigns against a real imaging process (an archive): mutated DICOM Part 10 files and
broken multipart bodies sent to STOW-RS, and schemathesis over the service's OpenAPI document.

Invariants, after every request:

* never a 5xx, and the process keeps answering ``/health``;
* no partial write: the archive holds exactly the instances the answers said were stored --
  checked three ways: the index (read-only, straight from ``index.sqlite``), the files on
  disk (one ``studies/<study>/<sop>.dcm`` per index row, byte for byte what was sent, and
  nothing left in ``tmp/``), and the service itself (QIDO-RS finds each stored instance once,
  WADO-RS returns its bytes; an instance only ever refused is not found);
* what was stored can be read back without a 5xx: metadata, frames, a rendered image.

Sizes from :mod:`tests.campaigns`: deterministic and small in the suite (a few seconds), long
and freshly seeded under ``make fuzz`` (the seed is printed: replay with
``HCHAOS_CAMPAIGN_SEED``). Each campaign prints its counts (cases, statuses, what was stored).
"""

from __future__ import annotations

import random
import sqlite3
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

import httpx
import pydicom
import pytest
import schemathesis
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from schemathesis.generation.case import Case

from mock_services.imaging import multipart
from mock_services.imaging.app import create_app
from mock_services.imaging.config import Role
from mock_services.imaging.testing import ImagingProcess, free_port, make_config, make_part10, part10_of, service_of
from mock_services.synthetic import SyntheticConfig, generate
from tests.campaigns import budget, rng
from tests.mock_services.http_fuzz import Service, assert_serves, campaign_schema, document_of, exercise, running, spawn

# pydicom warns about every invalid value it reads or writes: the campaign makes them on purpose.
pytestmark = [pytest.mark.campaign, pytest.mark.integration, pytest.mark.filterwarnings("ignore::UserWarning")]
TIMEOUT = 30.0
JSON = {"accept": "application/dicom+json"}
STORED, FAILED, SOP_UID = "00081199", "00081198", "00081155"


# -- the archive under fuzz, and what it must hold ----------------------------------------------


@dataclass
class Archive:
    """The process, and the campaign's record of what it acknowledged."""

    url: str
    storage: Path
    client: httpx.Client
    expected: dict[str, bytes] = field(default_factory=dict)  # SOP Instance UID -> the bytes stored
    refused: set[str] = field(default_factory=set)  # UIDs named in a Failed SOP Sequence, never stored
    statuses: Counter[int] = field(default_factory=Counter)
    cases: int = 0

    def stow(self, body: bytes, content_type: str | None, path: str = "/studies") -> httpx.Response:
        headers = {"accept": "application/dicom+json"}
        if content_type is not None:
            headers["content-type"] = content_type
        response = self.client.post(f"{self.url}{path}", content=body, headers=headers, timeout=TIMEOUT)
        self.cases += 1
        self.statuses[response.status_code] += 1
        return response

    def index(self) -> dict[str, tuple[str, int | None]]:
        """STOWed rows of the index: SOP Instance UID -> (path, size), read-only."""
        with sqlite3.connect(f"file:{self.storage / 'index.sqlite'}?mode=ro", uri=True) as db:
            rows = db.execute("SELECT sop_uid, path, size FROM instances WHERE source = 'stow'").fetchall()
        return {sop: (path, size) for sop, path, size in rows}


def answer(archive: Archive, response: httpx.Response, parts: list[bytes], what: str) -> None:
    """Hold one STOW answer to the invariants (module docstring); update the record."""
    assert response.status_code < 500, f"{response.status_code} for {what}: {response.text[:500]}"
    stored: list[str] = []
    if response.headers.get("content-type") == "application/dicom+json":
        document = response.json()
        stored = [item[SOP_UID]["Value"][0] for item in document.get(STORED, {}).get("Value", [])]
        for item in document.get(FAILED, {}).get("Value", []):
            uid = item.get(SOP_UID, {}).get("Value", [None])[0]
            if uid and uid not in archive.expected:
                archive.refused.add(uid)
        assert (response.status_code == 200) == (FAILED not in document and bool(stored)), what
    else:
        assert response.status_code >= 400, f"{response.status_code} without a Store Instances Response: {what}"
    for uid in stored:
        retrieved = archive.client.get(f"{archive.url}/instances", params={"SOPInstanceUID": uid}, headers=JSON)
        (found,) = retrieved.json()
        wado = archive.client.get(found["00081190"]["Value"][0], headers={"accept": "application/dicom"})
        assert wado.status_code == 200, f"stored {uid} but WADO-RS says {wado.status_code}: {what}"
        if uid in archive.expected:  # acknowledged again: the first copy stays
            assert wado.content == archive.expected[uid], f"{uid} changed: {what}"
        else:
            assert wado.content in parts, f"{uid} is not byte for byte a part that was sent: {what}"
            archive.expected[uid] = wado.content
            archive.refused.discard(uid)
            read_back(archive, found["00081190"]["Value"][0], what)
    check_store(archive, what)


def read_back(archive: Archive, instance_url: str, what: str) -> None:
    """Whatever was stored reads back without a 5xx (an odd but accepted file included)."""
    for path, accept in (("/metadata", "application/dicom+json"), ("/frames/1", "*/*"), ("/rendered", "image/png")):
        response = archive.client.get(f"{instance_url}{path}", headers={"accept": accept}, timeout=TIMEOUT)
        assert response.status_code < 500, f"{path} of a stored instance: {response.status_code}: {what}"


def check_store(archive: Archive, what: str, *, contents: bool = False) -> None:
    """The index, the disk and /health agree with the answers (``contents``: and every file
    is byte for byte the instance acknowledged -- at a campaign's end, sizes meanwhile)."""
    index = archive.index()
    assert set(index) == set(archive.expected), (
        f"index {sorted(set(index) ^ set(archive.expected))[:3]} differs from the answers: {what}"
    )
    leftovers = list((archive.storage / "tmp").iterdir())
    assert leftovers == [], f"half-written files {leftovers[:3]}: {what}"
    # The whole tree after every request while it is small; in a long campaign every 20th
    # request (and at the end), so that the campaign stays minutes, not hours.
    if contents or len(index) < 300 or archive.cases % 20 == 0:
        on_disk = {p.relative_to(archive.storage).as_posix() for p in (archive.storage / "studies").rglob("*.dcm")}
        assert on_disk == {path for path, _ in index.values()}, f"files without rows or rows without files: {what}"
    for uid, (path, size) in index.items():
        assert size == len(archive.expected[uid]), f"{uid}: size {size} in the index: {what}"
        if contents:
            assert (archive.storage / path).read_bytes() == archive.expected[uid], f"{path} differs: {what}"
    health = archive.client.get(f"{archive.url}/health", timeout=TIMEOUT)
    assert health.status_code == 200 and health.json()["instances"] == len(index), what


def check_refused(archive: Archive) -> None:
    """Instances only ever refused are not found (QIDO-RS) -- a sample, at the campaign's end."""
    for uid in sorted(archive.refused)[:50]:
        found = archive.client.get(f"{archive.url}/instances", params={"SOPInstanceUID": uid}, headers=JSON)
        assert found.status_code == 200 and found.json() == [], f"refused {uid} is found"


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Archive]:
    directory = tmp_path_factory.mktemp("imaging-fuzz")
    process = ImagingProcess("pacs-a", Role.ARCHIVE, free_port(), directory / "pacs-a", directory / "pacs-a.log")
    process.start()
    try:
        process.wait_ready()
        with httpx.Client(timeout=TIMEOUT) as client:
            yield Archive(process.url, process.storage, client)
        assert process.popen is not None and process.popen.poll() is None, "the archive died during the campaign"
    finally:
        process.kill()
        log = process.log.read_text(errors="replace")
        print(f"--- pacs-a log (tail) ---\n{log[-8000:]}")
        assert "Traceback" not in log, "the archive logged an unhandled error"


# -- mutated Part 10 files -------------------------------------------------------------------------


def base_dataset(r: random.Random, study_uid: str | None = None) -> Dataset:
    """A valid small CT image with fresh UIDs (in ``study_uid`` if given)."""
    extra = {"study_uid": study_uid} if study_uid else {}
    data = make_part10(rows=r.choice([2, 4, 8]), columns=r.choice([2, 4, 8]), instance_number=r.randrange(1, 99),
                       **extra)  # fmt: skip
    return pydicom.dcmread(BytesIO(data))


_TS_SAME_LENGTH = ["1.2.840.10008.1.2.2", "1.2.840.10008.1.2.5", "1.2.840.10008.1.2.4", "9.9.999.99999.9.9.9"]
_BAD_UIDS = ["1.2.03", "1" * 70, "../../etc/passwd", "1.2..3", "", "1.2.3 4", "a.b.c", "1.2.3\\4.5", "0.0"]
_HEADERS = {  # explicit VR little endian element headers whose length fields get corrupted
    "PatientName": b"\x10\x00\x10\x00PN", "PatientID": b"\x10\x00\x20\x00LO", "StudyUID": b"\x20\x00\x0d\x00UI",
    "SOPUID": b"\x08\x00\x18\x00UI", "Rows": b"\x28\x00\x10\x00US", "Modality": b"\x08\x00\x60\x00CS",
}  # fmt: skip


def m_valid(r: random.Random, ds: Dataset) -> bytes:
    return part10_of(ds)


def m_truncate(r: random.Random, ds: Dataset) -> bytes:
    data = part10_of(ds)
    return data[: r.randrange(0, len(data))]


def m_bad_magic(r: random.Random, ds: Dataset) -> bytes:
    data = part10_of(ds)
    return data[:128] + r.choice([b"DICN", b"dicm", b"\0\0\0\0", r.randbytes(4)]) + data[132:]


def m_no_preamble(r: random.Random, ds: Dataset) -> bytes:
    return part10_of(ds)[r.choice([128, 132]) :]


def m_wrong_transfer_syntax(r: random.Random, ds: Dataset) -> bytes:
    # The File Meta says another transfer syntax than the data set is encoded in.
    return part10_of(ds).replace(b"1.2.840.10008.1.2.1\0", r.choice(_TS_SAME_LENGTH).encode() + b"\0", 1)


def m_implicit_declared(r: random.Random, ds: Dataset) -> bytes:
    ds.file_meta.TransferSyntaxUID = r.choice(["1.2.840.10008.1.2", "1.2.840.10008.1.2.4.50", "1.2.3"])
    buffer = BytesIO()
    pydicom.dcmwrite(buffer, ds, implicit_vr=False, little_endian=True, force_encoding=True)
    return buffer.getvalue()


def m_bad_vr_length(r: random.Random, ds: Dataset) -> bytes:
    data = bytearray(part10_of(ds))
    if r.random() < 0.3:
        at = data.find(b"\xe0\x7f\x10\x00OW\x00\x00")  # Pixel Data: a 4-byte length
        if at >= 0:
            data[at + 8 : at + 12] = r.choice([0xFFFFFFFF, 0, 1, 0x7FFFFFFF, r.randrange(2**32)]).to_bytes(4, "little")
            return bytes(data)
    header = _HEADERS[r.choice(sorted(_HEADERS))]
    at = data.find(header, 132)
    if at >= 0:
        data[at + 6 : at + 8] = r.choice([0xFFFF, 0, 1, 0xFFFE, r.randrange(2**16)]).to_bytes(2, "little")
    return bytes(data)


def m_missing_uid(r: random.Random, ds: Dataset) -> bytes:
    delattr(ds, r.choice(["SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "SOPClassUID"]))
    return part10_of(ds)


def m_bad_uid(r: random.Random, ds: Dataset) -> bytes:
    keyword = r.choice(["SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "SOPClassUID"])
    ds[keyword].value = r.choice(_BAD_UIDS)
    if keyword == "SOPInstanceUID":
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return part10_of(ds)


def m_huge_value(r: random.Random, ds: Dataset) -> bytes:
    choice = r.randrange(6)
    if choice == 0:
        ds.PatientName = "X" * r.choice([65, 5000, 65000])
    elif choice == 1:
        ds.StudyDescription = "é" * r.choice([100, 20000])
    elif choice == 2:
        ds["InstanceNumber"].value = r.choice(["1e30", "99999999999999999999", "inf", "-0", "nan", "1.5"])
    elif choice == 3:
        ds.NumberOfFrames = r.choice(["999999999", "0", "-1", "2"])
    elif choice == 4:
        ds.Rows = r.choice([65535, 0, 1])
    else:
        ds.AccessionNumber = "\\".join(["A"] * r.choice([2, 500]))  # many values
    return part10_of(ds)


def m_deep_sequence(r: random.Random, ds: Dataset) -> bytes:
    inner = Dataset()
    inner.CodeValue = "X"
    for _ in range(r.choice([5, 50, 150])):
        outer = Dataset()
        outer.ContentSequence = [inner]
        inner = outer
    ds.ContentSequence = [inner]
    return part10_of(ds)


def m_meta_mismatch(r: random.Random, ds: Dataset) -> bytes:
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    return part10_of(ds)


def m_odd_values(r: random.Random, ds: Dataset) -> bytes:
    # Values of the wrong shape for their VR: several Rows, text where numbers go, odd bytes.
    choice = r.randrange(4)
    if choice == 0:
        ds.Rows = [ds.Rows, ds.Rows]
    elif choice == 1:
        ds.PatientName = b"\xff\xfe\xc3".decode("latin-1")
    elif choice == 2:
        ds.WindowCenter, ds.WindowWidth = "abc", "0"
    else:
        ds.PhotometricInterpretation = r.choice(["RGB", "PALETTE COLOR", "YBR_FULL", "", "MONOCHROME1"])
    return part10_of(ds)


def m_random_bytes(r: random.Random, ds: Dataset) -> bytes:
    noise = r.randbytes(r.randrange(0, 4000))
    return b"\0" * 128 + b"DICM" + noise if r.random() < 0.5 else noise


def m_bit_flips(r: random.Random, ds: Dataset) -> bytes:
    data = bytearray(part10_of(ds))
    for _ in range(r.choice([1, 3, 10])):
        at = r.randrange(len(data))
        data[at] ^= 1 << r.randrange(8)
    return bytes(data)


MUTATIONS: dict[str, Callable[[random.Random, Dataset], bytes]] = {
    name.removeprefix("m_"): function for name, function in list(globals().items()) if name.startswith("m_")
}


def test_stow_of_mutated_part10_files(archive: Archive) -> None:
    """Requests of 1 to 4 parts, each valid or mutated (one mutation each); sometimes into a
    study named by the URL, sometimes re-sending or altering an instance stored before."""
    r = rng("imaging-stow-part10")
    kinds: Counter[str] = Counter()
    for case in range(budget(ci=100, long=2000)):
        parts, names = [], []
        into_study = generate_uid() if r.random() < 0.15 else None
        for _ in range(r.choice([1, 1, 2, 4])):
            ds = base_dataset(r, into_study if r.random() < 0.7 else None)
            name = r.choice(sorted(MUTATIONS))
            if archive.expected and r.random() < 0.1:  # the UID of a stored instance, other bytes
                name = "duplicate_" + name
                sop = r.choice(sorted(archive.expected))
                ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = sop
            try:
                part = MUTATIONS[name.removeprefix("duplicate_")](r, ds)
            except Exception as error:  # pydicom refused to write this one: send the plain bytes
                name, part = f"{name}(unwritable: {type(error).__name__})", part10_of(base_dataset(r))
            if archive.expected and r.random() < 0.05:  # an exact re-send: acknowledged again
                name, part = "resend", archive.expected[r.choice(sorted(archive.expected))]
            parts.append(part)
            names.append(name)
            kinds[name.split("(")[0]] += 1
        body, content_type = multipart.encode(parts, "application/dicom")
        path = f"/studies/{into_study}" if into_study else "/studies"
        what = f"case {case}: POST {path} with parts {names}"
        answer(archive, archive.stow(body, content_type, path), parts, what)
    check_refused(archive)
    check_store(archive, "the end of the Part 10 campaign", contents=True)
    print(f"STOW Part 10 campaign: {archive.cases} requests, statuses {dict(sorted(archive.statuses.items()))}, "
          f"{len(archive.expected)} instances stored, {len(archive.refused)} refused; "
          f"parts {dict(sorted(kinds.items()))}")


# -- broken multipart bodies -----------------------------------------------------------------------

_CONTENT_TYPES = [
    None, "", "multipart/related", 'multipart/related; type="application/dicom"', "application/dicom",
    "text/plain", "multipart/mixed; boundary={b}", 'multipart/related; type="application/dicom+json"; boundary={b}',
    'multipart/related; type="image/jpeg"; boundary={b}', "multipart/related; boundary",
    'multipart/related; boundary="{b}"',
    "multipart/related; boundary={b}; boundary=other", 'multipart/related; type="application/dicom"; boundary=wrong',
    "multipart/related; boundary=" + "x" * 300, "multipart/related; type=application/dicom; boundary={b}",
    "multipart/related;;; boundary={b}", "multipart / related; boundary={b}", "MULTIPART/RELATED; BOUNDARY={b}",
]  # fmt: skip


def _body_mutation(r: random.Random, body: bytes, boundary: str) -> tuple[str, bytes]:
    delimiter = f"--{boundary}".encode()
    crlf = b"\r\n"
    choice = r.randrange(10)
    if choice == 0:
        return "cut", body[: r.randrange(len(body))]
    if choice == 1:
        return "no-closing", body.replace(delimiter + b"--", b"")
    if choice == 2:
        return "no-crlf-after-delimiter", body.replace(delimiter + crlf, delimiter, 1)
    if choice == 3:
        return "preamble-garbage", r.randbytes(r.randrange(1, 200)) + crlf + body
    if choice == 4:
        return "empty-parts", body.replace(delimiter + crlf, delimiter + crlf + crlf + delimiter + crlf, 1)
    if choice == 5:
        return "header-without-colon", body.replace(b"Content-Type: application/dicom", b"Content-Type application", 1)
    if choice == 6:
        return "header-bytes", body.replace(b"Content-Type:", b"Content-\xff\xfe:", 1)
    if choice == 7:
        return "part-type", body.replace(b"Content-Type: application/dicom", b"Content-Type: image/jpeg", 1)
    if choice == 8:
        return "no-separator", body.replace(crlf + crlf, crlf, 1)
    return "empty", b""


def test_stow_of_broken_multipart_bodies(archive: Archive) -> None:
    r = rng("imaging-stow-multipart")
    before = archive.cases
    kinds: Counter[str] = Counter()
    for case in range(budget(ci=60, long=1000)):
        parts = [part10_of(base_dataset(r)) for _ in range(r.choice([1, 2, 3]))]
        boundary = multipart.new_boundary(parts)
        body, content_type = multipart.encode(parts, "application/dicom", boundary)
        name = "content-type"
        if r.random() < 0.6:
            name, body = _body_mutation(r, body, boundary)
        else:
            template = r.choice(_CONTENT_TYPES)
            content_type = None if template is None else template.replace("{b}", boundary)
            name = f"content-type {content_type!r}"
        kinds[name.split(" ")[0]] += 1
        answer(archive, archive.stow(body, content_type), parts, f"case {case}: {name}")
    check_store(archive, "the end of the multipart campaign", contents=True)
    print(f"STOW multipart campaign: {archive.cases - before} requests, {dict(sorted(kinds.items()))}; "
          f"archive now {len(archive.expected)} instances")


# -- schemathesis over the OpenAPI document ---------------------------------------------------------

SEED_STUDY = next(iter(generate(SyntheticConfig(seed=2024, patients=10)).imaging_studies()))
SEED_SERIES = SEED_STUDY.series[0]
EXAMPLES = {"study": SEED_STUDY.study_uid, "series": SEED_SERIES.series_uid,
            "sop": SEED_SERIES.instances[0].sop_instance_uid}  # fmt: skip
with tempfile.TemporaryDirectory(prefix="imaging-openapi-") as _scratch:
    _app = create_app(make_config(Path(_scratch), "pacs-a", Role.ARCHIVE))
    DOCUMENT = document_of(_app)
    service_of(_app).store.close()
# STOW bodies are bytes to schemathesis (a boundary it cannot set: mostly 400s; the STOW
# campaigns above build real multipart bodies).
schemathesis.serializer.alias("multipart/related", "application/octet-stream")
schema = campaign_schema("imaging", DOCUMENT, ci=12, long=300, examples=EXAMPLES)


@pytest.fixture(scope="module")
def imaging(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    directory = tmp_path_factory.mktemp("fuzz-imaging")
    process = spawn(directory, "pacs-a", "mock_services.imaging", "--name", "pacs-a", "--datacenter", "dc-a",
                    "--role", "archive", "--storage", str(directory / "pacs-a"), "--patients", "10")  # fmt: skip
    with running("imaging", [process]) as service:
        assert_serves(service, DOCUMENT)
        yield service


@schema.parametrize()
def test_imaging_answers_every_case_as_documented(case: Case, imaging: Service) -> None:
    exercise(case, imaging)


def test_imaging_logged_no_unhandled_error_during_the_schema_campaign(imaging: Service) -> None:
    assert imaging.tracebacks() == []

