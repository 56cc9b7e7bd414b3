"""The data set object: lazy, re-iterable views over a seeded synthetic hospital."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mock_services.synthetic import schedules
from mock_services.synthetic.clinical import clinical_resources
from mock_services.synthetic.imaging import study_for
from mock_services.synthetic.model import StudySpec, SyntheticConfig
from mock_services.synthetic.people import PatientProfile, patient_resource, profile


class SyntheticData:
    """A synthetic hospital. Every method returns a fresh generator: nothing is cached, so any
    view can be iterated many times and memory stays flat whatever the patient count (one
    patient's resources at a time).
    """

    def __init__(self, config: SyntheticConfig) -> None:
        self.config = config

    @property
    def indices(self) -> range:
        """Patient indices, 1-based: patient i has id ``p`` + i on 6 digits."""
        return range(1, self.config.patients + 1)

    def profile(self, index: int) -> PatientProfile:
        """Patient ``index``'s demographics (ValueError outside 1..patients)."""
        if index not in self.indices:
            raise ValueError(f"patient index {index} is outside 1..{self.config.patients}")
        return profile(self.config.seed, index)

    def patient(self, index: int) -> dict[str, Any]:
        """Patient ``index``'s FHIR Patient resource."""
        return patient_resource(self.profile(index))

    def clinical_for(self, index: int) -> list[dict[str, Any]]:
        """Patient ``index``'s clinical resources (see :mod:`.clinical` for what and in which order)."""
        return clinical_resources(self.config.seed, self.profile(index))

    def patients(self) -> Iterator[dict[str, Any]]:
        """FHIR R4 Patient dicts, ``p000001`` first."""
        for i in self.indices:
            yield self.patient(i)

    def clinical(self) -> Iterator[dict[str, Any]]:
        """Every patient's clinical resources, patient by patient."""
        for i in self.indices:
            yield from self.clinical_for(i)

    def imaging_studies(self) -> Iterator[StudySpec]:
        """About one study per three patients, in patient order."""
        for i in self.indices:
            study = study_for(self.config.seed, self.profile(i))
            if study is not None:
                yield study

    def staff_schedules(self) -> Iterator[dict[str, Any]]:
        """Ward staff rotas (kind ``staff``), ward by ward, day by day."""
        return schedules.staff_schedules(self.config.seed, self.config.patients)

    def or_schedules(self) -> Iterator[dict[str, Any]]:
        """Operating-room (kind ``or``) then scanner (kind ``scanner``) bookings."""
        return schedules.or_schedules(self.config.seed, self.config.patients)


def generate(config: SyntheticConfig) -> SyntheticData:
    """The synthetic hospital for ``config``. Cheap: generation happens as views are iterated."""
    return SyntheticData(config)
