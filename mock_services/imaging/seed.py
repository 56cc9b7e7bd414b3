"""Seed data: the synthetic imaging studies (``--seed N --patients N``) in the index.

Both the archive and the replica load the same studies from
:func:`mock_services.synthetic.generate` at start-up, as their common base: only instances
STOWed later are shipped. Loading inserts index rows only (a few seconds for 10 000
patients); each file is rendered on first access (:mod:`.render`, deterministic, so both
instances serve identical bytes). Progress is logged every 2 000 instances.

Restart: the load is one transaction that also records ``seed=<seed> patients=<n>`` in
``meta``; a start with the same marker skips loading. A different seed or count loads again,
keeping rows already present (patient i's study does not depend on the count, so growing the
count only adds studies).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator

from mock_services.imaging.eventlog import log_event
from mock_services.imaging.part10 import InstanceAttrs
from mock_services.imaging.render import seed_geometry
from mock_services.imaging.store import Store
from mock_services.synthetic import StudySpec, SyntheticConfig, generate

EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"


def instances_of(studies: Iterable[StudySpec]) -> Iterator[InstanceAttrs]:
    """One :class:`InstanceAttrs` per instance of ``studies``, with the seed pixel geometry."""
    for study in studies:
        for series in study.series:
            for instance in series.instances:
                yield seed_geometry(
                    InstanceAttrs(
                        study_uid=study.study_uid,
                        series_uid=series.series_uid,
                        sop_uid=instance.sop_instance_uid,
                        sop_class_uid=instance.sop_class_uid,
                        transfer_syntax=EXPLICIT_VR_LITTLE_ENDIAN,
                        patient_id=study.patient_id,
                        patient_name=study.patient_name,
                        birth_date=study.birth_date,
                        sex=study.sex,
                        study_date=study.study_date,
                        study_time=study.study_time,
                        accession=study.accession_number,
                        study_description=study.description,
                        modality=series.modality,
                        series_number=series.series_number,
                        series_description=series.description,
                        instance_number=instance.instance_number,
                        rows=None,
                        columns=None,
                        bits_allocated=None,
                        frames=None,
                    )
                )


def load_synthetic(store: Store, seed: int, patients: int) -> int:
    """Index the synthetic studies of ``patients`` patients unless already done.
    Returns the number of instances loaded (0 when skipped)."""
    if patients <= 0:
        return 0
    marker = f"seed={seed} patients={patients}"
    if store.seed_marker() == marker:
        log_event("seed-present", seed=seed, patients=patients)
        return 0
    log_event("seed-loading", seed=seed, patients=patients)
    started = time.monotonic()
    studies = generate(SyntheticConfig(seed=seed, patients=patients)).imaging_studies()
    count = store.load_seed(
        instances_of(studies),
        marker,
        on_progress=lambda done: log_event("seed-progress", instances=done),
    )
    log_event("seed-loaded", instances=count, seconds=round(time.monotonic() - started, 2))
    return count
