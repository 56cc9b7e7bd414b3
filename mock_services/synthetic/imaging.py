"""Imaging studies: about one DICOM study per three patients, as UIDs and demographics only.

From the ``"imaging"`` random stream of each patient: a study with probability 1/3; modality
CR/CT/US/MR (weights 4/3/2/2); 1-3 series of 1-4 instances; study date within the two years
before BASE_DATE (never before birth), during opening hours. UIDs are ``2.25.<n>`` with n a
name-based (SHA-1, version 5) UUID of (seed, patient index, position) -- the UUID-derived UID
form of DICOM PS3.5 B.2 -- so they are deterministic and globally unique. (pydicom's
``generate_uid(prefix=None, entropy_srcs=...)`` would not do: with no prefix it ignores the
entropy and returns a random UUID.) The accession number is ``ACC`` + the patient's 8-digit index.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from mock_services.synthetic import vocab
from mock_services.synthetic.model import BASE_DATE, InstanceSpec, SeriesSpec, StudySpec, rng
from mock_services.synthetic.people import PatientProfile

_MODALITIES = tuple(vocab.MODALITY_WEIGHTS)
_WEIGHTS = tuple(vocab.MODALITY_WEIGHTS.values())
STUDY_PROBABILITY = 1 / 3


# A fixed namespace for this generator's name-based UUIDs (itself uuid5 of a URL-like name).
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:mock-services:synthetic:dicom")


def _uid(seed: int, index: int, *position: int) -> str:
    name = "/".join(map(str, (seed, index, *position)))
    return f"2.25.{uuid.uuid5(_NAMESPACE, name).int}"


def study_for(seed: int, p: PatientProfile) -> StudySpec | None:
    """Patient ``p``'s study, or None (two patients in three have none)."""
    r = rng(seed, "imaging", p.index)
    if r.random() >= STUDY_PROBABILITY:
        return None
    modality = r.choices(_MODALITIES, weights=_WEIGHTS)[0]
    description, series_names = r.choice(vocab.STUDY_TYPES[modality])
    earliest = max(BASE_DATE - timedelta(days=730), p.birth_date + timedelta(days=1))
    day = earliest + timedelta(days=r.randint(0, max(0, (BASE_DATE - earliest).days - 1)))
    series = []
    for s in range(1, r.randint(1, min(3, len(series_names))) + 1):
        instances = tuple(
            InstanceSpec(_uid(seed, p.index, s, i), i, vocab.SOP_CLASSES[modality])
            for i in range(1, r.randint(1, 4) + 1)
        )
        series.append(SeriesSpec(_uid(seed, p.index, s), s, modality, series_names[s - 1], instances))
    return StudySpec(
        study_uid=_uid(seed, p.index),
        accession_number=f"ACC{p.index:08d}",
        patient_id=p.id,
        patient_name=p.dicom_name,
        birth_date=p.birth_date.strftime("%Y%m%d"),
        sex=p.dicom_sex,
        study_date=day.strftime("%Y%m%d"),
        study_time=f"{r.randint(8, 19):02d}{r.randint(0, 59):02d}{r.randint(0, 59):02d}",
        modality=modality,
        description=description,
        series=tuple(series),
    )
