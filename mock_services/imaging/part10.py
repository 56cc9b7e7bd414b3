"""DICOM Part 10 payloads: what an instance is to the index, and the validation STOW applies.

:class:`InstanceAttrs` is everything the index keeps about one instance (the QIDO-RS
attributes, the UIDs that place it in its study and series, and its pixel geometry).
:func:`parse_part10` turns the bytes of one STOW-RS part into an ``InstanceAttrs`` or raises
:class:`InvalidInstance` with the PS3.18 Annex I Failure Reason to report:

* ``0xC000`` (cannot understand) -- not a Part 10 file (no ``DICM`` at byte 128), or
  pydicom cannot parse it, or its File Meta lacks the Transfer Syntax UID or names a UID
  that is not a transfer syntax;
* ``0xA900`` (data set does not match SOP class) -- a required UID (SOP Class, SOP
  Instance, Study Instance, Series Instance) missing or not a valid UID, File Meta UIDs that
  contradict the data set, or native pixel data shorter than Rows x Columns x Samples x
  Frames x Bits Allocated / 8 (a truncated file).

UIDs are checked against PS3.5 9.1 (digits and dots, no leading zeros, at most 64
characters) before anything else uses them: the storage layer builds file names from them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum
from io import BytesIO

import pydicom
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.uid import UID

_MAX_IS = 2**31 - 1
_UID_RE = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))+$")


class FailureReason(IntEnum):
    """Failure Reason (0008,1197) values we report (PS3.18 Table I.2-2, plus PS3.7's 0111H)."""

    PROCESSING_FAILURE = 0x0110
    DUPLICATE_SOP_INSTANCE = 0x0111  # same SOP Instance UID already stored with other content
    DATASET_DOES_NOT_MATCH = 0xA900
    STUDY_UID_MISMATCH = 0xA901  # the instance is not in the study named by the URL (as Azure's DICOM service)
    CANNOT_UNDERSTAND = 0xC000


class InvalidInstance(Exception):
    """One part that must not be stored; carries what the store response reports about it."""

    def __init__(
        self, reason: FailureReason, message: str, sop_class_uid: str | None = None, sop_uid: str | None = None
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.sop_class_uid = sop_class_uid
        self.sop_uid = sop_uid


@dataclass(frozen=True)
class InstanceAttrs:
    """What the index holds about one instance. Strings are ``""`` when the file has no value."""

    study_uid: str
    series_uid: str
    sop_uid: str
    sop_class_uid: str
    transfer_syntax: str
    patient_id: str
    patient_name: str
    birth_date: str
    sex: str
    study_date: str
    study_time: str
    accession: str
    study_description: str
    modality: str
    series_number: int | None
    series_description: str
    instance_number: int | None
    rows: int | None
    columns: int | None
    bits_allocated: int | None
    frames: int | None
    # QIDO-RS attributes of PS3.18 Tables 10.6.3-3/4/5 that modalities often leave out.
    referring_physician: str = ""
    study_id: str = ""
    timezone: str = ""  # Timezone Offset From UTC, e.g. "+0200"
    pps_start_date: str = ""
    pps_start_time: str = ""
    # Request Attributes Sequence: (Scheduled Procedure Step ID, Requested Procedure ID) per item.
    request_attributes: tuple[tuple[str, str], ...] = ()


def is_valid_uid(value: str) -> bool:
    """Whether ``value`` is a syntactically valid DICOM UID (PS3.5 9.1)."""
    return len(value) <= 64 and _UID_RE.match(value) is not None


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    if value is None:
        return ""
    if isinstance(value, MultiValue):
        value = value[0] if len(value) else ""
    return str(value).strip()


def _integer(ds: Dataset, keyword: str) -> int | None:
    # Non-critical numbers are indexed when readable and otherwise left out: a bad Instance
    # Number is no reason to refuse an image a modality produced.
    text = _text(ds, keyword)
    try:
        number = int(float(text)) if text else None
    except (ValueError, OverflowError):  # not a number; "inf"
        return None
    # IS and US values fit in 32 bits (PS3.5 6.2); a larger one is as unreadable as "abc"
    # (and beyond 64 bits the index could not even hold it).
    return number if number is not None and abs(number) <= _MAX_IS else None


def _request_attributes(ds: Dataset) -> tuple[tuple[str, str], ...]:
    items = ds.get("RequestAttributesSequence")
    if not isinstance(items, Sequence):  # absent, or not encoded as a sequence: not known
        return ()
    return tuple(
        (_text(item, "ScheduledProcedureStepID"), _text(item, "RequestedProcedureID"))
        for item in items
        if isinstance(item, Dataset)
    )


def _required_uid(ds: Dataset, keyword: str, sop_class: str | None, sop_uid: str | None) -> str:
    value = _text(ds, keyword)
    if not value:
        raise InvalidInstance(FailureReason.DATASET_DOES_NOT_MATCH, f"{keyword} is missing", sop_class, sop_uid)
    if not is_valid_uid(value):
        raise InvalidInstance(
            FailureReason.DATASET_DOES_NOT_MATCH, f"{keyword} {value[:80]!r} is not a valid UID", sop_class, sop_uid
        )
    return value


def _check_pixel_length(ds: Dataset, attrs: InstanceAttrs, samples: int) -> None:
    if "PixelData" not in ds or UID(attrs.transfer_syntax).is_compressed:
        return
    if not (attrs.rows and attrs.columns and attrs.bits_allocated):
        raise InvalidInstance(
            FailureReason.DATASET_DOES_NOT_MATCH,
            "Pixel Data without Rows, Columns or Bits Allocated",
            attrs.sop_class_uid,
            attrs.sop_uid,
        )
    expected = attrs.rows * attrs.columns * samples * (attrs.frames or 1) * attrs.bits_allocated // 8
    actual = len(ds["PixelData"].value or b"")
    if actual < expected:
        raise InvalidInstance(
            FailureReason.DATASET_DOES_NOT_MATCH,
            f"Pixel Data is {actual} bytes, expected {expected} (truncated?)",
            attrs.sop_class_uid,
            attrs.sop_uid,
        )


def parse_part10(data: bytes) -> InstanceAttrs:
    """Validate one Part 10 file and extract its index attributes (see the module docstring)."""
    if len(data) < 132 or data[128:132] != b"DICM":
        raise InvalidInstance(FailureReason.CANNOT_UNDERSTAND, "not a DICOM Part 10 file (no 'DICM' at byte 128)")
    try:
        ds = pydicom.dcmread(BytesIO(data))
        # Convert every element now (sequences included): a garbled or truncated data set
        # must fail here, not when a client later reads what we acknowledged.
        ds.walk(lambda _ds, _elem: None)
        ds.file_meta.walk(lambda _ds, _elem: None)  # a garbled File Meta too (a VR of "UY")
    except Exception as error:  # pydicom raises many types for many kinds of garbage
        raise InvalidInstance(FailureReason.CANNOT_UNDERSTAND, f"unreadable DICOM: {error}") from None
    transfer_syntax = _text(ds.file_meta, "TransferSyntaxUID")
    if not transfer_syntax:
        raise InvalidInstance(FailureReason.CANNOT_UNDERSTAND, "File Meta Information has no Transfer Syntax UID")
    if not UID(transfer_syntax).is_transfer_syntax:
        # Neither we nor a client could decode it (and pydicom's UID helpers raise on it).
        raise InvalidInstance(FailureReason.CANNOT_UNDERSTAND, f"{transfer_syntax[:80]!r} is not a transfer syntax")
    raw_class, raw_sop = _text(ds, "SOPClassUID") or None, _text(ds, "SOPInstanceUID") or None
    sop_class = _required_uid(ds, "SOPClassUID", raw_class, raw_sop)
    sop_uid = _required_uid(ds, "SOPInstanceUID", sop_class, raw_sop)
    study_uid = _required_uid(ds, "StudyInstanceUID", sop_class, sop_uid)
    series_uid = _required_uid(ds, "SeriesInstanceUID", sop_class, sop_uid)
    for meta_keyword, value in (("MediaStorageSOPInstanceUID", sop_uid), ("MediaStorageSOPClassUID", sop_class)):
        meta_value = _text(ds.file_meta, meta_keyword)
        if meta_value and meta_value != value:
            raise InvalidInstance(
                FailureReason.DATASET_DOES_NOT_MATCH,
                f"File Meta {meta_keyword} {meta_value} differs from the data set's {value}",
                sop_class,
                sop_uid,
            )
    attrs = InstanceAttrs(
        study_uid=study_uid,
        series_uid=series_uid,
        sop_uid=sop_uid,
        sop_class_uid=sop_class,
        transfer_syntax=transfer_syntax,
        patient_id=_text(ds, "PatientID"),
        patient_name=_text(ds, "PatientName"),
        birth_date=_text(ds, "PatientBirthDate"),
        sex=_text(ds, "PatientSex"),
        study_date=_text(ds, "StudyDate"),
        study_time=_text(ds, "StudyTime"),
        accession=_text(ds, "AccessionNumber"),
        study_description=_text(ds, "StudyDescription"),
        modality=_text(ds, "Modality"),
        series_number=_integer(ds, "SeriesNumber"),
        series_description=_text(ds, "SeriesDescription"),
        instance_number=_integer(ds, "InstanceNumber"),
        rows=_integer(ds, "Rows"),
        columns=_integer(ds, "Columns"),
        bits_allocated=_integer(ds, "BitsAllocated"),
        frames=_integer(ds, "NumberOfFrames") or (1 if "PixelData" in ds else None),
        referring_physician=_text(ds, "ReferringPhysicianName"),
        study_id=_text(ds, "StudyID"),
        timezone=_text(ds, "TimezoneOffsetFromUTC"),
        pps_start_date=_text(ds, "PerformedProcedureStepStartDate"),
        pps_start_time=_text(ds, "PerformedProcedureStepStartTime"),
        request_attributes=_request_attributes(ds),
    )
    _check_pixel_length(ds, attrs, _integer(ds, "SamplesPerPixel") or 1)
    return attrs
