"""Store and forward into a fake FHIR receiver: mapping on the wire, retry, rotate vs
head-of-line blocking, give-up, and de-duplication after a lost response (on and off)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mock_services.messaging import samples
from mock_services.messaging.testing import (
    EngineHandle,
    FakeFhirReceiver,
    engine_config,
    fake_fhir,
    running_engine,
    send_one,
    wait_until,
)

DEDUP = "urn:hchaos:hl7:msh-10"
KEY = "urn:hchaos:hl7:message-key"
MRN_TOKEN = "urn:oid:1.2.250.1.213.1.4.8|MRN00000001"


@pytest.fixture
def receiver() -> Iterator[tuple[FakeFhirReceiver, str]]:
    with fake_fhir() as served:
        yield served


def status_of(engine: EngineHandle, control_id: str) -> str:
    status: str = engine.get(f"/messages/{control_id}")["status"]
    return status


def wait_delivered(engine: EngineHandle, control_ids: list[str], timeout: float = 5.0) -> None:
    wait_until(
        lambda: all(status_of(engine, c) == "delivered" for c in control_ids), timeout, f"{control_ids} delivered"
    )


def identifiers(resources: list[dict[str, Any]]) -> list[str]:
    return sorted(r["identifier"][-1]["value"] for r in resources)


def test_oru_becomes_observations_and_a_report(tmp_path: Path, receiver: tuple[FakeFhirReceiver, str]) -> None:
    fake, url = receiver
    with running_engine(engine_config(tmp_path, destination_fhir=url)) as engine:
        send_one(engine.mllp, samples.adt("A01", "ADM-1"))
        send_one(engine.mllp, samples.oru("LAB-1"))
        wait_delivered(engine, ["ADM-1", "LAB-1"])
        [patient] = fake.of_type("Patient")
        observations, [report] = fake.of_type("Observation"), fake.of_type("DiagnosticReport")
        assert identifiers(observations) == ["LAB-1-1", "LAB-1-2"]
        assert {o["code"]["coding"][0]["code"] for o in observations} == {"2345-7", "2823-3"}
        # the subject was resolved by a search on the PID-3 identifier
        assert all(o["subject"]["reference"] == f"Patient/{patient['id']}" for o in observations)
        assert report["result"] == [{"reference": f"Observation/{o['id']}"} for o in observations]
        assert report["issued"] == "2024-08-03T10:15:00Z"
        record = engine.get("/messages/LAB-1")
        assert record["attempts"] == 1 and record["delivered_at"] >= record["received_at"]
        assert record["resources"] == [
            *(f"Observation/{o['id']}" for o in observations),
            f"DiagnosticReport/{report['id']}",
        ]
        conditions = [r.headers.get("if-none-exist") for r in fake.posts()]
        keys = [f"identifier={KEY}|{r['identifier'][0]['value']}" for r in [*observations, report]]
        assert conditions == [f"identifier={MRN_TOKEN}", *keys]  # created on the message keys


def test_adt_patient_conditional_create_encounter_and_orders_not_forwarded(
    tmp_path: Path, receiver: tuple[FakeFhirReceiver, str]
) -> None:
    fake, url = receiver
    with running_engine(engine_config(tmp_path, destination_fhir=url)) as engine:
        send_one(engine.mllp, samples.adt("A01", "P-1"))
        send_one(engine.mllp, samples.adt("A08", "P-2"))  # same MRN: no second Patient
        send_one(engine.mllp, samples.adt("A03", "E-1"))
        send_one(engine.mllp, samples.orm("O-1"))
        wait_delivered(engine, ["P-1", "P-2", "E-1"])
        assert len(fake.of_type("Patient")) == 1
        [encounter] = fake.of_type("Encounter")
        assert encounter["status"] == "finished" and encounter["subject"]["reference"].startswith("Patient/")
        assert status_of(engine, "O-1") == "no-destination"
        assert not any(r.path.startswith("/Service") for r in fake.requests)


@pytest.mark.parametrize("dedup", [True, False])
def test_a08_updates_the_existing_patient_once(
    tmp_path: Path, receiver: tuple[FakeFhirReceiver, str], dedup: bool
) -> None:
    fake, url = receiver
    with running_engine(engine_config(tmp_path, destination_fhir=url, dedup_key=dedup)) as engine:
        send_one(engine.mllp, samples.adt("A01", "U-1"))
        send_one(engine.mllp, samples.adt("A08", "U-2", family="MARTIN"))  # married name
        send_one(engine.mllp, samples.adt("A08", "U-3", family="MARTIN"))  # same content again
        wait_delivered(engine, ["U-1", "U-2", "U-3"])
        [patient] = fake.of_type("Patient")
        assert patient["name"][0]["family"] == "MARTIN" and patient["meta"]["versionId"] == "2"
        puts = [r for r in fake.requests if r.method == "PUT"]
        assert [r.path for r in puts] == [f"/Patient/{patient['id']}"]
        assert puts[0].headers["if-match"] == 'W/"1"'
        assert engine.get("/messages/U-3")["resources"] == [f"Patient/{patient['id']}"]


def test_retry_on_503_until_delivered(tmp_path: Path, receiver: tuple[FakeFhirReceiver, str]) -> None:
    fake, url = receiver
    fake.fail_next(3, 503)
    with running_engine(engine_config(tmp_path, destination_fhir=url)) as engine:
        send_one(engine.mllp, samples.oru("RETRY-1"))
        wait_delivered(engine, ["RETRY-1"])
        record = engine.get("/messages/RETRY-1")
        assert record["attempts"] == 4 and "503" in record["last_error"]
        assert identifiers(fake.of_type("Observation")) == ["RETRY-1-1", "RETRY-1-2"]
        metrics = engine.text("/metrics")
        assert 'forward_retries_total{destination="fhir"} 3.0' in metrics
        assert 'forward_attempts_total{destination="fhir",outcome="failed"} 3.0' in metrics


@pytest.mark.parametrize(("dedup", "observations"), [(True, 2), (False, 3)])
def test_lost_response_retry_and_deduplication(
    tmp_path: Path, receiver: tuple[FakeFhirReceiver, str], dedup: bool, observations: int
) -> None:
    fake, url = receiver
    fake.lose_responses(1, seconds=1.0)  # the first Observation is created, its response never arrives in time
    config = engine_config(tmp_path, destination_fhir=url, dedup_key=dedup, forward_timeout=0.3)
    with running_engine(config) as engine:
        send_one(engine.mllp, samples.oru("LOST-1"))
        wait_delivered(engine, ["LOST-1"])
        assert engine.get("/messages/LOST-1")["attempts"] == 2
        created = fake.of_type("Observation")
        assert len(created) == observations
        assert len(fake.of_type("DiagnosticReport")) == 1
        if dedup:
            assert identifiers(created) == ["LOST-1-1", "LOST-1-2"]
            assert all("if-none-exist" in r.headers for r in fake.posts())
        else:
            assert identifiers(created) == ["LOST-1-1", "LOST-1-1", "LOST-1-2"]  # the duplicate a checker must catch
            assert not any("if-none-exist" in r.headers for r in fake.posts())


def poison(resource: dict[str, Any]) -> bool:
    return any(str(i.get("value", "")).startswith("POISON") for i in resource.get("identifier", []))


@pytest.mark.parametrize("rotate", [False, True])
def test_poison_message_blocks_the_queue_unless_rotate(
    tmp_path: Path, receiver: tuple[FakeFhirReceiver, str], rotate: bool
) -> None:
    fake, url = receiver
    fake.reject(poison)
    with running_engine(engine_config(tmp_path, destination_fhir=url, rotate=rotate)) as engine:
        for control_id in ("POISON-1", "GOOD-1", "GOOD-2"):
            send_one(engine.mllp, samples.oru(control_id))
        if rotate:
            wait_delivered(engine, ["GOOD-1", "GOOD-2"])
        else:
            wait_until(lambda: engine.get("/messages/POISON-1")["attempts"] >= 5, 5, "poison retried")
            assert status_of(engine, "GOOD-1") == "queued" and status_of(engine, "GOOD-2") == "queued"
            assert engine.get("/health")["queue_depth"] == 3
        poisoned = engine.get("/messages/POISON-1")
        assert poisoned["status"] == "queued" and "422" in poisoned["last_error"]


def test_max_attempts_errors_the_message_and_the_queue_moves_on(
    tmp_path: Path, receiver: tuple[FakeFhirReceiver, str]
) -> None:
    fake, url = receiver
    fake.reject(poison)
    with running_engine(engine_config(tmp_path, destination_fhir=url, forward_max_attempts=3)) as engine:
        send_one(engine.mllp, samples.oru("POISON-2"))
        send_one(engine.mllp, samples.oru("GOOD-3"))
        wait_delivered(engine, ["GOOD-3"])
        record = engine.get("/messages/POISON-2")
        assert record["status"] == "errored" and record["attempts"] == 3
        assert engine.get("/health")["messages"]["errored"] == 1
        assert [m["control_id"] for m in engine.get("/messages", status="errored")["messages"]] == ["POISON-2"]


def test_destination_down_then_up(tmp_path: Path, receiver: tuple[FakeFhirReceiver, str]) -> None:
    fake, url = receiver
    fake.fail_next(10**6, 503)
    with running_engine(engine_config(tmp_path, destination_fhir=url, rotate=True)) as engine:
        ids = [f"DOWN-{i}" for i in range(5)]
        for control_id in ids:
            send_one(engine.mllp, samples.oru(control_id))
        wait_until(lambda: engine.get("/health")["oldest_undelivered_age_s"] > 0.2, 5, "queue ages")
        assert engine.get("/health")["queue_depth"] == 5
        fake.heal()
        wait_delivered(engine, ids)
        assert len(fake.of_type("DiagnosticReport")) == 5
        assert engine.get("/health")["queue_depth"] == 0


def drained(engine: EngineHandle) -> None:
    wait_until(lambda: engine.get("/health")["queue_depth"] == 0, 5, "forwarding queue drained")


def report_ids(fake: FakeFhirReceiver) -> list[str]:
    return sorted(
        i["value"] for r in fake.of_type("DiagnosticReport") for i in r["identifier"] if i["system"] == DEDUP
    )


def test_blank_control_ids_are_neither_acknowledged_nor_forwarded(
    tmp_path: Path, receiver: tuple[FakeFhirReceiver, str]
) -> None:
    fake, url = receiver
    with running_engine(engine_config(tmp_path, destination_fhir=url)) as engine:
        for number in range(3):  # three different results, MSH-10 made of spaces
            assert "MSA|AR|   |" in send_one(engine.mllp, samples.oru("   ", mrn=f"MRN{number:08d}"))
        send_one(engine.mllp, samples.oru("AFTER-BLANK"))
        drained(engine)
        assert report_ids(fake) == ["AFTER-BLANK"]
        assert [m["control_id"] for m in engine.get("/messages")["messages"]] == ["AFTER-BLANK"]


def test_control_ids_with_fhir_search_characters_are_delivered_separately(
    tmp_path: Path, receiver: tuple[FakeFhirReceiver, str]
) -> None:
    # ',' ORs search values and '\' escapes: "A,B" must not find B's report, "C\E\" not "C\"
    fake, url = receiver
    ids = ["B", "A,B", "C$", "C\\E\\", "C\\", "D|x"]
    with running_engine(engine_config(tmp_path, destination_fhir=url)) as engine:
        for number, control_id in enumerate(ids):
            message = samples.oru(control_id.replace("|", "\\F\\"), mrn=f"MRN{number:08d}")
            assert "MSA|AA|" in send_one(engine.mllp, message)
        drained(engine)
        assert report_ids(fake) == sorted(i.replace("|", "\\F\\") for i in ids)


def test_two_senders_may_use_the_same_control_id(tmp_path: Path, receiver: tuple[FakeFhirReceiver, str]) -> None:
    # MSH-10 is unique per sending application: both results were acknowledged, both must arrive
    fake, url = receiver
    with running_engine(engine_config(tmp_path, destination_fhir=url)) as engine:
        send_one(engine.mllp, samples.oru("1", mrn="MRN00000001", sending_application="LIS"))
        send_one(engine.mllp, samples.oru("1", mrn="MRN00000002", sending_application="POC"))
        send_one(engine.mllp, samples.oru("1", mrn="MRN00000001", sending_application="LIS"))  # a resend
        drained(engine)
        assert report_ids(fake) == ["1", "1"]
        assert len(fake.of_type("Observation")) == 4


def test_a_control_id_like_another_messages_second_report(
    tmp_path: Path, receiver: tuple[FakeFhirReceiver, str]
) -> None:
    fake, url = receiver
    lines = samples.oru("X").split("\r")  # MSH PID OBR OBX OBX
    two_panels = "\r".join([*lines[:4], lines[2].replace("OBR|1|", "OBR|2|", 1), lines[4]])
    with running_engine(engine_config(tmp_path, destination_fhir=url)) as engine:
        send_one(engine.mllp, two_panels)  # reports "X" and "X-R2"
        send_one(engine.mllp, samples.oru("X-R2", mrn="MRN00000002"))  # report "X-R2" too
        drained(engine)
        assert report_ids(fake) == ["X", "X-R2", "X-R2"]


def test_patient_identifiers_with_search_characters_are_their_own_patients(
    tmp_path: Path, receiver: tuple[FakeFhirReceiver, str]
) -> None:
    fake, url = receiver
    with running_engine(engine_config(tmp_path, destination_fhir=url)) as engine:
        send_one(engine.mllp, samples.adt("A01", "PA-1", mrn="B", family="BERNARD"))
        send_one(engine.mllp, samples.adt("A01", "PA-2", mrn="A,B", family="ALAIN"))
        send_one(engine.mllp, samples.oru("PA-3", mrn="A,B"))
        drained(engine)
        patients = {p["identifier"][0]["value"]: p for p in fake.of_type("Patient")}
        assert sorted(patients) == ["A,B", "B"]
        assert patients["B"]["name"][0]["family"] == "BERNARD"  # not merged with the other one
        [report] = fake.of_type("DiagnosticReport")
        assert report["subject"]["reference"] == f"Patient/{patients['A,B']['id']}"
