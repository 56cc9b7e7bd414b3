"""An MLLP sender with a primary and a backup engine -- the lab system's side of the link.

Pure blocking sockets and no threads, so it runs unchanged under gevent (the Locust lab
persona) as well as in plain tests. One persistent connection at a time.

:meth:`MllpSender.send` frames the message, sends it, and reads frames until the ACK whose
MSA-2 is the message's MSH-10 as sent (compared as raw text: an MSH-10 with escape sequences
or blank is matched too; an ACK for another message -- a late one -- is skipped), all within
``timeout`` seconds per engine. Failover:

* A failure on a connection that was *reused* (the engine may have closed an idle one) is
  retried once on a fresh connection to the same engine before counting as that engine's
  failure.
* When the current engine fails (refused, reset, closed, timeout), the message is sent to
  the other one; if both fail, :class:`MllpError` is raised (the message may or may not have
  been stored: the ledger says "indeterminate").
* After failing over to the backup, the sender stays there for ``failback_after`` seconds,
  then tries the primary first again (falling back to the backup at once if it still fails).

Resending after a timeout can duplicate a message (the first engine may have stored it and
its ACK got lost): engines de-duplicate by MSH-10 within themselves, the EHR across them.
Messages that ask for no commit ACK (MSH-15 NE, or SU/ER for the outcome that sends none)
are not supported by ``send``: it waits for an ACK.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field

from mock_services.messaging import mllp
from mock_services.messaging.hl7v2 import STANDARD, Unreadable, parse

Address = tuple[str, int]


class MllpError(Exception):
    """Neither engine acknowledged the message; ``errors`` says what happened at each."""

    def __init__(self, control_id: str, errors: list[str]) -> None:
        super().__init__(f"message {control_id} not acknowledged: " + "; ".join(errors))
        self.control_id = control_id
        self.errors = errors


@dataclass(frozen=True)
class Ack:
    """One acknowledgment: MSA-1 ``code``, MSA-2 ``control_id`` (raw, as the MSH-10 it echoes),
    MSA-3 / first ERR-8 ``text``,
    ERR-3.1 ``error_codes``; ``endpoint`` ("primary" or "backup"), its ``address``, ``raw``
    text, and ``elapsed`` seconds (send to ACK, failover included)."""

    code: str
    control_id: str
    text: str
    error_codes: tuple[str, ...]
    endpoint: str
    address: Address
    raw: str
    elapsed: float = field(default=0.0, compare=False)

    @property
    def accepted(self) -> bool:
        """AA or CA: the engine stored the message."""
        return self.code in ("AA", "CA")


def parse_ack(raw: str, endpoint: str = "", address: Address = ("", 0), elapsed: float = 0.0) -> Ack:
    """Read an ACK message (raises ValueError if it has no MSA)."""
    try:
        message = parse(raw)
    except Unreadable as error:
        raise ValueError(f"not an HL7 ACK: {error}") from error
    msa = message.first("MSA")
    if msa is None:
        raise ValueError("the ACK has no MSA segment")
    errors = message.all("ERR")
    text = msa.value(3) or next((e.value(8) for e in errors if e.value(8)), "")
    codes = tuple(e.value(3, 1) or e.value(1, 4, 1) for e in errors)
    return Ack(msa.value(1), msa.field(2), text, codes, endpoint, address, raw, elapsed)


class MllpSender:
    """Sends HL7 messages to ``primary``, failing over to ``backup`` (optional)."""

    def __init__(
        self,
        primary: Address,
        backup: Address | None = None,
        timeout: float = 5.0,
        *,
        failback_after: float = 30.0,
        encoding: str = "utf-8",
    ) -> None:
        self.endpoints: dict[str, Address] = {"primary": primary}
        if backup is not None:
            self.endpoints["backup"] = backup
        self.timeout = timeout
        self.failback_after = failback_after
        self.encoding = encoding
        self.current = "primary"
        self.switches = 0  # failovers to the backup and failbacks to the primary
        self._failed_over_at: float | None = None
        self._socket: socket.socket | None = None
        self._socket_endpoint = ""
        self._buffer = b""

    def close(self) -> None:
        if self._socket is not None:
            try:
                self._socket.close()
            finally:
                self._socket = None
                self._buffer = b""

    def __enter__(self) -> MllpSender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, message: str) -> Ack:
        """Send one message and return its ACK (see the module docstring); raises MllpError."""
        started = time.monotonic()
        try:
            header = parse(message).header
        except Unreadable as error:
            raise ValueError(f"cannot send: {error}") from error
        control_id = header.field(10)
        # An engine answers a message whose separators it cannot use with standard ones.
        echoes = {control_id, header.separators.transcode(control_id, STANDARD)}
        payload = mllp.frame(message.encode(self.encoding))
        errors: list[str] = []
        for endpoint in self._order():
            try:
                raw = self._exchange(endpoint, payload, echoes)
            except (OSError, ValueError) as error:
                errors.append(f"{endpoint} {self.endpoints[endpoint]}: {type(error).__name__}: {error}")
                self.close()
                continue
            if endpoint == "backup" and (self.current != "backup" or errors):
                self._failed_over_at = time.monotonic()  # (re)start the stay on the backup
            elif endpoint == "primary":
                self._failed_over_at = None
            if endpoint != self.current:
                self.switches += 1
                self.current = endpoint
            return parse_ack(raw, endpoint, self.endpoints[endpoint], time.monotonic() - started)
        raise MllpError(control_id, errors)

    def _order(self) -> list[str]:
        if len(self.endpoints) == 1:
            return ["primary"]
        if self.current == "backup" and self._failed_over_at is not None:
            if time.monotonic() - self._failed_over_at >= self.failback_after:
                self.close()
                return ["primary", "backup"]  # time to try the primary again
            return ["backup", "primary"]
        return ["primary", "backup"]

    def _exchange(self, endpoint: str, payload: bytes, echoes: set[str]) -> str:
        reused = self._socket is not None and self._socket_endpoint == endpoint
        try:
            return self._exchange_once(endpoint, payload, echoes)
        except ConnectionError:  # not TimeoutError: a silent engine must not cost two timeouts
            if not reused:
                raise
            self.close()  # a kept-alive connection the engine closed: one fresh try, same engine
            return self._exchange_once(endpoint, payload, echoes)

    def _exchange_once(self, endpoint: str, payload: bytes, echoes: set[str]) -> str:
        deadline = time.monotonic() + self.timeout
        if self._socket is None or self._socket_endpoint != endpoint:
            self.close()
            self._socket = socket.create_connection(self.endpoints[endpoint], timeout=self.timeout)
            self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._socket_endpoint = endpoint
        sock = self._socket
        sock.settimeout(max(0.001, deadline - time.monotonic()))
        sock.sendall(payload)
        while True:
            raw = self._read_frame(sock, deadline)
            ack = parse_ack(raw)
            if ack.control_id in echoes:
                return raw

    def _read_frame(self, sock: socket.socket, deadline: float) -> str:
        while True:
            start = self._buffer.find(mllp.START_BLOCK)
            end = self._buffer.find(mllp.END_BLOCK, start + 1) if start >= 0 else -1
            if end >= 0:
                frame, self._buffer = self._buffer[start + 1 : end], self._buffer[end + 1 :]
                return frame.decode(self.encoding, errors="replace")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no ACK in time")
            sock.settimeout(remaining)
            data = sock.recv(65536)
            if not data:
                raise ConnectionResetError("the engine closed the connection without an ACK")
            self._buffer += data
