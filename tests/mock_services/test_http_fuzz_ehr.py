"""Schema-driven fuzz campaign against EHR processes (:mod:`tests.mock_services.http_fuzz`).

Two processes, because the replication protocol is meant to change who is primary: the FHIR
API, /health, /primary, /metadata, /metrics and the read-only replication endpoints are fuzzed
on a lone primary, which must then never answer a 5xx (no peer: every write is acknowledged at
once); heartbeat and append -- a primary that hears of a higher epoch steps down, as it must --
are fuzzed on a lone standby, which must not fail on any message either.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path

import pytest
from schemathesis.generation.case import Case

from mock_services.common.testing import ServiceProcess
from mock_services.ehr.capability import openapi_document
from tests.mock_services.http_fuzz import Service, assert_serves, campaign_schema, exercise, running, spawn

pytestmark = [pytest.mark.campaign, pytest.mark.integration]
DOCUMENT = openapi_document("http://ehr.test")
EXAMPLES = {"id": "p000001", "vid": "1"}  # synthetic seed 2024 (a Patient; other types' ids 404, as they should)
PROTOCOL = "^/_replication/(heartbeat|append)$"
SUBJECT = {"reference": "Patient/p000001"}
VALID = {  # one acceptable body per type: the examples phase creates each, the rest of the campaign reads them
    "Patient": {"name": [{"family": "Martin", "given": ["Léa"]}], "birthDate": "1990-02-03"},
    "Encounter": {"status": "in-progress", "class": {"code": "EMER"}, "subject": SUBJECT},
    "Observation": {"status": "final", "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
                    "subject": SUBJECT, "effectiveDateTime": "2024-08-03T10:05:00+02:00"},
    "MedicationRequest": {"status": "active", "intent": "order", "subject": SUBJECT,
                          "medicationCodeableConcept": {"text": "Amoxicilline 1 g"}},
    "DiagnosticReport": {"status": "final", "code": {"coding": [{"code": "58410-2"}]}, "subject": SUBJECT},
    "AllergyIntolerance": {"patient": SUBJECT, "criticality": "high"},
    "MedicationAdministration": {"status": "completed", "subject": SUBJECT, "effectiveDateTime": "2024-08-03T10:00:00Z",
                                 "medicationCodeableConcept": {"text": "Paracétamol 1 g"}},
    "ServiceRequest": {"status": "active", "intent": "order", "subject": SUBJECT, "code": {"text": "NFS"}},
}  # fmt: skip
WITH_BODIES = copy.deepcopy(DOCUMENT)
for name, body in VALID.items():
    for media in WITH_BODIES["paths"][f"/{name}"]["post"]["requestBody"]["content"].values():
        media["example"] = {"resourceType": name, **body}
schema = campaign_schema("ehr", WITH_BODIES, ci=6, long=200, examples=EXAMPLES)
api = schema.exclude(path_regex=PROTOCOL)
protocol = campaign_schema("ehr-protocol", WITH_BODIES, ci=25, long=1000).include(path_regex=PROTOCOL)


def _ehr(directory: Path, name: str, role: str) -> list[ServiceProcess]:
    return [spawn(directory, name, "mock_services.ehr", "--name", name, "--datacenter", f"dc-{name[-1]}", "--role",
                  role, "--db", str(directory / f"{name}.sqlite"), "--patients", "10")]  # fmt: skip


@pytest.fixture(scope="module")
def primary(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with running("ehr", _ehr(tmp_path_factory.mktemp("fuzz-ehr"), "ehr-a", "primary")) as service:
        assert_serves(service, DOCUMENT)
        yield service


@pytest.fixture(scope="module")
def standby(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with running("ehr-protocol", _ehr(tmp_path_factory.mktemp("fuzz-ehr-b"), "ehr-b", "standby")) as service:
        yield service


@api.parametrize()
def test_ehr_primary_answers_every_case_as_documented(case: Case, primary: Service) -> None:
    exercise(case, primary)


@protocol.parametrize()
def test_ehr_standby_answers_every_replication_message_as_documented(case: Case, standby: Service) -> None:
    exercise(case, standby)


def test_ehr_logged_no_unhandled_error_during_the_campaign(primary: Service, standby: Service) -> None:
    assert primary.tracebacks() == [] and standby.tracebacks() == []
    assert primary.session.get(f"{primary.url}/primary").status_code == 200  # still the primary
