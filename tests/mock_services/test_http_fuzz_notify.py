"""Schema-driven fuzz campaign against the notification sink's process (:mod:`tests.mock_services.http_fuzz`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from schemathesis.generation.case import Case

from mock_services.notify.app import create_app
from mock_services.notify.config import Config
from tests.mock_services.http_fuzz import Service, assert_serves, campaign_schema, document_of, exercise, running, spawn

pytestmark = [pytest.mark.campaign, pytest.mark.integration]
DOCUMENT = document_of(create_app(Config(name="notify", datacenter="oob")))
schema = campaign_schema("notify", DOCUMENT, ci=25, long=400)


@pytest.fixture(scope="module")
def notify(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    directory = tmp_path_factory.mktemp("fuzz-notify")
    process = spawn(directory, "notify", "mock_services.notify", "--name", "notify", "--datacenter", "oob",
                    "--db", str(directory / "notify.sqlite"))  # fmt: skip
    with running("notify", [process]) as service:
        assert_serves(service, DOCUMENT)
        yield service


@schema.parametrize()
def test_notify_answers_every_case_as_documented(case: Case, notify: Service) -> None:
    exercise(case, notify)


def test_notify_logged_no_unhandled_error_during_the_campaign(notify: Service) -> None:
    assert notify.tracebacks() == []
