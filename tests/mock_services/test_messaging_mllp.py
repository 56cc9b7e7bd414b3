"""MLLP framing rules (pure decoder, no sockets): see mock_services.messaging.mllp."""

from __future__ import annotations

import random
from collections.abc import Sequence

from mock_services.messaging.mllp import (
    Frame,
    FrameDecoder,
    Oversized,
    TooMuchGarbage,
    Truncated,
    frame,
)

MESSAGE = b"MSH|^~\\&|LIS|HOSP|HCHAOS|HOSP|20240803||ADT^A01|MSG1|P|2.5.1\rPID|1||MRN1"


def payloads(events: Sequence[object]) -> list[bytes]:
    return [e.payload for e in events if isinstance(e, Frame)]


def test_frame_wraps_with_start_end_and_carriage_return() -> None:
    assert frame(b"abc") == b"\x0babc\x1c\x0d"


def test_one_frame_in_one_read() -> None:
    assert payloads(FrameDecoder().feed(frame(MESSAGE))) == [MESSAGE]


def test_frame_split_at_every_byte_boundary() -> None:
    data = frame(MESSAGE)
    for cut in range(1, len(data)):
        decoder = FrameDecoder()
        events = decoder.feed(data[:cut]) + decoder.feed(data[cut:])
        assert payloads(events) == [MESSAGE], cut


def test_several_frames_in_one_read_and_random_chunking() -> None:
    messages = [MESSAGE.replace(b"MSG1", f"MSG{i}".encode()) for i in range(20)]
    data = b"".join(frame(m) for m in messages)
    rng = random.Random(7)
    decoder = FrameDecoder()
    events: list[object] = []
    position = 0
    while position < len(data):
        step = rng.randint(1, 90)
        events += decoder.feed(data[position : position + step])
        position += step
    assert payloads(events) == messages


def test_garbage_before_start_block_is_skipped_and_counted() -> None:
    decoder = FrameDecoder()
    events = decoder.feed(b"noise\r\n" + frame(MESSAGE) + b"\n\r" + frame(MESSAGE))
    assert payloads(events) == [MESSAGE, MESSAGE]
    assert decoder.garbage_skipped == len(b"noise")  # whitespace between frames is not garbage


def test_end_block_without_carriage_return_is_accepted() -> None:
    events = FrameDecoder().feed(b"\x0b" + MESSAGE + b"\x1c\x0b" + MESSAGE + b"\x1c")
    assert payloads(events) == [MESSAGE, MESSAGE]


def test_new_start_block_inside_a_frame_truncates_it() -> None:
    events = FrameDecoder().feed(b"\x0bMSH|partial" + frame(MESSAGE))
    assert isinstance(events[0], Truncated) and events[0].payload == b"MSH|partial"
    assert payloads(events) == [MESSAGE]


def test_peer_closing_mid_frame_is_truncated() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(b"\x0b" + MESSAGE[:30]) == []
    assert decoder.in_frame
    truncated = decoder.finish()
    assert isinstance(truncated, Truncated) and truncated.payload == MESSAGE[:30]
    assert decoder.finish() is None


def test_oversized_frame_is_fatal_and_keeps_a_prefix() -> None:
    decoder = FrameDecoder(max_frame=2048)
    events = decoder.feed(b"\x0b" + MESSAGE + b"x" * 1000)
    events += decoder.feed(b"y" * 2000)
    assert len(events) == 1 and isinstance(events[0], Oversized)
    assert events[0].prefix.startswith(MESSAGE)
    assert decoder.feed(frame(MESSAGE)) == []  # dead after a fatal event


def test_too_much_garbage_is_fatal() -> None:
    decoder = FrameDecoder(max_garbage=100)
    assert decoder.feed(b"x" * 100) == []
    events = decoder.feed(b"x")
    assert events == [TooMuchGarbage(101, 100)]


def test_garbage_allowance_resets_after_each_frame() -> None:
    decoder = FrameDecoder(max_garbage=100)
    for _ in range(5):
        assert payloads(decoder.feed(b"x" * 90 + frame(MESSAGE))) == [MESSAGE]
