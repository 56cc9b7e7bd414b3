"""MllpSender: ACK matching, failover to the backup, staying there, failing back, errors."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mock_services.messaging import samples
from mock_services.messaging.sender import MllpError, MllpSender, parse_ack
from mock_services.messaging.testing import EngineHandle, engine_config, free_port, running_engine


@pytest.fixture
def backup(tmp_path: Path) -> Iterator[EngineHandle]:
    with running_engine(engine_config(tmp_path, "msg-b", idle_timeout=0.3)) as handle:
        yield handle


def test_send_reads_the_matching_ack(backup: EngineHandle) -> None:
    with MllpSender(backup.mllp, timeout=2) as sender:
        ack = sender.send(samples.oru("S-1"))
        assert (ack.code, ack.control_id, ack.endpoint, ack.accepted) == ("AA", "S-1", "primary", True)
        bad = sender.send(samples.adt("A01", "S-2", mrn=""))
        assert bad.code == "AE" and bad.error_codes == ("101",) and "PID-3" in bad.text and not bad.accepted


def test_primary_down_uses_backup_then_fails_back(tmp_path: Path, backup: EngineHandle) -> None:
    primary_port = free_port()  # nothing listens yet: connection refused
    sender = MllpSender(("127.0.0.1", primary_port), backup.mllp, timeout=2, failback_after=0.3)
    try:
        first = sender.send(samples.oru("F-1"))
        assert (first.code, first.endpoint) == ("AA", "backup")
        assert sender.send(samples.oru("F-2")).endpoint == "backup"  # stays on the backup
        config = engine_config(tmp_path, "msg-a", mllp_port=primary_port)
        with running_engine(config) as primary:
            time.sleep(0.35)
            back = sender.send(samples.oru("F-3"))
            assert back.endpoint == "primary" and back.address == primary.mllp
            assert primary.get("/messages/F-3")["status"] == "no-destination"
        assert sender.switches == 2
    finally:
        sender.close()


def test_silent_primary_times_out_to_backup(backup: EngineHandle) -> None:
    with socket.socket() as silent:  # accepts connections (kernel backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        with MllpSender(silent.getsockname(), backup.mllp, timeout=0.3) as sender:
            started = time.monotonic()
            ack = sender.send(samples.oru("T-1"))
            assert ack.endpoint == "backup" and ack.elapsed >= 0.3
            assert time.monotonic() - started < 2


def test_engine_closing_an_idle_connection_is_not_a_failover(backup: EngineHandle) -> None:
    with MllpSender(backup.mllp, ("127.0.0.1", free_port()), timeout=2) as sender:
        assert sender.send(samples.oru("I-1")).endpoint == "primary"
        time.sleep(0.5)  # the engine's idle timeout (0.3 s) closed the kept-alive connection
        assert sender.send(samples.oru("I-2")).endpoint == "primary"
        assert sender.switches == 0


def test_both_down_raises_with_both_errors() -> None:
    sender = MllpSender(("127.0.0.1", free_port()), ("127.0.0.1", free_port()), timeout=0.5)
    with pytest.raises(MllpError) as caught:
        sender.send(samples.oru("D-1"))
    assert caught.value.control_id == "D-1" and len(caught.value.errors) == 2


def test_parse_ack_rejects_non_acks() -> None:
    with pytest.raises(ValueError):
        parse_ack("MSH|^~\\&|A|B|C|D|||ADT^A01|1|P|2.5")
    with pytest.raises(ValueError):
        parse_ack("garbage")


def test_control_ids_with_escapes_and_blank_ones_get_their_ack(backup: EngineHandle) -> None:
    with MllpSender(backup.mllp, timeout=1) as sender:
        escaped = sender.send(samples.oru("S\\F\\3"))  # MSH-10 with an escaped '|': MSA-2 carries it as sent
        assert (escaped.code, escaped.control_id) == ("AA", "S\\F\\3")
        for blank in ("   ", ""):
            refused = sender.send(samples.oru(blank))
            assert (refused.code, refused.control_id, refused.error_codes) == ("AR", blank, ("101",))
