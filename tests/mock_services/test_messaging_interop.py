"""Interop: the independent ``hl7`` package (0.4.5) talks to the engine.

Its ``MLLPClient`` and its ``mllp_send`` console tool send ADT and ORU messages; ``hl7.parse``
must read every ACK with MSA-1 AA and MSA-2 = the message's MSH-10.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import hl7
import hl7.client
import pytest

from mock_services.messaging import samples
from mock_services.messaging.testing import EngineHandle, engine_config, running_engine

MLLP_SEND = Path(sys.executable).parent / "mllp_send"


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineHandle]:
    with running_engine(engine_config(tmp_path_factory.mktemp("interop"))) as handle:
        yield handle


def ack_fields(raw: bytes | str) -> tuple[str, str, str]:
    """(MSH-9, MSA-1, MSA-2) read by hl7.parse."""
    text = raw.decode() if isinstance(raw, bytes) else raw
    message = hl7.parse(text.strip("\x0b\x1c\r\n"))
    return str(message.segment("MSH")[9]), str(message.segment("MSA")[1]), str(message.segment("MSA")[2])


def test_mllp_client_sends_adt_and_oru(engine: EngineHandle) -> None:
    host, port = engine.mllp
    with hl7.client.MLLPClient(host, port) as client:
        for control_id, text in [
            ("HL7-ADT-1", samples.adt("A01", "HL7-ADT-1")),
            ("HL7-ORU-1", samples.oru("HL7-ORU-1")),
            ("HL7-ADT-2", samples.adt("A08", "HL7-ADT-2")),
        ]:
            message = hl7.parse(text)  # the library's own model, serialised by the library
            assert str(message.segment("MSH")[10]) == control_id
            _, code, acked = ack_fields(client.send_message(message))
            assert (code, acked) == ("AA", control_id)
    assert engine.get("/messages/HL7-ORU-1")["message_type"] == "ORU^R01"


def test_mllp_client_gets_ae_for_a_bad_message(engine: EngineHandle) -> None:
    host, port = engine.mllp
    with hl7.client.MLLPClient(host, port) as client:
        raw = client.send_message(samples.adt("A01", "HL7-BAD-1", mrn=""))
    message = hl7.parse(raw.decode().strip("\x0b\x1c\r"))
    assert str(message.segment("MSA")[1]) == "AE"
    assert str(message.segment("ERR")[3][0][0]) == "101"


@pytest.mark.skipif(not MLLP_SEND.exists(), reason="the hl7 package's mllp_send script is not installed")
def test_mllp_send_console_tool(engine: EngineHandle, tmp_path: Path) -> None:
    batch = tmp_path / "messages.hl7"
    # --loose: one message after another, LF line ends, as people keep them in files
    batch.write_text("\n".join([samples.adt("A01", "CLI-ADT-1"), samples.oru("CLI-ORU-1")]).replace("\r", "\n") + "\n")
    result = subprocess.run(
        [str(MLLP_SEND), "--loose", "--file", str(batch), "--port", str(engine.mllp[1]), engine.mllp[0]],
        capture_output=True,
        timeout=30,
        check=True,
    )
    acks = [chunk for chunk in result.stdout.split(b"\x1c") if b"MSA" in chunk]
    assert [ack_fields(a)[1:] for a in acks] == [("AA", "CLI-ADT-1"), ("AA", "CLI-ORU-1")]
    assert [ack_fields(a)[0] for a in acks] == ["ACK^A01^ACK", "ACK^R01^ACK"]


def test_mllp_client_reads_the_refusals_of_bad_headers(engine: EngineHandle) -> None:
    host, port = engine.mllp
    with hl7.client.MLLPClient(host, port) as client:
        version = hl7.parse(client.send_message(samples.oru("HL7-V30", version="3.0")).decode().strip("\x0b\x1c\r"))
        assert str(version.segment("MSH")[12]) == "2.5.1"  # not the "3.0" refused
        assert (str(version.segment("MSA")[1]), str(version.segment("ERR")[3][0][0])) == ("AR", "203")
        blank = hl7.parse(client.send_message(samples.oru("    ")).decode().strip("\x0b\x1c\r"))
        assert str(blank.segment("MSA")[1]) == "AR"
        assert (str(blank.segment("ERR")[2]), str(blank.segment("ERR")[3][0][0])) == ("MSH^1^10", "101")
