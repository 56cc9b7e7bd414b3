"""New DICOM images for the radiology modality persona: Part 10 bytes and their STOW-RS body.

A CT modality stores each acquisition as new instances of a new study. Building a data set
with pydicom costs far more than serialising one, so :class:`NewImages` builds one small CT
image (16 x 16, 16-bit MONOCHROME2) once and, per request, only changes what makes the
instance new (study / series / SOP Instance UIDs, patient, dates) before writing it.

Pure Python (pydicom, no Locust). Not thread-safe on purpose: under gevent a user's code
runs without interruption between I/O calls, and the template is changed and written with
none in between.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from io import BytesIO

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
DICOM = "application/dicom"
SIZE = 16  # pixels per side: 512 bytes of pixel data, ~1 KB per file


def new_uid() -> str:
    """A globally unique UID in the UUID-derived form of PS3.5 B.2 (``2.25.<uuid as integer>``)."""
    return f"2.25.{uuid.uuid4().int}"


@dataclass(frozen=True)
class NewInstance:
    """One new image: its UIDs and its Part 10 bytes."""

    study_uid: str
    series_uid: str
    sop_uid: str
    data: bytes


def _template() -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(CT_IMAGE_STORAGE)
    meta.MediaStorageSOPInstanceUID = UID(new_uid())
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = CT_IMAGE_STORAGE
    ds.Modality = "CT"
    ds.Manufacturer = "hospital-chaos-harness load"
    ds.StudyDescription = "Scanner thoracique"
    ds.SeriesDescription = "Thorax injecté"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = SIZE
    ds.Columns = SIZE
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.PixelData = bytes((x * 7 + y * 3) % 256 for y in range(SIZE) for x in range(SIZE * 2))
    return ds


class NewImages:
    """Makes new single-image CT studies (see the module docstring)."""

    def __init__(self) -> None:
        self._template = _template()

    def new(self, patient_id: str, patient_name: str, accession: str, now: datetime | None = None) -> NewInstance:
        moment = (now or datetime.now(UTC)).astimezone(UTC)
        study_uid, series_uid, sop_uid = new_uid(), new_uid(), new_uid()
        ds = self._template
        ds.file_meta.MediaStorageSOPInstanceUID = UID(sop_uid)
        ds.SOPInstanceUID = sop_uid
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.PatientID = patient_id
        ds.PatientName = patient_name
        ds.AccessionNumber = accession[:16]  # SH: at most 16 characters
        ds.StudyDate = ds.SeriesDate = ds.ContentDate = moment.strftime("%Y%m%d")
        ds.StudyTime = ds.SeriesTime = ds.ContentTime = moment.strftime("%H%M%S")
        buffer = BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        return NewInstance(study_uid, series_uid, sop_uid, buffer.getvalue())


def stow_body(part10: bytes, boundary: str | None = None) -> tuple[bytes, str]:
    """A STOW-RS request body with one instance, and its Content-Type
    (``multipart/related; type="application/dicom"; boundary=...``)."""
    boundary = boundary or f"hchaos-{uuid.uuid4().hex}"
    body = b"".join([
        f"--{boundary}\r\nContent-Type: {DICOM}\r\n\r\n".encode("ascii"),
        part10,
        f"\r\n--{boundary}--\r\n".encode("ascii"),
    ])
    return body, f'multipart/related; type="{DICOM}"; boundary={boundary}'
