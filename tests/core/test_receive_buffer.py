"""Reading into the core's buffers (``get_buffer``/``buffer_updated``, asyncio's
``BufferedProtocol``) gives exactly what feeding the same bytes to ``receive_data``
gives, however the reads split them: messages, failures and the answers sent.

Large data frames (64 KiB and more, compiled build) are read straight into the
message's payload; the cases below cross that path with fragments, masking, UTF-8
errors in the middle of a frame, limits and frames that follow in the same read.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tether._native import IMPLEMENTATION
from tether.core.events import Event, Message
from tether.core.frames import Opcode, build_frame
from tether.core.protocol import Protocol, Role

MASK = b"\x5a\xa5\x0f\xf0"
BIG = 70_000  # above the size from which a frame is read into its payload


def _frame(role: Role, opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """A frame as the peer of ``role`` sends it."""
    return build_frame(opcode, payload, fin, 0, mask=MASK if role is Role.SERVER else None)


def _new(role: Role, max_size: int | None) -> Protocol:
    p = Protocol(role, max_size=max_size, mask_generator=(lambda: MASK)
                 if role is Role.CLIENT else None)
    return p


def _outcome(p: Protocol) -> tuple[list[Event], list[bytes], object]:
    failure = p.failure or p.pending_failure
    return (p.events_received(), p.data_to_send(),
            None if failure is None else (type(failure).__name__, failure.code))


def _by_receive_data(role: Role, stream: bytes, max_size: int | None) -> tuple[object, ...]:
    p = _new(role, max_size)
    p.receive_data(stream)
    return _outcome(p)


def _by_reads(role: Role, stream: bytes, max_size: int | None,
              reads: list[int]) -> tuple[object, ...]:
    """Deliver ``stream`` as a transport does: each read fills at most the buffer
    handed out, and at most the next size from ``reads`` (cycled)."""
    p = _new(role, max_size)
    scratch = memoryview(bytearray(262144))
    pos, i = 0, 0
    while pos < len(stream):
        view = p.get_buffer(scratch)
        n = min(len(view), reads[i % len(reads)], len(stream) - pos)
        i += 1
        view[:n] = stream[pos : pos + n]
        del view  # the transport drops its view before the next read
        p.buffer_updated(n, scratch)
        pos += n
        if p.failure is not None or p.pending_failure is not None:
            break
    return _outcome(p)


def _payload(size: int, text: bool, seed: int) -> bytes:
    if text:
        unit = "price é ü € 𝄞 ".encode()
        return (unit * (size // len(unit) + 1))[:size].decode("utf-8", "ignore").encode()
    return os.urandom(size) if seed % 2 else bytes(range(256)) * (size // 256) + b"x" * (
        size % 256)


MESSAGES = st.lists(
    st.tuples(st.sampled_from([10, 125, 4000, BIG, 200_000]), st.booleans(),
              st.integers(1, 3)),
    min_size=1, max_size=4)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages=MESSAGES, role=st.sampled_from([Role.SERVER, Role.CLIENT]),
       reads=st.lists(st.integers(1, 300_000), min_size=1, max_size=5))
def test_reads_anywhere_give_what_receive_data_gives(
        messages: list[tuple[int, bool, int]], role: Role, reads: list[int]) -> None:
    stream = b""
    for size, text, parts in messages:
        payload = _payload(size, text, parts)
        cut = [len(payload) * k // parts for k in range(parts + 1)]
        for k in range(parts):
            opcode = (Opcode.TEXT if text else Opcode.BINARY) if k == 0 else Opcode.CONT
            stream += _frame(role, opcode, payload[cut[k] : cut[k + 1]], k == parts - 1)
            if k == 0 and parts > 1:
                stream += _frame(role, Opcode.PING, b"between fragments")
    expected = _by_receive_data(role, stream, None)
    assert _by_reads(role, stream, None, reads) == expected
    got = [e.data for e in expected[0] if isinstance(e, Message)]
    assert len(got) == len(messages)
    for data in got:
        assert type(data) in (str, bytes)


@pytest.mark.parametrize("reads", [[1000], [65536], [262144], [7, 300_000], [100_000, 3]])
@pytest.mark.parametrize("bad_at", [0, 5000, 150_000, 299_990])
def test_invalid_utf8_inside_a_large_frame_fails_as_soon_as_it_arrives(
        reads: list[int], bad_at: int) -> None:
    # RFC 6455 8.1: invalid UTF-8 fails the connection (1007), mid-frame included.
    text = bytearray(b"a" * 300_000)
    text[bad_at] = 0xFF
    stream = _frame(Role.SERVER, Opcode.TEXT, bytes(text))
    events, _, failure = _by_reads(Role.SERVER, stream, None, reads)
    assert failure == ("InvalidUTF8", 1007)
    assert not [e for e in events if isinstance(e, Message)]
    # Failed before the frame was whole: not every byte had to arrive.
    p = _new(Role.SERVER, None)
    scratch = memoryview(bytearray(262144))
    fed = 0
    while p.failure is None and fed < len(stream):
        view = p.get_buffer(scratch)
        n = min(len(view), 1000, len(stream) - fed)
        view[:n] = stream[fed : fed + n]
        del view
        p.buffer_updated(n, scratch)
        fed += n
    assert p.failure is not None and p.failure.code == 1007
    assert fed <= bad_at + 14 + 1000


@pytest.mark.parametrize("reads", [[1000], [262144], [50, 100_000]])
def test_a_large_frame_over_max_size_is_refused_before_its_payload(reads: list[int]) -> None:
    stream = _frame(Role.SERVER, Opcode.BINARY, b"x" * 200_000)
    events, _, failure = _by_reads(Role.SERVER, stream, 100_000, reads)
    assert failure == ("PayloadTooBig", 1009)
    assert not any(isinstance(e, Message) for e in events)


def test_fragments_of_a_large_message_count_against_max_size_together() -> None:
    stream = (_frame(Role.SERVER, Opcode.BINARY, b"a" * 80_000, fin=False)
              + _frame(Role.SERVER, Opcode.CONT, b"b" * 80_000))
    assert _by_reads(Role.SERVER, stream, 150_000, [4096])[2] == ("PayloadTooBig", 1009)
    events = _by_reads(Role.SERVER, stream, 160_000, [4096])[0]
    assert events == [Message(b"a" * 80_000 + b"b" * 80_000)]


def test_a_continuation_without_a_message_is_refused_even_when_large() -> None:
    stream = _frame(Role.SERVER, Opcode.CONT, b"z" * BIG)
    assert _by_reads(Role.SERVER, stream, None, [1000])[2] == ("ProtocolError", 1002)


def test_the_large_message_is_the_bytes_that_arrived_and_frames_after_it_follow() -> None:
    big = os.urandom(BIG * 3)
    stream = (_frame(Role.SERVER, Opcode.BINARY, big) + _frame(Role.SERVER, Opcode.TEXT, b"after")
              + _frame(Role.SERVER, Opcode.CLOSE, b"\x03\xe8"))
    events, out, failure = _by_reads(Role.SERVER, stream, None, [100_000])
    messages = [e.data for e in events if isinstance(e, Message)]
    assert messages == [big, "after"]
    assert type(messages[0]) is bytes
    assert failure is None and out  # the close frame was answered


def test_a_large_frame_is_read_into_its_payload_with_the_compiled_build() -> None:
    p = _new(Role.SERVER, None)
    scratch = memoryview(bytearray(262144))
    stream = _frame(Role.SERVER, Opcode.BINARY, b"q" * 500_000)
    view = p.get_buffer(scratch)
    view[:100_000] = stream[:100_000]
    p.buffer_updated(100_000, scratch)
    second = p.get_buffer(scratch)
    if IMPLEMENTATION == "compiled":
        # The rest of the frame, exactly: the next read goes into the message's bytes.
        assert len(second) == len(stream) - 100_000
        assert second.obj is not scratch.obj
    else:
        # The pure-Python build reads every frame through the scratch buffer.
        assert second.obj is scratch.obj
