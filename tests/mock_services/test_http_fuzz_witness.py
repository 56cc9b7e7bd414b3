"""Schema-driven fuzz campaign against the witness process (see :mod:`tests.mock_services.http_fuzz`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from schemathesis.generation.case import Case

from mock_services.witness.app import create_app
from mock_services.witness.leases import LeaseTable
from tests.mock_services.http_fuzz import Service, assert_serves, campaign_schema, document_of, exercise, running, spawn

pytestmark = [pytest.mark.campaign, pytest.mark.integration]
DOCUMENT = document_of(create_app("witness", "witness", LeaseTable()))
schema = campaign_schema("witness", DOCUMENT, ci=20, long=300, examples={"cluster": "ehr"})


@pytest.fixture(scope="module")
def witness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    directory = tmp_path_factory.mktemp("fuzz-witness")
    process = spawn(directory, "witness", "mock_services.witness", "--name", "witness", "--db",
                    str(directory / "witness.sqlite"))  # fmt: skip
    with running("witness", [process]) as service:
        assert_serves(service, DOCUMENT)
        yield service


@schema.parametrize()
def test_witness_answers_every_case_as_documented(case: Case, witness: Service) -> None:
    exercise(case, witness)


def test_witness_logged_no_unhandled_error_during_the_campaign(witness: Service) -> None:
    assert witness.tracebacks() == []
