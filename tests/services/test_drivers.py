"""The built-in services' drivers: one place per knob, and the services agree with it."""

from __future__ import annotations

import dataclasses

import pytest

from harness.experiment import ExperimentError, parse_experiment
from harness.services import DRIVERS, CareOptions, EhrOptions
from mock_services.care.config import Config as CareConfig
from mock_services.ehr.config import Config as EhrConfig


@pytest.mark.parametrize(("options", "service"), [(CareOptions, CareConfig), (EhrOptions, EhrConfig)])
def test_a_service_run_on_its_own_has_the_harness_defaults(options: type, service: type) -> None:
    """The driver always passes every knob; a service started by hand (``python -m
    mock_services.care``) must still behave as the experiment format says by default."""
    defaults = {f.name: f.default for f in dataclasses.fields(service) if f.default is not dataclasses.MISSING}
    shared = set(defaults) & set(options.model_fields)
    assert shared, "no knob in common: the comparison would check nothing"
    assert {k: defaults[k] for k in shared} == {k: options.model_fields[k].default for k in shared}


def test_every_builtin_has_a_driver_with_a_module() -> None:
    assert set(DRIVERS) == {"ehr", "messaging", "imaging", "labs", "scheduling", "care", "witness", "notify"}
    assert all(d.module == f"mock_services.{name}" for name, d in DRIVERS.items())


def test_knobs_the_services_would_refuse_are_located_errors() -> None:
    with pytest.raises(ExperimentError) as caught:
        parse_experiment("version: 1\nname: t\ntopology:\n  services: [ehr, care]\n"
                         "  care: {snapshot_interval: 60s, max_snapshot_age: 30s}\n")
    assert ":5:9: topology.care: max_snapshot_age (30s) must be at least snapshot_interval" in str(caught.value)
