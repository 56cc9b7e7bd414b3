"""Protocol conformance of the engine over real sockets (in-process engine, no destination).

One engine serves the module (small limits so that the oversize, garbage and idle rules are
quick to hit); every test uses its own MSH-10 values.
"""

from __future__ import annotations

import asyncio
import random
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import hl7
import httpx
import pytest

from mock_services.messaging import fhir_mapping, samples
from mock_services.messaging.hl7v2 import Message, parse
from mock_services.messaging.listener import Listener
from mock_services.messaging.metrics import Metrics
from mock_services.messaging.mllp import frame
from mock_services.messaging.store import Store
from mock_services.messaging.testing import EngineHandle, engine_config, exchange, running_engine, send_one

SB, EB = b"\x0b", b"\x1c\r"


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineHandle]:
    config = engine_config(
        tmp_path_factory.mktemp("conformance"), max_frame_bytes=4096, max_garbage_bytes=2048, idle_timeout=1.0
    )
    with running_engine(config) as handle:
        yield handle


def msa(ack: str) -> tuple[str, str]:
    segment = parse(ack).first("MSA")
    assert segment is not None, ack
    return segment.value(1), segment.value(2)


def errors(ack: str) -> list[tuple[str, str]]:
    """(ERR-2 location, ERR-3.1 code) of every ERR."""
    return [(e.field(2), e.value(3, 1)) for e in parse(ack).all("ERR")]


def stored(engine: EngineHandle, control_id: str) -> dict[str, object] | None:
    response = httpx.get(f"{engine.http_url}/messages/{control_id}", timeout=5)
    if response.status_code == 404:
        return None
    response.raise_for_status()
    document: dict[str, object] = response.json()
    return document


@pytest.mark.parametrize(
    ("builder", "trigger"),
    [
        (lambda c: samples.adt("A01", c), "A01"),
        (lambda c: samples.adt("A03", c), "A03"),
        (lambda c: samples.adt("A08", c), "A08"),
        (samples.orm, "O01"),
        (samples.oml, "O21"),
        (samples.oru, "R01"),
    ],
)
def test_each_supported_type_is_accepted_and_stored(engine: EngineHandle, builder: object, trigger: str) -> None:
    assert callable(builder)
    control_id = f"TYPE-{trigger}"
    ack = parse(send_one(engine.mllp, builder(control_id)))
    msh = ack.header
    assert msh.field(9) == f"ACK^{trigger}^ACK"
    assert msh.field(10) and msh.field(10) != control_id
    assert (msh.field(3), msh.field(5)) == ("HCHAOS", "LIS")  # sender and receiver swapped
    assert (msh.field(11), msh.field(12)) == ("P", "2.5.1")
    assert msa(str(send_one(engine.mllp, builder(control_id)))) == ("AA", control_id)
    record = stored(engine, control_id)
    assert record is not None and record["ack_code"] == "AA" and record["status"] == "no-destination"


def test_split_frame_across_reads(engine: EngineHandle) -> None:
    data = frame(samples.oru("SPLIT-1").encode())
    chunks = [data[:1], data[1:50], data[50:-1], data[-1:]]
    acks, _ = exchange(engine.mllp, chunks, 1, pause=0.05)
    assert [msa(a) for a in acks] == [("AA", "SPLIT-1")]


def test_several_messages_per_connection_are_answered_in_order(engine: EngineHandle) -> None:
    ids = [f"MULTI-{i}" for i in range(5)]
    data = b"".join(frame(samples.adt("A08", i).encode()) for i in ids)
    acks, closed = exchange(engine.mllp, [data], 5)
    assert [msa(a) for a in acks] == [("AA", i) for i in ids]
    assert not closed


def test_garbage_before_the_start_block_is_skipped(engine: EngineHandle) -> None:
    acks, _ = exchange(engine.mllp, [b"\r\nnoise noise" + frame(samples.oru("GARBAGE-1").encode())], 1)
    assert [msa(a) for a in acks] == [("AA", "GARBAGE-1")]


def test_too_much_garbage_closes_the_connection(engine: EngineHandle) -> None:
    acks, closed = exchange(engine.mllp, [b"x" * 3000], 1)
    assert acks == [] and closed


def test_oversized_frame_is_nacked_and_closed(engine: EngineHandle) -> None:
    big = samples.oru("BIG-1") + "\rNTE|1||" + "x" * 5000
    acks, closed = exchange(engine.mllp, [frame(big.encode())], 2)
    assert [msa(a) for a in acks] == [("AR", "BIG-1")]
    assert errors(acks[0])[0][1] == "104"
    assert closed
    assert stored(engine, "BIG-1") is None


def test_truncated_frame_is_nacked_and_the_next_frame_is_answered(engine: EngineHandle) -> None:
    partial = samples.oru("TRUNC-1")[:120].encode()
    acks, closed = exchange(engine.mllp, [SB + partial + frame(samples.oru("TRUNC-2").encode())], 2)
    assert [msa(a) for a in acks] == [("AR", "TRUNC-1"), ("AA", "TRUNC-2")]
    assert errors(acks[0])[0][1] == "100"
    assert not closed
    assert stored(engine, "TRUNC-1") is None


def test_unreadable_frame_closes_the_connection_without_ack(engine: EngineHandle) -> None:
    acks, closed = exchange(engine.mllp, [frame(b"hello, not HL7")], 1)
    assert acks == [] and closed
    acks, closed = exchange(engine.mllp, [frame(samples.oru("x").replace("MSH|", "MSHa", 1).encode())], 1)
    assert acks == [] and closed  # an alphanumeric MSH-1: no field can be read


def stored_ids(engine: EngineHandle) -> list[str]:
    return [m["control_id"] for m in engine.get("/messages", limit=1000)["messages"]]


@pytest.mark.parametrize("blank", ["", " ", "   ", "\t"])
def test_blank_control_id_is_refused_with_ar_naming_msh_10(engine: EngineHandle, blank: str) -> None:
    before = stored_ids(engine)
    for number in range(3):  # three different results, each with that MSH-10
        ack = send_one(engine.mllp, samples.oru(blank, mrn=f"BLANK{number}"))
        assert msa(ack) == ("AR", blank)
        assert errors(ack) == [("MSH^1^10", "101")]
        err = hl7.parse(ack).segment("ERR")  # the independent parser reads it too
        assert (str(err[2]), str(err[3][0][0]), str(err[4])) == ("MSH^1^10", "101", "E")
    assert stored_ids(engine) == before  # never stored, so never a de-duplication key


def test_idle_connection_is_closed(engine: EngineHandle) -> None:
    with socket.create_connection(engine.mllp, timeout=5) as sock:
        started = time.monotonic()
        assert sock.recv(10) == b""  # the engine closes it
        assert 0.8 < time.monotonic() - started < 4


def test_missing_required_fields_give_ae_with_err(engine: EngineHandle) -> None:
    ack = send_one(engine.mllp, samples.adt("A01", "AE-1", mrn=""))
    assert msa(ack) == ("AE", "AE-1")
    assert errors(ack) == [("PID^1^3", "101")]
    ack = send_one(engine.mllp, samples.oru("AE-2", results=()))
    assert msa(ack) == ("AE", "AE-2") and errors(ack) == [("OBX^1", "100")]
    assert stored(engine, "AE-1") is None and stored(engine, "AE-2") is None


@pytest.mark.parametrize(
    ("old", "new", "code"),
    [("ORU^R01^ORU_R01", "SIU^S12", "200"), ("ORU^R01^ORU_R01", "ORU^R30", "201"), ("|2.5.1", "|3.1", "203")],
)
def test_unsupported_type_or_version_gives_ar(engine: EngineHandle, old: str, new: str, code: str) -> None:
    ack = send_one(engine.mllp, samples.oru("AR-" + code).replace(old, new, 1))
    assert msa(ack) == ("AR", "AR-" + code)
    assert errors(ack) == [("MSH^1^" + ("12" if code == "203" else "9"), code)]
    assert str(hl7.parse(ack).segment("MSH")[12]) == "2.5.1"  # the engine's version, not the one refused


def test_control_characters_never_reach_an_ack(engine: EngineHandle) -> None:
    # \X1C\ and \X0B\ decode to the MLLP block characters: echoed in an error text, they would end the frame
    for number, mangled in enumerate(["Z\\X1C\\Z^R01", "Z\\X0B\\Z^R01", "ORU^R\\X1C\\1"]):
        message = samples.oru(f"CTRL-{number}").replace("ORU^R01^ORU_R01", mangled, 1)
        acks, closed = exchange(engine.mllp, [frame(message.encode())], 1)
        assert len(acks) == 1 and not closed, acks
        assert msa(acks[0]) == ("AR", f"CTRL-{number}") and errors(acks[0]), acks  # the whole ACK, ERR included
        assert not any(ord(c) < 0x20 and c != "\r" for c in acks[0]), repr(acks[0])
        assert str(hl7.parse(acks[0]).segment("MSA")[1]) == "AR"


@pytest.mark.parametrize("separator", ["\t", " ", "\x01"])
def test_unusable_field_separator_is_refused_with_a_standard_ack(engine: EngineHandle, separator: str) -> None:
    message = "MSH" + separator + samples.oru("FS-1")[4:].replace("|", separator)
    ack = send_one(engine.mllp, message)
    assert ack.startswith("MSH|^~\\&|") and msa(ack) == ("AR", "FS-1")
    assert errors(ack)[0] == ("MSH^1^1", "100")
    assert "FS-1" not in stored_ids(engine)


def test_unparseable_body_with_readable_header_gives_ar(engine: EngineHandle) -> None:
    ack = send_one(engine.mllp, samples.oru("AR-BODY") + "\r??? broken line")
    assert msa(ack) == ("AR", "AR-BODY")
    assert errors(ack) == [("", "100")]


@pytest.mark.parametrize(
    ("accept", "valid", "expected"),
    [
        ("AL", True, "CA"),
        ("AL", False, "CE"),
        ("ER", False, "CE"),
        ("SU", True, "CA"),
        ("NE", True, None),
        ("ER", True, None),
        ("SU", False, None),
    ],
)
def test_enhanced_mode_commit_acks(engine: EngineHandle, accept: str, valid: bool, expected: str | None) -> None:
    control_id = f"ENH-{accept}-{valid}"
    message = samples.oru(control_id, accept_ack=accept, application_ack="NE", mrn="MRN00000001" if valid else "")
    probe = samples.adt("A08", control_id + "-probe")  # original mode: always answered
    acks, _ = exchange(engine.mllp, [frame(message.encode()) + frame(probe.encode())], 1 if expected is None else 2)
    answers = [msa(a) for a in acks]
    if expected is None:
        assert answers == [("AA", control_id + "-probe")]  # nothing for the enhanced-mode message
    else:
        assert answers == [(expected, control_id), ("AA", control_id + "-probe")]
    assert (stored(engine, control_id) is not None) is valid


def test_enhanced_mode_reject_is_cr(engine: EngineHandle) -> None:
    ack = send_one(engine.mllp, samples.oru("ENH-CR", accept_ack="AL", application_ack="AL").replace("|2.5.1", "|9.9"))
    assert msa(ack) == ("CR", "ENH-CR")


def test_duplicate_msh_10_is_acknowledged_again_and_stored_once(engine: EngineHandle) -> None:
    for _ in range(3):
        assert msa(send_one(engine.mllp, samples.oru("DUP-1"))) == ("AA", "DUP-1")
    record = stored(engine, "DUP-1")
    assert record is not None and record["duplicates"] == 2
    # the same MSH-10 from another sending application is another message
    assert msa(send_one(engine.mllp, samples.oru("DUP-1", sending_application="LIS2"))) == ("AA", "DUP-1")
    response = httpx.get(f"{engine.http_url}/messages/DUP-1", timeout=5)
    assert response.status_code == 409 and sorted(response.json()["senders"]) == ["LIS", "LIS2"]
    one = httpx.get(f"{engine.http_url}/messages/DUP-1", params={"sender": "LIS2"}, timeout=5).json()
    assert one["sender"] == "LIS2" and one["duplicates"] == 0


def test_engine_survives_random_garbage_frames(engine: EngineHandle) -> None:
    rng = random.Random(2024)
    valid = samples.oru("FUZZ").encode()
    sock = socket.create_connection(engine.mllp, timeout=5)
    closed_count = 0
    deadline = time.monotonic() + 30  # each frame is answered or closed at once; 0.5 s per silent one at worst
    try:
        for number in range(200):
            assert time.monotonic() < deadline, f"fuzzing took too long (frame {number})"
            kind = number % 4
            if kind == 0:
                payload = rng.randbytes(rng.randint(0, 300))
            elif kind == 1:  # a mangled real message
                cut = bytearray(valid)
                for _ in range(rng.randint(1, 20)):
                    cut[rng.randrange(len(cut))] = rng.randrange(256)
                payload = bytes(cut)
            elif kind == 2:
                payload = valid[: rng.randint(0, len(valid))]
            else:
                payload = b"MSH" + rng.randbytes(rng.randint(0, 60))
            try:
                sock.sendall(frame(payload))
                sock.settimeout(0.5)
                data = sock.recv(65536)  # an ACK, or b"" when the engine closed
            except (TimeoutError, ConnectionError):
                data = b""
            if not data:
                closed_count += 1
                sock.close()
                sock = socket.create_connection(engine.mllp, timeout=5)
    finally:
        sock.close()
    assert closed_count > 0  # unreadable frames did close connections
    assert msa(send_one(engine.mllp, samples.oru("AFTER-FUZZ"))) == ("AA", "AFTER-FUZZ")
    assert engine.get("/health")["status"] == "ok"


def test_health_metrics_and_identity_headers(engine: EngineHandle) -> None:
    send_one(engine.mllp, samples.oru("METRICS-1"))
    response = httpx.get(f"{engine.http_url}/health", timeout=5)
    assert response.headers["x-served-by"] == "msg-a" and response.headers["x-datacenter"] == "dc-a"
    health = response.json()
    assert health["role"] == "active" and health["mllp_port"] == engine.mllp[1]
    text = httpx.get(f"{engine.http_url}/metrics", timeout=5).text
    assert 'mllp_messages_total{ack_code="AA",message_type="ORU^R01"}' in text
    assert "mllp_ack_latency_seconds_bucket" in text and "forward_queue_depth" in text
    assert 'http_requests_total{method="GET",route="/health",status="200"}' in text


def test_messages_listing_pages_and_validates(engine: EngineHandle) -> None:
    for i in range(3):
        send_one(engine.mllp, samples.orm(f"LIST-{i}"))
    first = engine.get("/messages", limit=2)
    assert len(first["messages"]) == 2 and first["next_after"] == first["messages"][-1]["seq"]
    rest = engine.get("/messages", limit=1000, after=first["next_after"])
    assert rest["next_after"] is None and "raw" not in rest["messages"][0]
    assert httpx.get(f"{engine.http_url}/messages", params={"status": "nope"}, timeout=5).status_code == 400
    assert httpx.get(f"{engine.http_url}/messages/NOPE", timeout=5).status_code == 404


def test_store_failure_gives_ar_207(tmp_path: Path) -> None:
    store = Store(tmp_path / "closed.sqlite")
    store.close()
    listener = Listener(engine_config(tmp_path), store, Metrics())
    reply = asyncio.run(listener.process(samples.oru("FAIL-1").encode()))
    assert reply.ack is not None
    ack: Message = parse(reply.ack[1:-2].decode())
    assert msa(str(reply.ack[1:-2].decode())) == ("AR", "FAIL-1")
    assert [e.value(3, 1) for e in ack.all("ERR")] == ["207"]


def test_message_is_stored_before_its_delayed_ack(tmp_path: Path) -> None:
    with running_engine(engine_config(tmp_path, ack_delay=0.4)) as delayed:
        with socket.create_connection(delayed.mllp, timeout=5) as sock:
            started = time.monotonic()
            sock.sendall(frame(samples.oru("DELAY-1").encode()))
            time.sleep(0.2)
            assert stored(delayed, "DELAY-1") is not None  # durable while the ACK is still held back
            data = sock.recv(65536)
            assert time.monotonic() - started >= 0.4
        assert msa(data.strip(b"\x0b\x1c\r").decode()) == ("AA", "DELAY-1")


def test_a_message_the_mapping_cannot_forward_is_not_acknowledged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Whatever a future mapping bug raises, it must surface as AE at receipt, not as an AA
    # followed by a message stuck at the head of the queue for ever.
    def broken(obx: object) -> dict[str, object]:
        raise ValueError("a mapping bug")

    monkeypatch.setattr(fhir_mapping, "_value", broken)
    store = Store(tmp_path / "map.sqlite")
    try:
        listener = Listener(engine_config(tmp_path, destination_fhir="http://127.0.0.1:9"), store, Metrics())
        reply = asyncio.run(listener.process(samples.oru("MAP-1").encode()))
        assert reply.ack is not None
        ack = reply.ack[1:-2].decode()
        assert msa(ack) == ("AE", "MAP-1") and [e[1] for e in errors(ack)] == ["207"]
        assert "a mapping bug" in ack
        assert asyncio.run(listener.process(samples.orm("MAP-2").encode())).ack is not None  # not forwarded: AA
        assert [m.control_id for m in store.reader().list(None, 10)] == ["MAP-2"]
    finally:
        store.close()
