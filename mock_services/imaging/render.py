"""Synthetic DICOM Part 10 files: a real, small image for every index row of the seed data.

:func:`render_part10` builds the file of one instance from its :class:`InstanceAttrs` alone,
with pydicom: File Meta (Explicit VR Little Endian), patient / study / series / instance
attributes, and ``rows x columns`` 16-bit MONOCHROME2 pixels (12 bits stored) showing a
diagonal gradient plus noise seeded by the SOP Instance UID.

*Deterministic*: the same attributes give the same bytes in every process (no clock, no
random state outside the UID-seeded generator), which is what lets the archive and its
replica render seed files independently yet serve identical bytes, and lets the store
render a seed file lazily, on first access, instead of writing ~16 000 files at start-up.
"""

from __future__ import annotations

import zlib
from dataclasses import replace
from io import BytesIO

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian

from mock_services.imaging.part10 import InstanceAttrs

SEED_SIZE = 32  # pixels per side of a seed image: 2 KB of pixel data, ~2.6 KB per file
MANUFACTURER = "hospital-chaos-harness"


def seed_geometry(attrs: InstanceAttrs) -> InstanceAttrs:
    """``attrs`` with the pixel geometry of a rendered file (32 x 32, 16 bits, one frame)."""
    return replace(attrs, rows=SEED_SIZE, columns=SEED_SIZE, bits_allocated=16, frames=1)


def _pixels(sop_uid: str, rows: int, columns: int) -> bytes:
    generator = np.random.default_rng(zlib.crc32(sop_uid.encode()))
    y, x = np.mgrid[0:rows, 0:columns]
    gradient = (x + y) * (3000 // max(1, rows + columns))
    noise = generator.integers(0, 400, size=(rows, columns))
    return np.asarray(gradient + noise, dtype="<u2").tobytes()


def build_dataset(attrs: InstanceAttrs) -> Dataset:
    """The pydicom data set (with File Meta) of ``attrs``; pixel geometry from ``attrs`` or 32 x 32."""
    rows, columns = attrs.rows or SEED_SIZE, attrs.columns or SEED_SIZE
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(attrs.sop_class_uid)
    meta.MediaStorageSOPInstanceUID = UID(attrs.sop_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 192"  # UTF-8: French names carry accents
    ds.ImageType = ["ORIGINAL", "PRIMARY", *(["AXIAL"] if attrs.modality in ("CT", "MR") else [])]
    ds.SOPClassUID = attrs.sop_class_uid
    ds.SOPInstanceUID = attrs.sop_uid
    ds.StudyDate = attrs.study_date
    ds.SeriesDate = attrs.study_date
    ds.ContentDate = attrs.study_date
    ds.StudyTime = attrs.study_time
    ds.ContentTime = attrs.study_time
    ds.AccessionNumber = attrs.accession
    ds.Modality = attrs.modality
    ds.Manufacturer = MANUFACTURER
    ds.ReferringPhysicianName = attrs.referring_physician
    ds.StudyDescription = attrs.study_description
    ds.SeriesDescription = attrs.series_description
    ds.PatientName = attrs.patient_name
    ds.PatientID = attrs.patient_id
    ds.PatientBirthDate = attrs.birth_date
    ds.PatientSex = attrs.sex
    ds.StudyInstanceUID = attrs.study_uid
    ds.SeriesInstanceUID = attrs.series_uid
    ds.StudyID = attrs.study_id
    # Conditional attributes only when known, so that seed files stay byte-for-byte as before.
    if attrs.timezone:
        ds.TimezoneOffsetFromUTC = attrs.timezone
    if attrs.pps_start_date:
        ds.PerformedProcedureStepStartDate = attrs.pps_start_date
    if attrs.pps_start_time:
        ds.PerformedProcedureStepStartTime = attrs.pps_start_time
    if attrs.request_attributes:
        items = []
        for sps_id, rp_id in attrs.request_attributes:
            item = Dataset()
            item.ScheduledProcedureStepID = sps_id
            item.RequestedProcedureID = rp_id
            items.append(item)
        ds.RequestAttributesSequence = items
    ds.SeriesNumber = attrs.series_number if attrs.series_number is not None else ""
    ds.InstanceNumber = attrs.instance_number if attrs.instance_number is not None else ""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = columns
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    if attrs.modality == "CT":
        ds.RescaleIntercept = -1024
        ds.RescaleSlope = 1
    ds.PixelData = _pixels(attrs.sop_uid, rows, columns)
    return ds


def render_part10(attrs: InstanceAttrs) -> bytes:
    """The Part 10 bytes of ``attrs`` (preamble, ``DICM``, File Meta, data set). Deterministic."""
    buffer = BytesIO()
    pydicom.dcmwrite(buffer, build_dataset(attrs), enforce_file_format=True)
    return buffer.getvalue()
