"""Schema-driven fuzz campaign against the care application's process, with the real EHR, lab
portal, scheduling and notification sink processes behind it (:mod:`tests.mock_services.http_fuzz`).

The one 5xx the campaign may see is ``503 printer-failure``: ``POST /_admin/printer`` is in the
document, so the campaign itself injects printer failures, and a document then fails to print
exactly as documented. Every dependency stays up, so any other 5xx is a defect (an order the
EHR refused, ``502 ehr-rejected``, means the application let through what it should have
refused with a 400).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from schemathesis.generation.case import Case

from mock_services.care.app import create_app
from mock_services.care.config import Config
from mock_services.common.testing import wait_until
from tests.mock_services.http_fuzz import (
    Service,
    assert_serves,
    campaign_schema,
    document_of,
    exercise,
    json_error_word,
    running,
    spawn,
)

pytestmark = [pytest.mark.campaign, pytest.mark.integration]
WARD = "cardiologie"
FHIR_JSON = "application/fhir+json"


def _document() -> dict[str, object]:
    with tempfile.TemporaryDirectory() as directory:
        return document_of(create_app(Config(name="care-1", state_dir=Path(directory))))


DOCUMENT = _document()
EXAMPLES = {"patient_id": "p000001", "ward": WARD}
schema = campaign_schema("care", DOCUMENT, ci=15, long=300, examples=EXAMPLES)


def _printer_failure(response: requests.Response) -> bool:
    return response.status_code == 503 and json_error_word(response) == "printer-failure"


@pytest.fixture(scope="module")
def care(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    directory = tmp_path_factory.mktemp("fuzz-care")
    ehr = spawn(directory, "ehr-a", "mock_services.ehr", "--name", "ehr-a", "--datacenter", "dc-a", "--role",
                "primary", "--db", str(directory / "ehr.sqlite"), "--patients", "10")
    scheduling = spawn(directory, "sched-a", "mock_services.scheduling", "--name", "sched-a", "--datacenter",
                       "dc-a", "--db", str(directory / "sched.sqlite"), "--patients", "10")
    notify = spawn(directory, "notify", "mock_services.notify", "--name", "notify", "--datacenter", "oob")
    labs = spawn(directory, "labs-a", "mock_services.labs", "--name", "labs-a", "--datacenter", "dc-a",
                 "--ehr-url", ehr.url)  # fmt: skip
    with running("care-dependencies", [ehr, scheduling, notify, labs]):
        for patient in ("p000001", "p000002"):  # two patients in the ward (its census reads Encounters)
            encounter = {"resourceType": "Encounter", "status": "in-progress", "class": {"code": "IMP"},
                         "subject": {"reference": f"Patient/{patient}"}, "serviceProvider": {"display": WARD}}
            created = requests.post(f"{ehr.url}/Encounter", json=encounter, headers={"Content-Type": FHIR_JSON})
            assert created.status_code == 201, created.text
        # Started once its dependencies answer, so that its first snapshot is taken (deterministic).
        workstation = spawn(directory, "care-1", "mock_services.care", "--name", "care-1", "--state-dir",
                            str(directory / "care-1"), "--ehr-url", ehr.url, "--labs-url", labs.url,
                            "--scheduling-url", scheduling.url, "--notify-url", f"{notify.url}/notifications",
                            "--ward", WARD, "--dependency-timeout", "5")  # fmt: skip
        with running("care", [workstation], allowed_5xx=_printer_failure) as service:
            service.others = [ehr, scheduling, notify, labs]
            assert_serves(service, DOCUMENT)
            wait_until(lambda: _snapshot_state(service) == "ok", 20, "the workstation's first snapshot")
            yield service


def _snapshot_state(service: Service) -> str:
    state: str = service.session.get(f"{service.url}/downtime/status", timeout=5).json()["snapshot"]["state"]
    return state


@schema.parametrize()
def test_care_answers_every_case_as_documented(case: Case, care: Service) -> None:
    exercise(case, care)


def test_care_logged_no_unhandled_error_and_never_left_normal_mode(care: Service) -> None:
    assert care.tracebacks() == []
    health = care.session.get(f"{care.url}/health").json()
    assert health["mode"] == "normal", health  # every dependency stayed up: no reason for downtime
