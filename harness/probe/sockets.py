"""Probers for targets addressed by host and port: HL7 v2 over MLLP, and a bare TCP connect.

* :class:`MllpProber` (``hl7v2-mllp``) -- one ORU^R01 (a lab result: what the messaging engine
  accepts and forwards to the EHR, and what the ledger can read back there) per request, sent
  with :class:`~mock_services.messaging.sender.MllpSender` (MLLP framing, the ACK matched to
  the message by MSA-2): one sender, so one TCP connection, per request in flight, kept open
  between requests in a pool. Operation ``create``. Recorded: ``message_id`` (MSH-10, unique in
  the run), ``write_key`` (``DiagnosticReport?identifier=urn:hchaos:hl7:msh-10|<MSH-10>``: the
  forwarded report, as the load's lab persona records it -- set on every attempt, so the
  ledger also finds messages stored though never acknowledged), ``ack_code`` (MSA-1). Ok on
  AA or CA; ``error`` ``ack-<code>`` on any other ACK (AE, AR, CE, CR), ``connect`` when the
  connection was refused, ``timeout`` when no ACK came within the timeout, ``no-ack`` when the
  engine closed or reset the connection without one. ``status`` is ``None``.
* :class:`TcpProber` (``tcp``) -- connect, then wait :data:`HOLD` seconds for the peer to close
  it, then close. Every target is behind a Toxiproxy link, and Toxiproxy accepts a connection
  *before* it dials the upstream: a dead service shows as a connection closed at once, not as
  a refused one. Operation ``connect``; ok when the connection was established and stayed
  open (or the service spoke first); ``error`` ``closed`` (closed or reset at once: nothing
  behind the proxy), ``connect`` (refused), ``timeout``, or the ``OSError``'s type name.
  A service that is alive but frozen, or a black-holed link, still passes: a connect cannot
  tell them apart (give the service a protocol, e.g. ``http``, to probe it deeper).

Neither knows who answered: ``served_by`` and ``datacenter`` stay ``None`` (an ACK's MSH-3/4
echo the message's receiving application, not the engine instance).
"""

from __future__ import annotations

import hashlib
import queue
import socket
import threading
import time

from harness.probe.prober import Attempt, Prober, ProberSettings
from harness.probe.stats import LiveStats
from harness.timeline import RequestTap, TimelineWriter
from mock_services.messaging.fhir_mapping import DEDUP_SYSTEM
from mock_services.messaging.samples import oru
from mock_services.messaging.sender import MllpError, MllpSender

SENDING_APPLICATION = "HCHAOS-PROBE"
"""MSH-3 of the probe's messages: an engine de-duplicates by (MSH-3, MSH-10), so the probe's
control ids never collide with the load's."""


def mllp_write_key(control_id: str) -> str:
    """The write key of an HL7 result with MSH-10 ``control_id`` (its DiagnosticReport at the EHR)."""
    return f"DiagnosticReport?identifier={DEDUP_SYSTEM}|{control_id}"


def no_ack_kind(error: MllpError) -> str:
    """``connect`` (refused), ``timeout`` (nothing in time), else ``no-ack`` (closed or reset)."""
    if error.errors and all("ConnectionRefusedError" in message for message in error.errors):
        return "connect"
    if error.errors and "TimeoutError" in error.errors[-1]:
        return "timeout"
    return "no-ack"


class MllpProber(Prober):
    """``hl7v2-mllp``: one ORU^R01 per request (see the module docstring)."""

    operation = "create"

    def __init__(self, settings: ProberSettings, timeline: TimelineWriter, stats: LiveStats | None = None,
                 tap: RequestTap | None = None) -> None:
        super().__init__(settings, timeline, stats, tap)
        self._address = settings.target.address
        token = hashlib.sha1(settings.run_id.encode()).hexdigest()[:6].upper()
        # MSH-10 is at most 20 characters (ST): "P" + 6 + "-" leaves 12 hexadecimal digits.
        self._control_prefix = f"P{token}-"
        self._mrn = f"PROBE{token}"
        self._sequence = 0
        self._lock = threading.Lock()
        self._idle: queue.SimpleQueue[MllpSender] = queue.SimpleQueue()
        self._senders: list[MllpSender] = []  # every sender made (at most one per pool thread)

    def next_control_id(self) -> str:
        """A new MSH-10: ``P<run token>-<n in hexadecimal>``."""
        with self._lock:
            self._sequence += 1
            return f"{self._control_prefix}{self._sequence:X}"

    def _attempt(self, operation: str) -> Attempt:
        control_id = self.next_control_id()
        write_key = mllp_write_key(control_id)
        timestamp = time.strftime("%Y%m%d%H%M%S", time.gmtime())
        message = oru(control_id, self._mrn, sending_application=SENDING_APPLICATION, timestamp=timestamp)
        sender = self._take()
        try:
            ack = sender.send(message)
        except MllpError as error:
            return Attempt(ok=False, error=no_ack_kind(error), write_key=write_key, message_id=control_id)
        finally:
            self._idle.put(sender)  # its connection stays open when the exchange went well
        ok = ack.accepted
        return Attempt(ok=ok, error=None if ok else f"ack-{ack.code or 'none'}", write_key=write_key,
                       message_id=control_id, ack_code=ack.code)

    def _take(self) -> MllpSender:
        """An idle sender (its connection possibly still open), or a new one."""
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            sender = MllpSender(self._address, timeout=self.settings.timeout)
            with self._lock:
                self._senders.append(sender)
            return sender

    def _close(self) -> None:
        with self._lock:
            senders, self._senders = self._senders, []
        for sender in senders:
            sender.close()


HOLD = 0.05
"""Seconds a tcp probe's connection must stay open: Toxiproxy closes a client's connection as
soon as its dial of the upstream fails, within a millisecond on loopback."""


class TcpProber(Prober):
    """``tcp``: a connect, held :data:`HOLD` seconds, per request (see the module docstring)."""

    operation = "connect"

    def _attempt(self, operation: str) -> Attempt:
        try:
            connection = socket.create_connection(self.target.address, timeout=self.settings.timeout)
        except ConnectionRefusedError:
            return Attempt(ok=False, error="connect")
        except TimeoutError:
            return Attempt(ok=False, error="timeout")
        except OSError as error:
            return Attempt(ok=False, error=type(error).__name__)
        with connection:
            connection.settimeout(min(HOLD, self.settings.timeout))
            try:
                spoke = connection.recv(1)
            except TimeoutError:
                return Attempt(ok=True)  # still open: somebody is there
            except OSError:
                return Attempt(ok=False, error="closed")  # reset
            return Attempt(ok=True) if spoke else Attempt(ok=False, error="closed")

