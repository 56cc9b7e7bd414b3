"""The DICOM JSON Model (PS3.18 Annex F) as the service writes it.

A data set is a JSON object keyed by 8-hex-digit tags (upper case), each value
``{"vr": VR, "Value": [...]}``; an attribute without a value has no ``"Value"`` key; a PN
value is ``{"Alphabetic": "FAMILY^GIVEN"}``; IS/DS/US/UL values are JSON numbers; a sequence's
values are data sets. Media type ``application/dicom+json`` (no charset parameter:
dicomweb-client compares the Content-Type header to that exact string).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from io import BytesIO
from typing import Any

import pydicom
from pydicom.datadict import dictionary_VR

DICOM_JSON = "application/dicom+json"

# Tags this module writes (the QIDO-RS attributes live in :mod:`.qido`).
RETRIEVE_URL = "00081190"
FAILED_SOP_SEQUENCE = "00081198"
REFERENCED_SOP_SEQUENCE = "00081199"
REFERENCED_SOP_CLASS_UID = "00081150"
REFERENCED_SOP_INSTANCE_UID = "00081155"
FAILURE_REASON = "00081197"

JsonDataset = dict[str, dict[str, Any]]


def element(vr: str, *values: object) -> dict[str, Any]:
    """One attribute. Empty strings and ``None`` are left out; no values -> no ``Value`` key."""
    kept: list[object] = [v for v in values if v is not None and v != ""]
    if vr == "PN":
        kept = [{"Alphabetic": v} for v in kept]
    return {"vr": vr, "Value": kept} if kept else {"vr": vr}


def dumps(document: object) -> bytes:
    """Compact UTF-8 JSON (non-ASCII names stay readable)."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def store_response(
    stored: Iterable[tuple[str, str, str]],
    failed: Iterable[tuple[str | None, str | None, int]],
    study_url: str | None,
) -> JsonDataset:
    """The Store Instances Response Module (PS3.18 Annex I).

    ``stored``: ``(sop_class_uid, sop_uid, retrieve_url)``; ``failed``: ``(sop_class_uid,
    sop_uid, failure_reason)`` with ``None`` for UIDs that could not be read. Each sequence is
    present only when it has items (type 1C); the study's Retrieve URL (type 2) always is.
    """
    document: JsonDataset = {RETRIEVE_URL: element("UR", study_url)}
    failed_items = [
        {
            REFERENCED_SOP_CLASS_UID: element("UI", sop_class),
            REFERENCED_SOP_INSTANCE_UID: element("UI", sop_uid),
            FAILURE_REASON: element("US", reason),
        }
        for sop_class, sop_uid, reason in failed
    ]
    stored_items = [
        {
            REFERENCED_SOP_CLASS_UID: element("UI", sop_class),
            REFERENCED_SOP_INSTANCE_UID: element("UI", sop_uid),
            RETRIEVE_URL: element("UR", url),
        }
        for sop_class, sop_uid, url in stored
    ]
    if failed_items:
        document[FAILED_SOP_SEQUENCE] = {"vr": "SQ", "Value": failed_items}
    if stored_items:
        document[REFERENCED_SOP_SEQUENCE] = {"vr": "SQ", "Value": stored_items}
    return document


def failed_uids(document: JsonDataset) -> list[tuple[str, int]]:
    """``(sop_uid, failure_reason)`` of every Failed SOP Sequence item of a store response."""
    items = document.get(FAILED_SOP_SEQUENCE, {}).get("Value", [])
    result = []
    for item in items:
        uid = item.get(REFERENCED_SOP_INSTANCE_UID, {}).get("Value", [""])[0]
        reason = item.get(FAILURE_REASON, {}).get("Value", [0])[0]
        result.append((str(uid), int(reason)))
    return result


def _to_json(ds: pydicom.Dataset) -> JsonDataset:
    """``ds`` as DICOM JSON, element by element: a value that has no JSON form for its VR (an
    IS that is no number, in a file STOW accepted because only its index attributes must be
    readable) becomes the attribute without a value, instead of failing the whole document."""
    document: JsonDataset = {}
    for elem in ds:
        try:
            document[f"{elem.tag:08X}"] = elem.to_json_dict(bulk_data_element_handler=None, bulk_data_threshold=1024)
        except (ValueError, TypeError, OverflowError, AttributeError, KeyError, IndexError):
            document[f"{elem.tag:08X}"] = {"vr": elem.VR}
    return document


BULK_TAGS = (0x7FE00008, 0x7FE00009, 0x7FE00010)
"""Float Pixel Data, Double Float Pixel Data, Pixel Data: sent as Bulkdata, never inline."""


def metadata(part10: bytes, bulk_uri: Callable[[int], str]) -> JsonDataset:
    """The DICOM JSON of a Part 10 file without its File Meta (the WADO-RS metadata
    representation). Pixel data elements (:data:`BULK_TAGS`) carry a ``BulkDataURI`` --
    ``bulk_uri(tag)`` -- instead of their value (PS3.18 10.4.1.1.2, F.2.6); other binary
    values stay InlineBinary."""
    # defer_size: large values are read only if used, so the pixel data is never loaded.
    ds = pydicom.dcmread(BytesIO(part10), defer_size=4096)
    bulk: dict[int, str] = {}
    for tag in BULK_TAGS:
        raw = ds.get_item(tag, keep_deferred=True)
        if raw is not None:
            vr = raw.VR or ("OW" if tag == 0x7FE00010 else dictionary_VR(tag))
            bulk[tag] = "OW" if vr == "OB or OW" else vr
            del ds[tag]
    document = _to_json(ds)
    for tag, vr in bulk.items():
        document[f"{tag:08X}"] = {"vr": vr, "BulkDataURI": bulk_uri(tag)}
    return dict(sorted(document.items()))
