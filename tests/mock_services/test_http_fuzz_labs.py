"""Schema-driven fuzz campaign against the lab portal's process, reading a real EHR process
(:mod:`tests.mock_services.http_fuzz`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import schemathesis
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import given, settings
from hypothesis import strategies as st
from schemathesis.generation.case import Case

from mock_services.ehr.app import create_app as create_ehr_app
from mock_services.ehr.config import Config as EhrConfig
from mock_services.ehr.config import ConfiguredRole
from mock_services.labs.app import create_app
from mock_services.labs.config import Config
from tests.campaigns import budget
from tests.mock_services.http_fuzz import Service, assert_serves, campaign_schema, document_of, exercise, running, spawn

pytestmark = [pytest.mark.campaign, pytest.mark.integration]
DOCUMENT = document_of(create_app(Config(name="labs-a", datacenter="dc-a", ehr_url="http://ehr.test")))
EXAMPLES = {"patient_id": "p000001", "report_id": "dr-p000001-01", "id": "p000001"}  # synthetic seed 2024
schema = campaign_schema("labs", DOCUMENT, ci=20, long=400, examples=EXAMPLES)


@pytest.fixture(scope="module")
def labs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    directory = tmp_path_factory.mktemp("fuzz-labs")
    ehr = spawn(directory, "ehr-a", "mock_services.ehr", "--name", "ehr-a", "--datacenter", "dc-a", "--role",
                "primary", "--db", str(directory / "ehr.sqlite"), "--patients", "10")  # fmt: skip
    portal = spawn(directory, "labs-a", "mock_services.labs", "--name", "labs-a", "--datacenter", "dc-a",
                   "--ehr-url", ehr.url, "--ehr-timeout", "5")  # fmt: skip
    with running("labs", [ehr, portal]) as service:
        assert_serves(service, DOCUMENT)
        assert service.session.get(f"{service.url}/patients/p000001/results/dr-p000001-01").status_code == 200
        yield service


@schema.parametrize()
def test_labs_answers_every_case_as_documented(case: Case, labs: Service) -> None:
    exercise(case, labs)


def test_labs_logged_no_unhandled_error_during_the_campaign(labs: Service) -> None:
    assert labs.tracebacks() == []


# -- whatever the EHR accepts, the portal shows (or says what it cannot) ------------------------
#
# The EHR checks the elements it indexes and passes the rest through (mock_services.ehr.resources),
# so it stores a DiagnosticReport whose ``result`` is a number, an Observation whose
# ``valueQuantity`` is a string... The portal must show such data as best it can, never fail
# on it: a patient whose results page is a 500 has, for the ward, no results at all.

JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=6,
)  # fmt: skip
REPORT_ELEMENTS = ("result", "issued", "effectiveDateTime", "encounter", "code", "status")
OBSERVATION_ELEMENTS = ("valueQuantity", "valueString", "referenceRange", "interpretation", "code", "status", "id")
PATIENT_ELEMENTS = ("name", "birthDate", "gender")


def _mutated(base: dict[str, Any], elements: tuple[str, ...]) -> st.SearchStrategy[dict[str, Any]]:
    changes = st.dictionaries(st.sampled_from(elements), JSON_VALUE, max_size=3)
    return changes.map(lambda change: {**base, **change})


@dataclass
class Hospital:
    """An in-process EHR with one synthetic patient and the portal reading it, in a portal thread."""

    portal: BlockingPortal
    ehr: httpx.AsyncClient
    labs: httpx.AsyncClient


@pytest.fixture(scope="module")
def hospital(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hospital]:
    directory = tmp_path_factory.mktemp("labs-odd-data")
    ehr_app = create_ehr_app(EhrConfig(name="ehr-a", datacenter="dc-a", role=ConfiguredRole.PRIMARY,
                                       db_path=directory / "ehr.sqlite", patients=1))  # fmt: skip
    labs_app = create_app(Config(name="labs-a", datacenter="dc-a", ehr_url="http://ehr.test"),
                          ehr_transport=httpx.ASGITransport(app=ehr_app))  # fmt: skip

    @asynccontextmanager
    async def serving() -> AsyncIterator[Hospital]:
        async with (
            ehr_app.router.lifespan_context(ehr_app),
            labs_app.router.lifespan_context(labs_app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=ehr_app), base_url="http://ehr.test") as ehr,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=labs_app), base_url="http://labs.test") as labs,
        ):
            yield Hospital(portal, ehr, labs)

    with start_blocking_portal() as portal, portal.wrap_async_context_manager(serving()) as running_hospital:
        yield running_hospital


REPORT = {"resourceType": "DiagnosticReport", "status": "final", "category": [{"coding": [{"code": "LAB"}]}],
          "code": {"coding": [{"system": "http://loinc.org", "code": "58410-2"}]},
          "subject": {"reference": "Patient/p000001"}}  # fmt: skip
OBSERVATION = {"resourceType": "Observation", "status": "final", "category": [{"coding": [{"code": "laboratory"}]}],
               "code": {"coding": [{"system": "http://loinc.org", "code": "718-7"}]},
               "subject": {"reference": "Patient/p000001"},
               "valueQuantity": {"value": 13.5, "unit": "g/dL"}}  # fmt: skip


@settings(max_examples=budget(ci=40, long=1000))
@given(
    report=_mutated(REPORT, REPORT_ELEMENTS),
    observation=_mutated(OBSERVATION, OBSERVATION_ELEMENTS),
    patient=st.dictionaries(st.sampled_from(PATIENT_ELEMENTS), JSON_VALUE, max_size=2),
)
def test_the_portal_shows_whatever_lab_data_the_ehr_accepted(
    hospital: Hospital, report: dict[str, Any], observation: dict[str, Any], patient: dict[str, Any]
) -> None:
    async def example() -> None:  # a patient of its own, so that examples do not see each other's data
        stored = await hospital.ehr.post("/Patient", json={"resourceType": "Patient", **patient})
        if stored.status_code == 400:  # the EHR refused these elements: a plain patient then
            stored = await hospital.ehr.post("/Patient", json={"resourceType": "Patient"})
        assert stored.status_code == 201, stored.text
        patient_id = stored.json()["id"]
        subject = {"subject": {"reference": f"Patient/{patient_id}"}}
        observation.update(subject)
        report.update(subject)
        created = await hospital.ehr.post("/Observation", json=observation)
        assert created.status_code in (201, 400), created.text
        if created.status_code == 201 and isinstance(report.get("result"), list):
            report["result"] = [*report["result"], {"reference": f"Observation/{created.json()['id']}"}]
        assert (await hospital.ehr.post("/DiagnosticReport", json=report)).status_code in (201, 400)

        results = await hospital.labs.get(f"/patients/{patient_id}/results")
        page = await hospital.labs.get(f"/patients/{patient_id}")
        assert results.status_code == 200, results.text
        assert page.status_code == 200, page.text
        operation = RESULTS_SCHEMA["/patients/{patient_id}/results"]["GET"]
        operation.validate_response(results)
        for document in results.json():
            one = await hospital.labs.get(f"/patients/{patient_id}/results/{document['id']}")
            assert one.status_code == 200, one.text

    hospital.portal.call(example)


RESULTS_SCHEMA = schemathesis.openapi.from_dict(DOCUMENT)
