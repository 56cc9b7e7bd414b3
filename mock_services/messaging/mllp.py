"""MLLP framing (HL7 v2 Minimal Lower Layer Protocol): ``0x0B <message> 0x1C 0x0D``.

:func:`frame` wraps a message; :class:`FrameDecoder` turns the bytes of one TCP connection,
in whatever pieces they arrive, into events. The decoder is pure (no I/O), so every framing
rule is unit-tested without sockets. Rules:

* Bytes before a start block (0x0B) are garbage and skipped; whitespace between frames (the
  CR after 0x1C, a stray LF) is not counted, anything else is, and more than
  ``max_garbage`` counted bytes since the last frame is fatal (:class:`TooMuchGarbage`):
  the peer is not speaking MLLP.
* A frame ends at the end block 0x1C; the CR that should follow it is optional (several
  real senders omit it) and is skipped as inter-frame whitespace.
* A start block inside a frame means the sender gave up on the frame and started another:
  the partial frame is reported as :class:`Truncated` and the new frame starts.
* A frame longer than ``max_frame`` is fatal (:class:`Oversized`, with the first bytes so
  the engine can still NAK it when its MSH-10 is readable).
* :meth:`FrameDecoder.finish` (peer closed): a frame in progress is :class:`Truncated`.

After a fatal event the decoder ignores further input: the caller closes the connection.
"""

from __future__ import annotations

from dataclasses import dataclass

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c"
CARRIAGE_RETURN = b"\x0d"
_WHITESPACE = b"\r\n \t"
PREFIX_KEPT = 4096  # bytes of an oversized frame kept for reading its MSH-10


def frame(message: bytes) -> bytes:
    """``message`` wrapped in an MLLP block (start block, message, end block, CR)."""
    return START_BLOCK + message + END_BLOCK + CARRIAGE_RETURN


@dataclass(frozen=True)
class Frame:
    """A complete frame's payload (without the block characters)."""

    payload: bytes


@dataclass(frozen=True)
class Truncated:
    """A frame cut short: a new start block arrived, or the peer closed, before its end block."""

    payload: bytes
    reason: str


@dataclass(frozen=True)
class Oversized:
    """Fatal: a frame grew past the limit; ``prefix`` is its first bytes."""

    prefix: bytes
    limit: int


@dataclass(frozen=True)
class TooMuchGarbage:
    """Fatal: more than ``limit`` non-whitespace bytes outside any frame."""

    skipped: int
    limit: int


FrameEvent = Frame | Truncated | Oversized | TooMuchGarbage


class FrameDecoder:
    """Incremental MLLP decoder for one connection (see the module docstring for the rules).

    ``garbage_skipped`` counts every non-whitespace byte skipped outside frames so far.
    """

    def __init__(self, max_frame: int = 1024 * 1024, max_garbage: int = 64 * 1024) -> None:
        self.max_frame = max_frame
        self.max_garbage = max_garbage
        self.garbage_skipped = 0
        self._garbage_since_frame = 0
        self._buffer = bytearray()
        self._in_frame = False
        self._dead = False

    @property
    def in_frame(self) -> bool:
        """Whether a frame has started and not ended (bytes of it are buffered)."""
        return self._in_frame

    def feed(self, data: bytes) -> list[FrameEvent]:
        """Consume ``data``; return the events it completes, in order."""
        events: list[FrameEvent] = []
        position, end = 0, len(data)
        while position < end and not self._dead:
            if not self._in_frame:
                start = data.find(START_BLOCK, position)
                skipped = data[position:] if start < 0 else data[position:start]
                if self._skip(skipped, events):
                    break
                if start < 0:
                    break
                self._in_frame = True
                self._buffer.clear()
                position = start + 1
                continue
            stop = data.find(END_BLOCK, position)
            restart = data.find(START_BLOCK, position, end if stop < 0 else stop)
            if restart >= 0:
                self._buffer += data[position:restart]
                if self._check_size(events):
                    break
                events.append(Truncated(bytes(self._buffer), "a new start block (0x0B) before the end block (0x1C)"))
                self._buffer.clear()
                position = restart + 1
                continue
            self._buffer += data[position:] if stop < 0 else data[position:stop]
            if self._check_size(events):
                break
            if stop < 0:
                break
            events.append(Frame(bytes(self._buffer)))
            self._buffer.clear()
            self._in_frame = False
            self._garbage_since_frame = 0
            position = stop + 1
        return events

    def finish(self) -> Truncated | None:
        """The peer closed: the frame in progress, if any, as :class:`Truncated`."""
        if self._in_frame and not self._dead:
            self._in_frame = False
            payload = bytes(self._buffer)
            self._buffer.clear()
            return Truncated(payload, "connection closed before the end block (0x1C)")
        return None

    def _skip(self, skipped: bytes, events: list[FrameEvent]) -> bool:
        counted = len(skipped.strip(_WHITESPACE)) if skipped else 0
        self.garbage_skipped += counted
        self._garbage_since_frame += counted
        if self._garbage_since_frame > self.max_garbage:
            events.append(TooMuchGarbage(self._garbage_since_frame, self.max_garbage))
            self._dead = True
        return self._dead

    def _check_size(self, events: list[FrameEvent]) -> bool:
        if len(self._buffer) > self.max_frame:
            events.append(Oversized(bytes(self._buffer[:PREFIX_KEPT]), self.max_frame))
            self._buffer.clear()
            self._dead = True
        return self._dead
