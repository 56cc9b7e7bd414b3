"""Realistic HL7 v2.5.1 messages for tests, benchmarks and the load's lab persona.

Every builder returns the message text (segments joined by CR, no MLLP framing). Patients
are identified by MRN in PID-3 with the hospital's assigning authority
(``MRN...^^^HCHAOS&1.2.250.1.213.1.4.8&ISO^MR``), so the engine maps them to the FHIR
identifier ``urn:oid:1.2.250.1.213.1.4.8|MRN...`` -- the synthetic data's MRN system.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

MRN_AUTHORITY = "HCHAOS&1.2.250.1.213.1.4.8&ISO"
DEFAULT_TIME = "20240803101530"


@dataclass(frozen=True)
class LabResult:
    """One OBX: LOINC code and name, value (NM unless ``value_type`` says otherwise), unit,
    reference range, abnormal flag, result status."""

    code: str
    display: str
    value: str
    unit: str = ""
    reference_range: str = ""
    flag: str = ""
    status: str = "F"
    value_type: str = "NM"


DEFAULT_RESULTS = (
    LabResult("2345-7", "Glucose [Moles/volume] in Serum or Plasma", "5.4", "mmol/L", "3.9-6.1", "N"),
    LabResult("2823-3", "Potassium [Moles/volume] in Serum or Plasma", "5.9", "mmol/L", "3.5-5.1", "H"),
)


def mrn_cx(mrn: str) -> str:
    """PID-3 for an MRN of this hospital."""
    return f"{mrn}^^^{MRN_AUTHORITY}^MR"


def segment(name: str, fields: dict[int, str]) -> str:
    """A segment from ``{position: raw value}`` (positions as in the standard; gaps are empty)."""
    values = [""] * (max(fields, default=0) + 1)
    values[0] = name
    for position, value in fields.items():
        values[position] = value
    return "|".join(values)


def msh(
    control_id: str,
    message_type: str,
    *,
    sending_application: str = "LIS",
    sending_facility: str = "HOSP",
    version: str = "2.5.1",
    accept_ack: str = "",
    application_ack: str = "",
    timestamp: str = DEFAULT_TIME,
) -> str:
    """An MSH with the standard separators (MSH-15/16 only if given: enhanced mode)."""
    fields = [
        "MSH",
        "^~\\&",
        sending_application,
        sending_facility,
        "HCHAOS",
        "HOSP",
        timestamp,
        "",
        message_type,
        control_id,
        "P",
        version,
    ]
    if accept_ack or application_ack:
        fields += ["", "", accept_ack, application_ack]
    return "|".join(fields)


def pid(mrn: str, family: str = "DUPONT", given: str = "MARIE", birth: str = "19700101", sex: str = "F") -> str:
    return segment(
        "PID",
        {
            1: "1",
            3: mrn_cx(mrn) if mrn else "",
            5: f"{family}^{given}",
            7: birth,
            8: sex,
            11: "12 RUE DE RIVOLI^^PARIS^^75001^FRA",
        },
    )


def adt(
    trigger: str,
    control_id: str,
    mrn: str = "MRN00000001",
    *,
    family: str = "DUPONT",
    given: str = "MARIE",
    **header: str,
) -> str:
    """ADT^A01 (admit), ^A03 (discharge) or ^A08 (update) for one patient."""
    visit = segment(
        "PV1",
        {
            1: "1",
            2: "I",
            3: "CARDIO^101^A",
            19: f"V{control_id}",
            44: "20240801080000",
            **({45: "20240803100000"} if trigger == "A03" else {}),
        },
    )
    evn = segment("EVN", {1: trigger, 2: DEFAULT_TIME})
    return "\r".join([msh(control_id, f"ADT^{trigger}^ADT_A01", **header), evn, pid(mrn, family, given), visit])


def oru(
    control_id: str,
    mrn: str = "MRN00000001",
    results: Sequence[LabResult] = DEFAULT_RESULTS,
    *,
    panel: str = "24323-8^Comprehensive metabolic panel^LN",
    report_status: str = "F",
    **header: str,
) -> str:
    """ORU^R01: one OBR (the panel) followed by one OBX per result."""
    segments = [
        msh(control_id, "ORU^R01^ORU_R01", **header),
        pid(mrn),
        segment(
            "OBR",
            {
                1: "1",
                2: f"P{control_id}",
                3: f"F{control_id}",
                4: panel,
                7: "20240803093000",
                22: "20240803101500",
                25: report_status,
            },
        ),
    ]
    for number, result in enumerate(results, start=1):
        segments.append(
            segment(
                "OBX",
                {
                    1: str(number),
                    2: result.value_type,
                    3: f"{result.code}^{result.display}^LN",
                    5: result.value,
                    6: f"{result.unit}^{result.unit}^UCUM" if result.unit else "",
                    7: result.reference_range,
                    8: result.flag,
                    11: result.status,
                    14: "20240803093000",
                },
            )
        )
    return "\r".join(segments)


def orm(control_id: str, mrn: str = "MRN00000001", **header: str) -> str:
    """ORM^O01: a new lab order."""
    return "\r".join(
        [
            msh(control_id, "ORM^O01^ORM_O01", **header),
            pid(mrn),
            segment("ORC", {1: "NW", 2: f"P{control_id}", 9: DEFAULT_TIME}),
            segment("OBR", {1: "1", 2: f"P{control_id}", 4: "24323-8^Comprehensive metabolic panel^LN"}),
        ]
    )


def oml(control_id: str, mrn: str = "MRN00000001", **header: str) -> str:
    """OML^O21: a new laboratory order (v2.5 style)."""
    return "\r".join(
        [
            msh(control_id, "OML^O21^OML_O21", **header),
            pid(mrn),
            segment("ORC", {1: "NW", 2: f"P{control_id}", 9: DEFAULT_TIME}),
            segment("OBR", {1: "1", 2: f"P{control_id}", 4: "2345-7^Glucose^LN"}),
        ]
    )
