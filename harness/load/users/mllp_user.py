"""Personas that speak HL7 v2 over MLLP themselves, and the laboratory system built on it.

Imports Locust (see the package docstring). :class:`MllpUser` owns one
:class:`~mock_services.messaging.sender.MllpSender` (primary and backup engine from the plan's
``mllp_targets``, ``plan.timeout`` per engine): plain blocking sockets, which Locust's gevent
monkey-patching makes cooperative, so hundreds of lab users share a process like HTTP users do.
Every message is reported through Locust's own ``request`` event (``request_type`` "MLLP"),
so it appears in Locust's statistics and, through the recorder, on the timeline like a request:

* ok -- an accept ACK (AA, or CA in enhanced mode) whose MSA-2 is the message's MSH-10;
* failures -- a reject or error ACK (``error`` ``ack-AE``, ``ack-AR``, ``ack-CE``, ``ack-CR``),
  no ACK from either engine (``no-ack``; ``connect`` when both refused the connection);
* record fields -- ``message_id`` (MSH-10, unique in the run), ``ack_code``, ``write_key``
  (the search that finds the result's DiagnosticReport at the EHR, by its MSH-10-derived
  identifier: the ledger's read-back), ``served_by``
  (the engine that answered: ``plan.extra["mllp_names"]`` parallel to ``mllp_targets``, e.g.
  ``["msg-a", "msg-b"]``, else ``host:port``), ``datacenter`` when
  ``plan.extra["mllp_datacenters"]`` gives them.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from locust.env import Environment

from harness.load.users import clinical
from harness.load.users.base import PlainPersona
from mock_services.messaging.fhir_mapping import DEDUP_SYSTEM
from mock_services.messaging.sender import Ack, MllpError, MllpSender

SERVICE = "messaging"


class AckNotAccepted(Exception):
    """The engine answered with an error or reject ACK."""

    def __init__(self, ack: Ack) -> None:
        super().__init__(f"ACK {ack.code}: {ack.text or 'no text'}")
        self.ack = ack


def no_ack_kind(error: MllpError) -> str:
    """``connect`` when every engine refused the connection, else ``no-ack``."""
    if error.errors and all("ConnectionRefusedError" in message for message in error.errors):
        return "connect"
    return "no-ack"


class MllpUser(PlainPersona):
    """A user that sends HL7 v2 messages over MLLP (see the module docstring)."""

    abstract = True

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        targets = self.plan.mllp_targets
        if not targets:
            raise ValueError("an MLLP persona needs plan.mllp_targets")
        self._names = self._engine_names()
        self._datacenters = self._engine_datacenters()
        self.sender = MllpSender(targets[0], targets[1] if len(targets) > 1 else None, timeout=self.plan.timeout)
        run_token = hashlib.sha1(self.plan.run_id.encode()).hexdigest()[:4].upper()
        self._control_prefix = f"L{run_token}-{self.user_id}-"
        self._sent = 0

    def _engine_names(self) -> dict[str, str]:
        names = self.plan.extra.get("mllp_names") or []
        by_endpoint: dict[str, str] = {}
        for endpoint, position in (("primary", 0), ("backup", 1)):
            if position < len(self.plan.mllp_targets):
                host, port = self.plan.mllp_targets[position]
                by_endpoint[endpoint] = str(names[position]) if position < len(names) else f"{host}:{port}"
        return by_endpoint

    def _engine_datacenters(self) -> dict[str, str]:
        datacenters = self.plan.extra.get("mllp_datacenters") or []
        return {endpoint: str(datacenters[position]) for endpoint, position in (("primary", 0), ("backup", 1))
                if position < len(datacenters)}

    def next_control_id(self) -> str:
        """A new MSH-10: ``L<run token>-<user>-<n in base 36>`` (unique in the run, ~15 chars)."""
        self._sent += 1
        return self._control_prefix + _base36(self._sent)

    def on_stop(self) -> None:
        self.sender.close()

    def send_message(self, name: str, message: str, control_id: str) -> Ack | None:
        """Send ``message`` (MSH-10 ``control_id``), report it as one request; the ACK if accepted."""
        context: dict[str, Any] = {**self.context(), "service": SERVICE, "message_id": control_id,
                                   "write_key": f"DiagnosticReport?identifier={DEDUP_SYSTEM}|{control_id}"}
        exception: BaseException | None = None
        ack: Ack | None = None
        start_time = time.time()
        started = time.perf_counter()
        try:
            ack = self.sender.send(message)
        except MllpError as error:
            exception = error
            context["error"] = no_ack_kind(error)
        except Exception as error:  # a bug in the message or the sender: still exactly one report
            exception = error
            context["error"] = "error"
        response_time = (time.perf_counter() - started) * 1000.0
        if ack is not None:
            context["ack_code"] = ack.code
            context["served_by"] = self._names.get(ack.endpoint, ack.endpoint)
            if ack.endpoint in self._datacenters:
                context["datacenter"] = self._datacenters[ack.endpoint]
            if not ack.accepted:
                exception = AckNotAccepted(ack)
                context["error"] = f"ack-{ack.code or 'none'}"
        self.environment.events.request.fire(
            request_type="MLLP",
            name=name,
            response_time=response_time,
            response_length=len(ack.raw) if ack is not None else 0,
            response=None,
            context=context,
            exception=exception,
            start_time=start_time,
            url=None,
        )
        return ack if exception is None else None


def _base36(number: int) -> str:
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    text = ""
    while True:
        number, remainder = divmod(number, 36)
        text = digits[remainder] + text
        if number == 0:
            return text


class LabSystemUser(MllpUser):
    """Laboratory system (task: send_result): an ORU^R01 per result, primary engine first."""

    abstract = True
    persona = "lab_system"

    def send_result(self) -> None:
        index = self.synthetic_index()
        # Without synthetic patients the results are for a per-user MRN the EHR does not know:
        # the engine still stores and acknowledges them (it forwards them with a logical reference).
        mrn = clinical.synthetic_mrn(index) if index is not None else f"LOAD{self.user_id.replace('-', 'U')}"
        control_id = self.next_control_id()
        self.send_message("messaging: ORU^R01", clinical.oru_r01(control_id, mrn, self.rng), control_id)
