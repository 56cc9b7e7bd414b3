"""The MLLP listener: connections, frames, verdicts, storage, ACKs.

One asyncio task per connection reads bytes, feeds them to a :class:`~.mllp.FrameDecoder` and
handles its events in order, so ACKs leave in the order their messages arrived (a sender may
pipeline). For each complete frame (:meth:`Listener.process`):

1. decode (UTF-8, else Latin-1 -- always succeeds) and parse; a frame without a readable MSH
   header gets no answer and the connection is closed (there is nothing to acknowledge); a
   header without a usable MSH-10 is refused with an AR naming it (:mod:`.validation`);
2. validate (:mod:`.validation`) and choose the outcome and the ACK mode (:mod:`.ack`); a
   message to be forwarded is mapped to FHIR dry (:func:`.destination.mapping_problem`): if
   that fails it is a content error (AE/CE, code 207), never an AA nobody can deliver;
3. if accepted: store it and wait for the group commit -- the ACK is never sent before the
   message is durable (a duplicate MSH-10 from the same MSH-3 is found, not stored again, and
   acknowledged AA/CA again); if the store fails, the outcome is AR / CE (code 207);
4. wait ``--ack-delay`` (experiments: a slow engine makes senders time out and resend), then
   write the ACK if the mode asks for one.

Broken input: a frame cut short by a new start block is NAKed (AR, code 100) when its header
is readable and the connection goes on; an oversized frame is NAKed (AR, code 104) when it
can be, then the connection is closed, as it is after too much garbage or ``idle_timeout``
seconds without a byte. An exception while handling a connection closes that connection only
(logged); the listener and the other connections are unaffected, and nothing acknowledged
depends on the failed connection's state (it is all in the store).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

from mock_services.messaging import mllp
from mock_services.messaging.ack import AckPolicy, ControlIds, Outcome, build_ack, outcome_of
from mock_services.messaging.config import Config
from mock_services.messaging.destination import destination_for, mapping_problem
from mock_services.messaging.eventlog import log_event, logger
from mock_services.messaging.hl7v2 import Message, Unreadable, parse
from mock_services.messaging.metrics import Metrics
from mock_services.messaging.store import Incoming, Store, StoreError
from mock_services.messaging.validation import SUPPORTED_TYPES, ErrorCode, Issue, message_type, validate

READ_SIZE = 65536


@dataclass(frozen=True)
class Reply:
    """What to send back for one frame (``ack`` None: nothing) and whether to close afterwards."""

    ack: bytes | None
    close: bool = False


class _Throttle:
    """At most one log line per event kind per ``interval`` seconds, with the count suppressed.

    Garbage arrives in bursts (a fuzzer, a misconfigured sender): one line per frame would
    flood the log that the harness keeps per service.
    """

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def log(self, event: str, **fields: object) -> None:
        now = time.monotonic()
        if now - self._last.get(event, -self.interval) < self.interval:
            self._suppressed[event] = self._suppressed.get(event, 0) + 1
            return
        self._last[event] = now
        suppressed = self._suppressed.pop(event, 0)
        log_event(
            event, level=logging.WARNING, **fields, **({"suppressed_since_last": suppressed} if suppressed else {})
        )


def _decode(payload: bytes) -> tuple[str, str]:
    try:
        return payload.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return payload.decode("latin-1"), "latin-1"


class Listener:
    """The MLLP server of one engine. ``start`` binds (``port`` tells where), ``stop`` closes all."""

    def __init__(self, config: Config, store: Store, metrics: Metrics) -> None:
        self.config = config
        self.store = store
        self.metrics = metrics
        self.control_ids = ControlIds()
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._throttle = _Throttle()
        self._counters: dict[tuple[str, str], Any] = {}

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.config.host, self.config.mllp_port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop accepting, close every connection (an ACK not yet sent is not sent: the sender resends)."""
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._server is not None:
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.metrics.connections.inc()
        self.metrics.connections_open.inc()
        decoder = mllp.FrameDecoder(self.config.max_frame_bytes, self.config.max_garbage_bytes)
        try:
            await self._converse(reader, writer, decoder)
        except (ConnectionError, TimeoutError):
            pass  # the peer went away: nothing to answer
        except Exception as error:  # a bug must cost this connection only, never the listener
            logger.exception("event=connection-error error=%r", str(error))
        finally:
            self.metrics.garbage_bytes.inc(decoder.garbage_skipped)
            self.metrics.connections_open.dec()
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _converse(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, decoder: mllp.FrameDecoder
    ) -> None:
        while True:
            try:
                async with asyncio.timeout(self.config.idle_timeout):
                    data = await reader.read(READ_SIZE)
            except TimeoutError:
                self.metrics.frames_rejected.labels("idle").inc()
                return
            if not data:
                if decoder.finish() is not None:
                    self.metrics.frames_rejected.labels("truncated").inc()
                return
            for event in decoder.feed(data):
                reply = await self._on_event(event)
                if reply.ack is not None:
                    writer.write(reply.ack)
                if reply.close:
                    return  # the caller closes, which flushes what was written
            await writer.drain()

    async def _on_event(self, event: mllp.FrameEvent) -> Reply:
        if isinstance(event, mllp.Frame):
            return await self.process(event.payload)
        if isinstance(event, mllp.Truncated):
            self.metrics.frames_rejected.labels("truncated").inc()
            issue = Issue(ErrorCode.SEGMENT_SEQUENCE_ERROR, "reject", "", 1, None, f"truncated frame: {event.reason}")
            return Reply(self._nak(event.payload, issue, "frame-truncated"))
        if isinstance(event, mllp.Oversized):
            self.metrics.frames_rejected.labels("oversized").inc()
            text = f"frame larger than {event.limit} bytes"
            issue = Issue(ErrorCode.VALUE_TOO_LONG, "reject", "", 1, None, text)
            return Reply(self._nak(event.prefix, issue, "frame-oversized"), close=True)
        self.metrics.frames_rejected.labels("garbage").inc()
        self._throttle.log("too-much-garbage", skipped=event.skipped, limit=event.limit)
        return Reply(None, close=True)

    def _nak(self, payload: bytes, issue: Issue, event: str) -> bytes | None:
        """An AR/CR naming ``issue`` for a broken frame, if its header is readable."""
        text, encoding = _decode(payload)
        try:
            message = parse(text)
        except Unreadable:
            self._throttle.log(event, control_id="(unreadable)", reason=issue.text)
            return None
        self._throttle.log(event, control_id=message.control_id, reason=issue.text)
        policy = AckPolicy.from_header(message.header)
        if not policy.should_send(Outcome.REJECTED):
            return None
        ack = build_ack(message.header, policy.code(Outcome.REJECTED), [issue], self.control_ids.next())
        return mllp.frame(ack.encode(encoding, errors="replace"))

    async def process(self, payload: bytes) -> Reply:
        """Handle one complete frame (see the module docstring)."""
        started = time.perf_counter()
        text, encoding = _decode(payload)
        try:
            message = parse(text)
        except Unreadable as error:
            self.metrics.frames_rejected.labels("unreadable").inc()
            self._throttle.log("frame-unreadable", reason=str(error), head=text[:32])
            return Reply(None, close=True)
        policy = AckPolicy.from_header(message.header)
        issues = validate(message)
        outcome = outcome_of(issues)
        code_and_trigger = message_type(message)
        kind = "^".join(code_and_trigger)
        destination = destination_for(kind, self.config.destination_fhir) if outcome is Outcome.ACCEPTED else ""
        if destination:
            problem = mapping_problem(message)
            if problem is not None:
                self._throttle.log("unmappable", control_id=message.control_id, error=problem)
                reason = f"cannot be forwarded: {problem}"
                issues = [Issue(ErrorCode.APPLICATION_INTERNAL_ERROR, "error", "", 1, None, reason)]
                outcome = Outcome.ERROR
        if outcome is Outcome.ACCEPTED:
            outcome, issues = await self._store(message, kind, policy.code(Outcome.ACCEPTED), text, destination)
        code = policy.code(outcome)
        self._count(kind if code_and_trigger[0] in SUPPORTED_TYPES else "other", code)
        if self.config.ack_delay:
            await asyncio.sleep(self.config.ack_delay)
        if not policy.should_send(outcome):
            return Reply(None)
        ack = build_ack(message.header, code, issues, self.control_ids.next())
        framed = mllp.frame(ack.encode(encoding, errors="replace"))
        self.metrics.ack_latency.observe(time.perf_counter() - started)
        return Reply(framed)

    def _count(self, label: str, code: str) -> None:
        # Children cached: prometheus_client's labels() lookup is a measurable part of the per-message cost.
        child = self._counters.get((label, code))
        if child is None:
            child = self._counters[(label, code)] = self.metrics.messages.labels(label, code)
        child.inc()

    async def _store(
        self, message: Message, kind: str, ack_code: str, text: str, destination: str
    ) -> tuple[Outcome, list[Issue]]:
        incoming = Incoming(
            control_id=message.control_id,
            sender=message.header.field(3),
            message_type=kind,
            raw=text,
            ack_code=ack_code,
            destination=destination,
            received_at=time.time(),
        )
        try:
            result = await self.store.put(incoming)
        except StoreError as error:
            log_event("store-failed", level=logging.ERROR, control_id=incoming.control_id, error=str(error))
            issue = Issue(ErrorCode.APPLICATION_INTERNAL_ERROR, "reject", "", 1, None, f"not stored: {error}")
            return Outcome.FAILED, [issue]
        (self.metrics.duplicates if result.duplicate else self.metrics.stored).inc()
        return Outcome.ACCEPTED, []
