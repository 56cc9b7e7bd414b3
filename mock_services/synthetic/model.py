"""The synthetic data contract's value types, the fixed calendar and per-patient random streams.

Everything generated is a pure function of ``(seed, patient index, stream name)`` (or of the
seed and the hospital's size for the hospital-level schedules): :func:`rng` derives an
independent :class:`random.Random` for each, so patient i's data never depends on how many
patients were asked for, and any patient can be generated alone, in any order.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone

#: Largest supported hospital; patient ids are ``p`` + 6 digits, so this is also the id space's limit.
MAX_PATIENTS = 100_000

#: The fixed "today" of the synthetic hospital: 2024-08-03, the day of the AP-HP outage.
#: Clinical history lies in the two years before it; schedules cover the 7 days from it.
BASE_DATE = date(2024, 8, 3)
BASE_INSTANT = datetime(2024, 8, 3, tzinfo=UTC)

#: Paris summer time. Every schedule day (2024-08-03 .. 2024-08-09) is in CEST, so a fixed
#: offset is exact and avoids depending on the system's tz database.
PARIS = timezone(timedelta(hours=2))

#: The identifier system of the hospital's MRN (an OID in the French health OID branch).
MRN_SYSTEM = "urn:oid:1.2.250.1.213.1.4.8"

#: ``last_modified`` of every freshly generated schedule (the evening before BASE_DATE).
SCHEDULES_GENERATED_AT = "2024-08-02T18:00:00Z"


@dataclass(frozen=True)
class SyntheticConfig:
    """What to generate: ``seed`` (any int) and ``patients`` (0 .. 100 000; 0 = empty data set).

    Raises ValueError on an out-of-range patient count or a non-int seed/count.
    """

    seed: int = 2024
    patients: int = 100

    def __post_init__(self) -> None:
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise ValueError(f"seed must be an int, got {self.seed!r}")
        if not isinstance(self.patients, int) or isinstance(self.patients, bool):
            raise ValueError(f"patients must be an int, got {self.patients!r}")
        if not 0 <= self.patients <= MAX_PATIENTS:
            raise ValueError(f"patients must be between 0 and {MAX_PATIENTS}, got {self.patients}")


@dataclass(frozen=True)
class InstanceSpec:
    """One DICOM instance (image): UIDs only, no pixels -- the PACS renders them."""

    sop_instance_uid: str
    instance_number: int
    sop_class_uid: str


@dataclass(frozen=True)
class SeriesSpec:
    """One DICOM series of a study (1-4 instances)."""

    series_uid: str
    series_number: int
    modality: str
    description: str
    instances: tuple[InstanceSpec, ...]


@dataclass(frozen=True)
class StudySpec:
    """One imaging study, with the patient's demographics in DICOM formats.

    ``patient_name`` is ``FAMILY^GIVEN`` (the Patient resource's official name), ``birth_date``
    and ``study_date`` ``YYYYMMDD``, ``study_time`` ``HHMMSS``, ``sex`` ``M`` or ``F``.
    """

    study_uid: str
    accession_number: str
    patient_id: str
    patient_name: str
    birth_date: str
    sex: str
    study_date: str
    study_time: str
    modality: str
    description: str
    series: tuple[SeriesSpec, ...]


def rng(seed: int, stream: str, *key: object) -> random.Random:
    """An independent generator for ``(seed, stream, *key)``.

    Seeding from a string goes through SHA-512 in CPython (seed version 2), so the result is
    the same in every process whatever PYTHONHASHSEED is.
    """
    return random.Random(":".join([str(seed), stream, *map(str, key)]))


def patient_id(index: int) -> str:
    """The FHIR id of patient ``index`` (1-based): ``p000001``."""
    return f"p{index:06d}"


def fhir_instant(moment: datetime) -> str:
    """``moment`` (aware) as a FHIR instant/dateTime in UTC with seconds: ``2024-08-03T07:00:00Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
