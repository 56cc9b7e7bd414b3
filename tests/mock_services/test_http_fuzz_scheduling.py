"""Schema-driven fuzz campaign against the scheduling process (:mod:`tests.mock_services.http_fuzz`)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from schemathesis.generation.case import Case

from mock_services.scheduling.app import create_app
from mock_services.scheduling.config import Config
from tests.mock_services.http_fuzz import Service, assert_serves, campaign_schema, document_of, exercise, running, spawn

pytestmark = [pytest.mark.campaign, pytest.mark.integration]
OR_ID = "or-bloc-operatoire-salle-1-2024-08-05"  # in the synthetic data of seed 2024, 50 patients


def _document() -> dict[str, object]:
    with tempfile.TemporaryDirectory() as directory:
        app = create_app(Config(name="sched-a", datacenter="dc-a", db_path=Path(directory) / "s.sqlite", patients=0))
        try:
            return document_of(app)
        finally:
            app.state.store.close()


DOCUMENT = _document()
schema = campaign_schema("scheduling", DOCUMENT, ci=20, long=400, examples={"id": OR_ID})


@pytest.fixture(scope="module")
def scheduling(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    directory = tmp_path_factory.mktemp("fuzz-scheduling")
    process = spawn(directory, "sched-a", "mock_services.scheduling", "--name", "sched-a", "--datacenter", "dc-a",
                    "--db", str(directory / "sched.sqlite"), "--patients", "50")  # fmt: skip
    with running("scheduling", [process]) as service:
        assert_serves(service, DOCUMENT)
        assert service.session.get(f"{service.url}/schedules/{OR_ID}").status_code == 200
        yield service


@schema.parametrize()
def test_scheduling_answers_every_case_as_documented(case: Case, scheduling: Service) -> None:
    exercise(case, scheduling)


def test_scheduling_logged_no_unhandled_error_during_the_campaign(scheduling: Service) -> None:
    assert scheduling.tracebacks() == []
