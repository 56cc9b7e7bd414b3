"""Write keys: how a write is found again after recovery, whatever its outcome. Pure.

* FHIR (EHR creates, HL7 results forwarded to the EHR): ``Type?identifier=system|value``;
* DICOM (STOW-RS to the archive): ``dicom:instances?SOPInstanceUID=<uid>``.
"""

from __future__ import annotations

DICOM_PREFIX = "dicom:"


def dicom_write_key(sop_instance_uid: str) -> str:
    return f"{DICOM_PREFIX}instances?SOPInstanceUID={sop_instance_uid}"


def is_dicom(key: str) -> bool:
    return key.startswith(DICOM_PREFIX)
