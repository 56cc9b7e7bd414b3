"""Reconciliation against the real EHR (in-process): exactly once, authored times kept, ids mapped."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from mock_services.care.breaker import CircuitBreaker
from mock_services.care.dependencies import Dependency
from mock_services.care.identifiers import DOWNTIME_ORDER_SYSTEM, DOWNTIME_PATIENT_SYSTEM, ORDER_SYSTEM
from mock_services.care.orders import parse_order, parse_registration
from mock_services.care.queue import FAILED, QUEUED, RECONCILED, Queue
from mock_services.care.reconcile import Reconciler
from mock_services.care.testing import Switch
from mock_services.ehr.app import create_app as create_ehr_app
from mock_services.ehr.config import Config as EhrConfig
from mock_services.ehr.config import ConfiguredRole

pytestmark = pytest.mark.anyio
FHIR_JSON = "application/fhir+json"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Setup:
    ehr: httpx.AsyncClient
    link: Switch
    directory: Path

    def queue(self) -> Queue:
        return Queue.open(self.directory / "queue.sqlite", 100, "DT", "care-1")

    def reconciler(self, queue: Queue) -> Reconciler:
        breaker = CircuitBreaker("ehr", 100, 10.0, 1.0)
        return Reconciler(queue, Dependency("ehr", "http://ehr.test", 2.0, breaker, transport=self.link), "DT")

    async def search(self, resource_type: str, identifier: str) -> list[dict[str, Any]]:
        response = await self.ehr.get(f"/{resource_type}", params={"identifier": identifier})
        return [entry["resource"] for entry in response.json().get("entry", [])]


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    config = EhrConfig(name="ehr-a", datacenter="dc-a", role=ConfiguredRole.PRIMARY, db_path=tmp_path / "ehr.sqlite",
                       patients=5)  # fmt: skip
    app = create_ehr_app(config)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ehr.test") as client:
            yield Setup(client, Switch(httpx.ASGITransport(app=app)), tmp_path)


def queue_medication(queue: Queue, patient: str, authored: str, key: str | None = None) -> str:
    body: dict[str, Any] = {"kind": "medication", "display": "Paracétamol 1 g", "dosage": "1 g x4/j",
                            "authored": authored}  # fmt: skip
    if key is not None:
        body["order_id"] = key
    order = parse_order(body, patient)
    return queue.enqueue("medication", patient, order.resource, order.authored, order.key)[0].downtime_id


def queue_registration(queue: Queue) -> str:
    registration = parse_registration({"family": "Nouveau", "given": "Jean", "birth_date": "1990-01-02"})
    entry, _ = queue.enqueue("registration", "", registration.resource, registration.authored, registration.key)
    return entry.downtime_id


async def test_registrations_then_orders_with_authored_time_tag_and_rewritten_subject(setup: Setup) -> None:
    queue = setup.queue()
    order_first = queue_medication(queue, "p000001", "2024-08-03T10:15:00+02:00")
    dt_patient = queue_registration(queue)
    order_new_patient = queue_medication(queue, dt_patient, "2024-08-03T08:20:00Z")
    progress = await setup.reconciler(queue).run()
    assert progress["state"] == "done" and progress["reconciled"] == 3 and progress["pending"] == 0

    [patient] = await setup.search("Patient", f"{DOWNTIME_PATIENT_SYSTEM}|{dt_patient}")
    assert queue.patient_map() == {dt_patient: patient["id"]}
    tag = {"system": "urn:hchaos:care", "code": "downtime", "display": "entered during downtime"}
    assert tag in patient["meta"]["tag"]
    [first] = await setup.search("MedicationRequest", f"{DOWNTIME_ORDER_SYSTEM}|{order_first}")
    assert first["authoredOn"] == "2024-08-03T08:15:00.000Z"  # the clinician's time, in UTC
    assert first["subject"] == {"reference": "Patient/p000001"}
    assert any(tag.get("code") == "downtime" for tag in first["meta"]["tag"])
    [second] = await setup.search("MedicationRequest", f"{DOWNTIME_ORDER_SYSTEM}|{order_new_patient}")
    assert second["subject"] == {"reference": f"Patient/{patient['id']}"}  # no downtime id reached the EHR
    assert second["authoredOn"] == "2024-08-03T08:20:00.000Z"
    entry = queue.get(order_new_patient)
    assert entry.state == RECONCILED and entry.permanent_id == f"MedicationRequest/{second['id']}"
    assert entry.existed is False and entry.reconciled_at is not None


async def test_killed_between_create_and_mark_then_restarted_is_still_exactly_once(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = setup.queue()
    ids = [queue_medication(queue, f"p00000{i}", "2024-08-03T09:00:00Z") for i in (1, 2, 3)]
    marked: list[str] = []
    original = Queue.mark_reconciled

    def crash_on_second(self: Queue, identifier: str, permanent_id: str, existed: bool) -> None:
        if len(marked) == 1:
            raise SystemExit("killed (test): the EHR committed, the queue never heard of it")
        marked.append(identifier)
        original(self, identifier, permanent_id, existed)

    monkeypatch.setattr(Queue, "mark_reconciled", crash_on_second)
    with pytest.raises(SystemExit):
        await setup.reconciler(queue).run()
    monkeypatch.undo()
    queue.close()

    restarted = setup.queue()  # a new process: only what is on disk
    assert [e.downtime_id for e in restarted.entries(QUEUED)] == ids[1:]
    progress = await setup.reconciler(restarted).run()
    assert (progress["reconciled"], progress["existed"], progress["pending"]) == (1, 1, 0)
    assert restarted.get(ids[1]).existed is True  # found by the conditional create, not created again
    for identifier in ids:
        assert len(await setup.search("MedicationRequest", f"{DOWNTIME_ORDER_SYSTEM}|{identifier}")) == 1
    again = await setup.reconciler(restarted).run()  # and a third pass has nothing to do
    assert again["reconciled"] == again["existed"] == 0


async def test_an_order_that_reached_the_ehr_live_is_not_duplicated(setup: Setup) -> None:
    live = parse_order({"kind": "medication", "display": "Héparine", "order_id": "ord-42"}, "p000002").resource
    created = await setup.ehr.post("/MedicationRequest", json=live, headers={"Content-Type": FHIR_JSON})
    assert created.status_code == 201  # ...but the workstation never got the answer, and queued it again
    queue = setup.queue()
    identifier = queue_medication(queue, "p000002", "2024-08-03T09:00:00Z", key="ord-42")
    await setup.reconciler(queue).run()
    assert queue.get(identifier).existed is True
    assert queue.get(identifier).permanent_id == f"MedicationRequest/{created.json()['id']}"
    assert len(await setup.search("MedicationRequest", f"{ORDER_SYSTEM}|ord-42")) == 1


async def test_ehr_down_again_interrupts_and_keeps_entries_queued(setup: Setup) -> None:
    queue = setup.queue()
    identifier = queue_medication(queue, "p000001", "2024-08-03T09:00:00Z")
    setup.link.down = True
    progress = await setup.reconciler(queue).run()
    assert progress["state"] == "interrupted" and "unreachable" in progress["detail"]
    entry = queue.get(identifier)
    assert entry.state == QUEUED and entry.attempts == 1 and "unreachable" in (entry.reason or "")
    setup.link.down = False
    assert (await setup.reconciler(queue).run())["reconciled"] == 1


async def test_refused_entries_fail_with_the_reason_and_their_orders_follow(setup: Setup) -> None:
    queue = setup.queue()
    dt_patient = queue_registration(queue)
    order = queue_medication(queue, dt_patient, "2024-08-03T09:00:00Z")
    setup.link.status = 422
    progress = await setup.reconciler(queue).run()
    assert progress["failed"] == 2 and progress["pending"] == 0
    assert queue.get(dt_patient).state == FAILED and "422" in (queue.get(dt_patient).reason or "")
    assert queue.get(order).reason == f"the registration of {dt_patient} failed"


@pytest.mark.parametrize(
    ("kind", "body", "category"),
    [
        ("lab", {"display": "NFS", "code": "58410-2", "system": "http://loinc.org"}, "108252007"),
        ("imaging", {"display": "Radio thorax"}, "363679005"),
    ],
)
async def test_lab_and_imaging_orders_are_reconciled_as_service_requests(
    setup: Setup, kind: str, body: dict[str, Any], category: str
) -> None:
    queue = setup.queue()
    order = parse_order({"kind": kind, **body, "authored": "2024-08-03T09:30:00Z"}, "p000003")
    assert order.resource["resourceType"] == "ServiceRequest"
    identifier = queue.enqueue(kind, "p000003", order.resource, order.authored, order.key)[0].downtime_id
    progress = await setup.reconciler(queue).run()
    assert progress["state"] == "done" and progress["reconciled"] == 1 and progress["failed"] == 0

    [stored] = await setup.search("ServiceRequest", f"{DOWNTIME_ORDER_SYSTEM}|{identifier}")
    assert (stored["status"], stored["intent"]) == ("active", "order")
    assert stored["authoredOn"] == "2024-08-03T09:30:00.000Z"  # the clinician's time, not the replay's
    assert stored["subject"] == {"reference": "Patient/p000003"}
    assert stored["category"][0]["coding"][0]["code"] == category
    assert stored["code"]["text"] == body["display"]
    assert any(tag.get("code") == "downtime" for tag in stored["meta"]["tag"])
    entry = queue.get(identifier)
    assert entry.state == RECONCILED and entry.permanent_id == f"ServiceRequest/{stored['id']}"
    assert entry.existed is False
    found = await setup.ehr.get("/ServiceRequest", params={"patient": "p000003", "category": category})
    assert [e["resource"]["id"] for e in found.json()["entry"]] == [stored["id"]]

    again = await setup.reconciler(queue).run()  # a second pass creates nothing more
    assert again["reconciled"] == again["existed"] == 0
    assert len(await setup.search("ServiceRequest", f"{ORDER_SYSTEM}|{order.key}")) == 1
