"""The socket probers (hl7v2-mllp, tcp) against real listeners on loopback.

MLLP: the messaging engine itself (in-thread, its real MLLP listener), and a minimal MLLP
server answering a chosen ACK code, for the answers our engine never gives to a valid result.
TCP: a listening socket, and a port nothing listens on.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

from harness.probe import ProbeTarget
from harness.probe.sockets import SENDING_APPLICATION, mllp_write_key
from mock_services.messaging import mllp
from mock_services.messaging.ack import build_ack
from mock_services.messaging.hl7v2 import parse
from mock_services.messaging.testing import engine_config, running_engine
from tests.probe.helpers import RunProbe, closed_port


@contextlib.contextmanager
def listening(answer: str | None = None) -> Iterator[int]:
    """A loopback listener; yields its port. Every connection is accepted; with ``answer`` (an
    MSA-1 code) each MLLP frame is answered with an ACK of that code, else it is closed at once."""
    server = socket.create_server(("127.0.0.1", 0), backlog=128)
    server.settimeout(0.05)
    stop = threading.Event()
    workers: list[threading.Thread] = []

    def converse(connection: socket.socket) -> None:
        decoder = mllp.FrameDecoder()
        with connection:
            connection.settimeout(2.0)
            while not stop.is_set():
                try:
                    data = connection.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                for event in decoder.feed(data):
                    if isinstance(event, mllp.Frame) and answer is not None:
                        header = parse(event.payload.decode()).header
                        connection.sendall(mllp.frame(build_ack(header, answer, [], "ACK1").encode()))

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            if answer is None:
                connection.close()
                continue
            worker = threading.Thread(target=converse, args=(connection,), daemon=True)
            workers.append(worker)
            worker.start()

    acceptor = threading.Thread(target=accept, name="test-listener", daemon=True)
    acceptor.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        acceptor.join(5)
        for worker in workers:
            worker.join(5)
        server.close()


def test_mllp_probe_sends_results_the_engine_stores_and_acknowledges(run_probe: RunProbe, tmp_path: Path) -> None:
    with running_engine(engine_config(tmp_path)) as engine:
        host, port = engine.mllp
        records = run_probe(ProbeTarget("lab-interface", "hl7v2-mllp", host=host, port=port), seconds=0.8)
        stored = [engine.get(f"/messages/{r.message_id}") for r in records[:3]]
        metrics = engine.text("/metrics")
    assert len(records) > 5
    assert all(r.ok and r.ack_code == "AA" and r.operation == "create" and r.error is None for r in records)
    ids = [r.message_id for r in records]
    assert len(set(ids)) == len(ids) and all(i and len(i) <= 20 for i in ids)  # MSH-10 is at most 20 characters
    assert all(r.write_key == mllp_write_key(str(r.message_id)) for r in records)
    assert all(r.served_by is None and r.datacenter is None and r.status is None for r in records)
    assert [s["control_id"] for s in stored] == ids[:3]
    assert all(s["sender"] == SENDING_APPLICATION for s in stored), stored
    connections = re.search(r"^mllp_connections_total (\S+)$", metrics, re.MULTILINE)
    assert connections is not None
    assert float(connections.group(1)) < len(records)  # connections are pooled, not one per message


def test_mllp_probe_records_no_ack_within_the_timeout_as_a_timeout(run_probe: RunProbe, tmp_path: Path) -> None:
    with running_engine(engine_config(tmp_path, ack_delay=0.8)) as engine:
        host, port = engine.mllp
        records = run_probe(ProbeTarget("lab-interface", "hl7v2-mllp", host=host, port=port),
                            seconds=0.4, rate=10, timeout=0.3)
    assert all(not r.ok and r.error == "timeout" and r.ack_code is None for r in records)
    # The message may be stored though never acknowledged: the ledger must still be able to look.
    assert all(r.message_id and r.write_key == mllp_write_key(r.message_id) for r in records)


def test_mllp_probe_judges_the_ack_code(run_probe: RunProbe) -> None:
    outcomes = {}
    for code in ("AE", "AR", "CA"):
        with listening(answer=code) as port:
            records = run_probe(ProbeTarget("engine", "hl7v2-mllp", host="127.0.0.1", port=port), seconds=0.3)
        outcomes[code] = {(r.ok, r.error, r.ack_code) for r in records}
    assert outcomes == {"AE": {(False, "ack-AE", "AE")}, "AR": {(False, "ack-AR", "AR")}, "CA": {(True, None, "CA")}}


def test_mllp_probe_records_a_refused_connection_and_a_close_without_ack(run_probe: RunProbe) -> None:
    refused = run_probe(ProbeTarget("engine", "hl7v2-mllp", host="127.0.0.1", port=closed_port()), seconds=0.3)
    assert all(not r.ok and r.error == "connect" for r in refused)
    with listening(answer=None) as port:
        closed = run_probe(ProbeTarget("engine", "hl7v2-mllp", host="127.0.0.1", port=port), seconds=0.3)
    assert all(not r.ok and r.error == "no-ack" for r in closed), {r.error for r in closed}


def test_tcp_probe_connects_to_a_listener_and_records_a_closed_port(run_probe: RunProbe) -> None:
    with listening(answer="AA") as port:  # keeps each connection open
        records = run_probe(ProbeTarget("database", "tcp", host="127.0.0.1", port=port))
    assert len(records) > 5
    assert all(r.ok and r.operation == "connect" and r.error is None for r in records)
    # Accepted then closed at once is what Toxiproxy does when nothing listens behind it: down.
    with listening() as port:
        closed = run_probe(ProbeTarget("database", "tcp", host="127.0.0.1", port=port), seconds=0.3)
    assert closed and all(not r.ok and r.error == "closed" for r in closed)
    assert all(r.status is None and r.served_by is None and r.write_key is None for r in records)
    refused = run_probe(ProbeTarget("database", "tcp", host="127.0.0.1", port=closed_port()), seconds=0.3)
    assert all(not r.ok and r.error == "connect" and r.operation == "connect" for r in refused)
