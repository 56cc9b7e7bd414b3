"""Deterministic synthetic hospital data: patients, clinical records, imaging studies, schedules.

Usage (the contract every mock service codes against)::

    from mock_services.synthetic import SyntheticConfig, generate
    data = generate(SyntheticConfig(seed=2024, patients=100))
    data.patients()         # FHIR R4 Patient dicts, ids p000001.., MRN identifier
    data.clinical()         # Encounter, Observation, DiagnosticReport, MedicationRequest, AllergyIntolerance
    data.imaging_studies()  # StudySpec (frozen dataclasses with SeriesSpec / InstanceSpec)
    data.staff_schedules(); data.or_schedules()   # schedule dicts, version 1

Guarantees:

* *Deterministic*: the same config gives the same data in every process (string-seeded
  ``random.Random``, SHA-512 based, independent of PYTHONHASHSEED; DICOM UIDs from pydicom's
  hash-based ``generate_uid``). Different seeds give different data.
* *Prefix property*: patient i's Patient, clinical resources and study depend only on
  (seed, i), never on the patient count, so the first k patients of a big data set are the
  data set of k patients. (Schedules describe the whole hospital and do depend on the count.)
* *Streaming*: every view is a generator holding one patient at a time; 100 000 patients
  (about 3 million clinical resources) never sit in memory together. ``data.patient(i)`` and
  ``data.clinical_for(i)`` generate a single patient (beyond the contract; handy for fakes).
* *Valid FHIR R4*: every resource parses with ``fhir.resources.R4B``; every reference
  (``Patient/..``, ``Encounter/..``, ``Observation/..``) names a generated resource.
* Sizes: 0 (empty: no patients, no schedules) to 100 000 patients. Per patient about 30
  clinical resources (numbers in :mod:`.clinical`), a study for one in three (:mod:`.imaging`);
  units and schedules in :mod:`.schedules`.

The hospital is French (AP-HP flavour: names, Paris addresses, ward names such as
"cardiologie" and "urgences", French drug and procedure names) on a fixed calendar: "today"
is 2024-08-03 (:data:`.model.BASE_DATE`); timestamps in FHIR resources are UTC.

Modules: ``model`` (config, specs, calendar, random streams), ``vocab`` (names and codes),
``people`` (Patient), ``clinical``, ``imaging``, ``schedules``, ``dataset`` (the lazy views).
"""

from mock_services.synthetic.dataset import SyntheticData, generate
from mock_services.synthetic.model import (
    BASE_DATE,
    MRN_SYSTEM,
    InstanceSpec,
    SeriesSpec,
    StudySpec,
    SyntheticConfig,
)

__all__ = [
    "BASE_DATE",
    "MRN_SYSTEM",
    "InstanceSpec",
    "SeriesSpec",
    "StudySpec",
    "SyntheticConfig",
    "SyntheticData",
    "generate",
]
