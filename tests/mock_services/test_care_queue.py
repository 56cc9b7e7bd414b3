"""The downtime queue (SQLite) and the reserved identifier ranges."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from mock_services.care.identifiers import downtime_id, is_downtime_patient, token, valid_id
from mock_services.care.queue import FAILED, QUEUED, RECONCILED, Queue, QueueFull

MED = {"resourceType": "MedicationRequest", "medicationCodeableConcept": {"text": "Paracétamol 1 g"},
       "dosageInstruction": [{"text": "1 g x4/j"}]}  # fmt: skip
PATIENT = {"resourceType": "Patient", "name": [{"family": "Durand", "given": ["Léa"]}]}


def open_queue(path: Path, capacity: int = 10, instance: str = "care-1") -> Queue:
    return Queue.open(path / "queue.sqlite", capacity, "DT", instance)


def test_entries_get_ids_from_the_reserved_ranges_and_survive_a_reopen(tmp_path: Path) -> None:
    queue = open_queue(tmp_path)
    order, new = queue.enqueue("medication", "p000001", MED, "2024-08-03T10:00:00.000Z", "key-1", 1722600000.0)
    registration, _ = queue.enqueue("registration", "ignored", PATIENT, "2024-08-03T10:01:00.000Z", "reg-1")
    assert new and order.downtime_id == "DT-O-care-1-000001" and registration.downtime_id == "DT-P-care-1-000001"
    assert registration.patient == registration.downtime_id  # a registration stands for itself
    assert order.to_json()["display"] == "Paracétamol 1 g -- 1 g x4/j"
    queue.close()
    reopened = open_queue(tmp_path)
    kept = reopened.get("DT-O-care-1-000001")
    assert (kept.kind, kept.patient, kept.resource, kept.authored, kept.state) == (
        "medication", "p000001", MED, "2024-08-03T10:00:00.000Z", QUEUED)
    second, _ = reopened.enqueue("medication", "p000002", MED, "2024-08-03T10:02:00.000Z")
    assert second.downtime_id == "DT-O-care-1-000002"  # the counter survived: no id handed out twice


def test_the_same_client_key_is_one_entry(tmp_path: Path) -> None:
    queue = open_queue(tmp_path)
    first, new = queue.enqueue("medication", "p000001", MED, "2024-08-03T10:00:00.000Z", "same")
    again, repeated = queue.enqueue("medication", "p000001", MED, "2024-08-03T10:05:00.000Z", "same")
    assert new and not repeated and again.downtime_id == first.downtime_id
    assert queue.counts() == {QUEUED: 1, RECONCILED: 0, FAILED: 0}


def test_a_full_queue_refuses_and_loses_nothing_already_queued(tmp_path: Path) -> None:
    queue = open_queue(tmp_path, capacity=3)
    ids = [queue.enqueue("medication", f"p00000{i}", MED, "2024-08-03T10:00:00.000Z")[0].downtime_id
           for i in range(3)]  # fmt: skip
    with pytest.raises(QueueFull) as full:
        queue.enqueue("lab", "p000009", MED, "2024-08-03T10:00:00.000Z")
    assert full.value.capacity == 3 and "3 entries" in str(full.value)
    assert [e.downtime_id for e in queue.entries(QUEUED)] == ids
    queue.mark_reconciled(ids[0], "MedicationRequest/abc", existed=False)  # reconciled ones free a place
    fourth, _ = queue.enqueue("lab", "p000009", MED, "2024-08-03T10:00:00.000Z")
    assert fourth.downtime_id == "DT-O-care-1-000004"


def test_states_move_once_and_the_patient_map_follows_registrations(tmp_path: Path) -> None:
    queue = open_queue(tmp_path)
    registration, _ = queue.enqueue("registration", "", PATIENT, "2024-08-03T10:00:00.000Z")
    order, _ = queue.enqueue("medication", registration.downtime_id, MED, "2024-08-03T10:00:00.000Z")
    queue.note_attempt(order.downtime_id, "ehr unreachable")
    assert queue.get(order.downtime_id).attempts == 1 and queue.get(order.downtime_id).state == QUEUED
    queue.mark_reconciled(registration.downtime_id, "Patient/perm1", existed=False)
    queue.mark_failed(registration.downtime_id, "too late")  # already reconciled: no change
    assert queue.get(registration.downtime_id).state == RECONCILED
    assert queue.patient_map() == {registration.downtime_id: "perm1"}
    queue.mark_failed(order.downtime_id, "the EHR answered 400")
    failed = queue.get(order.downtime_id)
    assert failed.state == FAILED and failed.reason == "the EHR answered 400" and failed.attempts == 2


def test_two_workstations_never_collide_and_never_look_like_ehr_ids(tmp_path: Path) -> None:
    a = open_queue(tmp_path / "a", capacity=100, instance="care-1")
    b = open_queue(tmp_path / "b", capacity=100, instance="care-2")
    ids = set()
    for queue in (a, b):
        for n in range(50):
            kind = "registration" if n % 5 == 0 else "medication"
            ids.add(queue.enqueue(kind, "p000001", MED, "2024-08-03T10:00:00.000Z")[0].downtime_id)
    assert len(ids) == 100
    for identifier in ids:
        assert valid_id(identifier)
        assert not re.fullmatch(r"[0-9a-f]{32}", identifier)  # the EHR's server-assigned ids
        assert not re.fullmatch(r"p\d{6}", identifier)  # the synthetic hospital's patients
    assert is_downtime_patient("DT", downtime_id("DT", "P", "care-2", 7))
    assert not is_downtime_patient("DT", "p000001") and not is_downtime_patient("DT", "DT-O-care-1-000001")
    with pytest.raises(ValueError):
        downtime_id("DT", "X", "care-1", 1)
    assert token("urn:x", "a,b|c") == "urn:x|a\\,b\\|c"


def test_an_accepted_entry_survives_sigkill(tmp_path: Path) -> None:
    """A child process queues an entry, prints its id, and is SIGKILLed right after the answer."""
    script = (
        "import sys, time\nfrom pathlib import Path\nfrom mock_services.care.queue import Queue\n"
        f"q = Queue.open(Path({str(tmp_path / 'queue.sqlite')!r}), 10, 'DT', 'care-1')\n"
        "e, _ = q.enqueue('medication', 'p000001', {'resourceType': 'MedicationRequest'}, '2024-08-03T10:00:00Z')\n"
        "print(e.downtime_id, flush=True)\ntime.sleep(60)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, cwd=Path(__file__).parents[2])
    assert child.stdout is not None
    identifier = child.stdout.readline().decode().strip()
    child.kill()
    child.wait(timeout=5)
    assert identifier == "DT-O-care-1-000001"
    assert open_queue(tmp_path).get(identifier).state == QUEUED
