"""The protocol state machine after the handshake (RFC 6455 sections 5-8), both roles."""

from __future__ import annotations

import itertools
import struct
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tether._native import parse_frames
from tether.core.events import CloseReceived, Event, FrameReceived, Message, Ping, Pong
from tether.core.frames import Close, Opcode, build_frame, parse_close
from tether.core.protocol import DEFAULT_MAX_SIZE, Protocol, Role, State
from tether.exceptions import UsageError

MASK = b"\x5a\xa5\x0f\xf0"
TEXT, BINARY, CONT = Opcode.TEXT, Opcode.BINARY, Opcode.CONT
CLOSE, PING, PONG = Opcode.CLOSE, Opcode.PING, Opcode.PONG


def server(**kwargs: object) -> Protocol:
    return Protocol(Role.SERVER, **kwargs)  # type: ignore[arg-type]


def client(**kwargs: object) -> Protocol:
    kwargs.setdefault("mask_generator", lambda: MASK)
    return Protocol(Role.CLIENT, **kwargs)  # type: ignore[arg-type]


def frame_to(
    p: Protocol, opcode: int, payload: bytes = b"", fin: bool = True, rsv: int = 0
) -> bytes:
    """A frame as ``p``'s peer would send it (masked when ``p`` is a server)."""
    return build_frame(opcode, payload, fin, rsv, mask=MASK if p.role is Role.SERVER else None)


def feed(p: Protocol, *frames: bytes) -> list[Event]:
    for f in frames:
        p.receive_data(f)
    return p.events_received()


def sent(p: Protocol) -> list[tuple[int, bytes]]:
    """The frames ``p`` queued, parsed back (checking the masking of its role)."""
    data = bytearray(b"".join(p.data_to_send()))
    frames, used = parse_frames(data, p.role is Role.CLIENT, None)
    assert used == len(data)
    return frames


def sent_close(p: Protocol) -> Close:
    frames = sent(p)
    assert frames, "no frame was sent"
    b0, payload = frames[-1]
    assert b0 == 0x88, f"last frame sent is not a close frame: {frames}"
    return parse_close(payload)


def assert_failed(p: Protocol, code: int) -> None:
    """``p`` failed the connection with ``code`` and sent a close frame saying so."""
    assert p.failure is not None, "the connection did not fail"
    assert p.failure.code == code, p.failure
    assert sent_close(p).code == code
    assert p.close_sent is not None and p.close_sent.code == code
    assert p.close_expected()  # the engine closes the transport at once
    assert p.state is not State.OPEN


both_roles = pytest.mark.parametrize("make", [server, client], ids=["server", "client"])


# ------------------------------------------------------------------ receiving data


@both_roles
def test_text_and_binary_messages(make: type[Protocol]) -> None:
    p = make()
    events = feed(
        p,
        frame_to(p, TEXT, "h\xe9llo \U0001f600".encode()),
        frame_to(p, BINARY, b"\x00\xff"),
        frame_to(p, TEXT),
        frame_to(p, BINARY),
    )
    assert events == [
        Message("h\xe9llo \U0001f600"),
        Message(b"\x00\xff"),
        Message(""),
        Message(b""),
    ]
    assert p.state is State.OPEN
    assert sent(p) == []


@both_roles
def test_lengths_7_16_64_bits(make: type[Protocol]) -> None:
    p = make(max_size=None)
    for size in (125, 126, 65535, 65536, 1 << 20):
        payload = bytes([size & 0xFF]) * size
        assert feed(p, frame_to(p, BINARY, payload)) == [Message(payload)]


@both_roles
def test_fragmented_messages(make: type[Protocol]) -> None:
    p = make()
    events = feed(
        p,
        frame_to(p, TEXT, b"one ", fin=False),
        frame_to(p, CONT, b"", fin=False),
        frame_to(p, PING, b"in between"),  # control frames may interleave
        frame_to(p, CONT, b"two", fin=True),
        frame_to(p, BINARY, b"\x01", fin=False),
        frame_to(p, CONT, b"\x02", fin=True),
    )
    assert events == [Ping(b"in between"), Message("one two"), Message(b"\x01\x02")]


@both_roles
def test_ping_gets_a_pong_with_the_same_payload(make: type[Protocol]) -> None:
    p = make()
    assert feed(p, frame_to(p, PING, b"abc")) == [Ping(b"abc")]
    assert sent(p) == [(0x8A, b"abc")]
    assert feed(p, frame_to(p, PING)) == [Ping(b"")]
    assert sent(p) == [(0x8A, b"")]
    assert feed(p, frame_to(p, PING, b"x" * 125)) == [Ping(b"x" * 125)]
    assert sent(p) == [(0x8A, b"x" * 125)]


@both_roles
def test_held_pongs_keep_only_the_latest(make: type[Protocol]) -> None:
    p = make()
    p.hold_pongs = True  # the engine's write buffer is full
    events = feed(p, *(frame_to(p, PING, b"%d" % i) for i in range(1000)))
    assert len(events) == 1000
    assert sent(p) == []
    p.release_pongs()
    assert sent(p) == [(0x8A, b"999")]
    assert feed(p, frame_to(p, PING, b"now")) == [Ping(b"now")]
    assert sent(p) == [(0x8A, b"now")]
    p.release_pongs()  # nothing held: nothing sent
    assert sent(p) == []


@both_roles
def test_held_pong_is_dropped_once_closing(make: type[Protocol]) -> None:
    p = make()
    p.hold_pongs = True
    feed(p, frame_to(p, PING, b"x"))
    p.send_close()
    p.release_pongs()
    assert [b0 for b0, _ in sent(p)] == [0x88]


@both_roles
def test_pong_is_an_event(make: type[Protocol]) -> None:
    p = make()
    assert feed(p, frame_to(p, PONG, b"unsolicited")) == [Pong(b"unsolicited")]
    assert sent(p) == []


def test_server_sends_unmasked_and_client_sends_masked_frames() -> None:
    s, c = server(), client()
    s.send_message("hi")
    c.send_message("hi")
    assert b"".join(s.data_to_send()) == b"\x81\x02hi"
    assert b"".join(c.data_to_send()) == build_frame(TEXT, b"hi", mask=MASK)


def test_client_masks_with_fresh_keys_by_default() -> None:
    c = Protocol(Role.CLIENT)
    for _ in range(3):
        c.send_message(b"")
    keys = {f[2:6] for f in c.data_to_send()}
    assert len(keys) == 3


# ------------------------------------------------------------------ framing errors


def test_unmasked_client_frame_is_1002() -> None:
    p = server()
    feed(p, build_frame(TEXT, b"hi"))
    assert_failed(p, 1002)


def test_masked_server_frame_is_1002() -> None:
    p = client()
    feed(p, build_frame(TEXT, b"hi", mask=MASK))
    assert_failed(p, 1002)


@both_roles
def test_64_bit_length_with_top_bit_set_is_1002(make: type[Protocol]) -> None:
    p = make(max_size=None)
    mbit = 0x80 if p.role is Role.SERVER else 0
    feed(p, bytes([0x82, mbit | 127]) + struct.pack("!Q", 1 << 63) + (MASK if mbit else b""))
    assert_failed(p, 1002)


@both_roles
@pytest.mark.parametrize("rsv", [0x40, 0x20, 0x10, 0x70])
def test_rsv_bits_without_extension_are_1002(make: type[Protocol], rsv: int) -> None:
    p = make()
    feed(p, frame_to(p, TEXT, b"x", rsv=rsv))
    assert_failed(p, 1002)


@both_roles
def test_rsv_bits_on_control_frame_are_1002(make: type[Protocol]) -> None:
    p = make()
    feed(p, frame_to(p, PING, b"x", rsv=0x40))
    assert_failed(p, 1002)


@both_roles
@pytest.mark.parametrize("opcode", [CLOSE, PING, PONG])
def test_control_frame_over_125_bytes_is_1002(make: type[Protocol], opcode: int) -> None:
    p = make()
    feed(p, frame_to(p, opcode, b"\x03\xe8" + b"x" * 124))
    assert_failed(p, 1002)


@both_roles
def test_control_frame_over_125_bytes_fails_on_its_header(make: type[Protocol]) -> None:
    p = make()
    feed(p, frame_to(p, PING, b"x" * 126)[:8])
    assert_failed(p, 1002)


@both_roles
@pytest.mark.parametrize("opcode", [CLOSE, PING, PONG])
def test_fragmented_control_frame_is_1002(make: type[Protocol], opcode: int) -> None:
    p = make()
    feed(p, frame_to(p, opcode, b"", fin=False))
    assert_failed(p, 1002)


@both_roles
@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF])
def test_unknown_opcode_is_1002(make: type[Protocol], opcode: int) -> None:
    p = make()
    feed(p, frame_to(p, opcode, b""))
    assert_failed(p, 1002)


@both_roles
def test_continuation_without_start_is_1002(make: type[Protocol]) -> None:
    p = make()
    feed(p, frame_to(p, CONT, b"x"))
    assert_failed(p, 1002)


@both_roles
def test_continuation_after_finished_message_is_1002(make: type[Protocol]) -> None:
    p = make()
    assert feed(p, frame_to(p, TEXT, b"a", fin=False), frame_to(p, CONT, b"b")) == [Message("ab")]
    feed(p, frame_to(p, CONT, b"c"))
    assert_failed(p, 1002)


@both_roles
@pytest.mark.parametrize("second", [TEXT, BINARY])
def test_new_message_during_fragmented_one_is_1002(make: type[Protocol], second: int) -> None:
    p = make()
    feed(p, frame_to(p, TEXT, b"a", fin=False), frame_to(p, second, b"b"))
    assert_failed(p, 1002)


@both_roles
def test_no_input_is_processed_after_a_failure(make: type[Protocol]) -> None:
    p = make()
    feed(p, frame_to(p, 3))
    assert_failed(p, 1002)
    assert feed(p, frame_to(p, TEXT, b"ignored"), frame_to(p, PING)) == []
    assert sent(p) == []


def wrong_mask(p: Protocol) -> bytes:
    return build_frame(TEXT, b"x", mask=None if p.role is Role.SERVER else MASK)


@both_roles
@pytest.mark.parametrize(
    "bad,code",
    [
        (lambda p: frame_to(p, 3), 1002),
        (wrong_mask, 1002),
        (lambda p: frame_to(p, PING, bytes(126)), 1002),
        (lambda p: frame_to(p, BINARY, bytes(2000)), 1009),
        (lambda p: frame_to(p, TEXT, b"\xff"), 1007),
    ],
    ids=["opcode", "mask", "control-size", "max-size", "utf-8"],
)
def test_messages_before_an_error_in_the_same_read_are_delivered(
    make: type[Protocol], bad: Callable[[Protocol], bytes], code: int
) -> None:
    # Whether TCP delivers them in one read or several must not change what arrives.
    p = make(max_size=1000)
    p.receive_data(frame_to(p, TEXT, b"first") + frame_to(p, PING, b"p") + bad(p))
    assert p.events_received() == [Message("first"), Ping(b"p")]
    frames = sent(p)
    assert frames[0] == (0x8A, b"p")
    assert frames[-1][0] == 0x88 and parse_close(frames[-1][1]).code == code
    assert p.failure is not None and p.failure.code == code


# ------------------------------------------------------------------ closing


@both_roles
@pytest.mark.parametrize(
    "code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999]
)
def test_valid_close_code_is_echoed(make: type[Protocol], code: int) -> None:
    p = make()
    events = feed(p, frame_to(p, CLOSE, struct.pack("!H", code) + b"reason"))
    assert events == [CloseReceived(code, "reason")]
    assert sent_close(p) == Close(code, "reason")
    assert p.state is State.CLOSED
    assert p.close_rcvd == Close(code, "reason")
    assert p.close_rcvd_then_sent is True
    assert p.failure is None


@both_roles
@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535])
def test_invalid_close_code_is_1002(make: type[Protocol], code: int) -> None:
    p = make()
    feed(p, frame_to(p, CLOSE, struct.pack("!H", code)))
    assert_failed(p, 1002)


@both_roles
def test_empty_close_is_echoed_empty(make: type[Protocol]) -> None:
    p = make()
    assert feed(p, frame_to(p, CLOSE)) == [CloseReceived(1005, "")]
    assert sent(p) == [(0x88, b"")]
    assert p.state is State.CLOSED


@both_roles
def test_one_byte_close_payload_is_1002(make: type[Protocol]) -> None:
    p = make()
    feed(p, frame_to(p, CLOSE, b"\x03"))
    assert_failed(p, 1002)


@both_roles
def test_invalid_utf8_close_reason_is_1007(make: type[Protocol]) -> None:
    p = make()
    feed(p, frame_to(p, CLOSE, b"\x03\xe8\xff\xfe"))
    assert_failed(p, 1007)


def test_server_closes_tcp_after_close_handshake_client_waits() -> None:
    s, c = server(), client()
    feed(s, frame_to(s, CLOSE, b"\x03\xe8"))
    feed(c, frame_to(c, CLOSE, b"\x03\xe8"))
    assert s.state is State.CLOSED and c.state is State.CLOSED
    assert s.close_expected()
    assert not c.close_expected()  # the client lets the server close TCP first


@both_roles
def test_we_close_then_peer_answers(make: type[Protocol]) -> None:
    p = make()
    p.send_close(1001, "bye")
    assert p.state is State.CLOSING
    assert sent_close(p) == Close(1001, "bye")
    assert p.close_rcvd_then_sent is False
    assert feed(p, frame_to(p, CLOSE, b"\x03\xe9")) == [CloseReceived(1001, "")]
    assert p.state is State.CLOSED
    assert sent(p) == []  # no second close frame
    assert p.close_expected() is (p.role is Role.SERVER)


@both_roles
def test_frames_after_our_close_are_read_but_not_delivered(make: type[Protocol]) -> None:
    p = make()
    p.send_close()
    p.data_to_send()
    events = feed(
        p,
        frame_to(p, TEXT, b"late"),
        frame_to(p, BINARY, b"a", fin=False),
        frame_to(p, CONT, b"b"),
        frame_to(p, PING, b"x"),
        frame_to(p, CLOSE),
    )
    assert events == [Ping(b"x"), CloseReceived(1005, "")]
    assert sent(p) == []  # no pong once closing
    assert p.state is State.CLOSED


@both_roles
def test_data_after_close_is_ignored(make: type[Protocol]) -> None:
    p = make()
    events = feed(
        p,
        frame_to(p, CLOSE, b"\x03\xe8") + frame_to(p, TEXT, b"after"),
        frame_to(p, PING),
        b"\xff\xff garbage",
    )
    assert events == [CloseReceived(1000, "")]
    assert sent_close(p).code == 1000
    assert p.failure is None


@both_roles
def test_receive_eof(make: type[Protocol]) -> None:
    p = make()
    p.receive_eof()
    assert p.state is State.CLOSED
    assert p.eof_received
    assert feed(p, frame_to(p, TEXT, b"x")) == []


# ------------------------------------------------------------------ size limits


@both_roles
def test_declared_length_over_max_size_fails_before_payload(make: type[Protocol]) -> None:
    p = make(max_size=1000)
    header = frame_to(p, BINARY, bytes(1001))[: 4 + (4 if p.role is Role.SERVER else 0)]
    feed(p, header)  # only the header: the 1001 bytes never arrive
    assert_failed(p, 1009)


@both_roles
def test_huge_declared_length_fails_at_once(make: type[Protocol]) -> None:
    p = make()
    mbit = 0x80 if p.role is Role.SERVER else 0
    feed(p, bytes([0x82, mbit | 127]) + struct.pack("!Q", 1 << 62) + (MASK if mbit else b""))
    assert_failed(p, 1009)
    assert len(p._buf) == 0


@both_roles
def test_message_at_max_size_is_accepted(make: type[Protocol]) -> None:
    p = make(max_size=1000)
    assert feed(p, frame_to(p, BINARY, bytes(1000))) == [Message(bytes(1000))]
    assert feed(p, frame_to(p, TEXT, b"a" * 500, fin=False), frame_to(p, CONT, b"b" * 500)) == [
        Message("a" * 500 + "b" * 500)
    ]


@both_roles
def test_fragmented_message_over_max_size_is_1009(make: type[Protocol]) -> None:
    p = make(max_size=1000)
    feed(p, frame_to(p, BINARY, bytes(600), fin=False))
    assert p.failure is None
    feed(p, frame_to(p, CONT, bytes(401))[:6])  # the continuation's header is enough
    assert_failed(p, 1009)


@both_roles
def test_fragmented_message_over_max_size_in_one_read_is_1009(make: type[Protocol]) -> None:
    p = make(max_size=1000)
    feed(p, frame_to(p, TEXT, b"a" * 600, fin=False) + frame_to(p, CONT, b"b" * 401))
    assert_failed(p, 1009)


@both_roles
def test_small_fragments_over_max_size_are_1009(make: type[Protocol]) -> None:
    p = make(max_size=100)
    feed(p, frame_to(p, BINARY, bytes(60), fin=False))
    feed(p, frame_to(p, CONT, bytes(60), fin=False))  # under 125, but the message is over
    assert_failed(p, 1009)


@both_roles
def test_control_frames_arrive_when_the_message_is_nearly_full(make: type[Protocol]) -> None:
    p = make(max_size=100)
    events = feed(
        p,
        frame_to(p, BINARY, bytes(100), fin=False),
        frame_to(p, PING, b"x" * 125),
        frame_to(p, CONT, b""),
    )
    assert events == [Ping(b"x" * 125), Message(bytes(100))]


@both_roles
def test_max_size_none_is_unlimited(make: type[Protocol]) -> None:
    p = make(max_size=None)
    big = bytes(DEFAULT_MAX_SIZE + 1)
    assert feed(p, frame_to(p, BINARY, big)) == [Message(big)]


@both_roles
def test_max_frame_size(make: type[Protocol]) -> None:
    p = make(max_frame_size=10)
    assert feed(p, frame_to(p, BINARY, bytes(10), fin=False)) == []
    feed(p, frame_to(p, CONT, bytes(11)))
    assert_failed(p, 1009)


@both_roles
def test_many_empty_continuations_hold_nothing(make: type[Protocol]) -> None:
    for opcode in (TEXT, BINARY):
        p = make()
        feed(p, frame_to(p, opcode, b"a", fin=False))
        empty = frame_to(p, CONT, b"", fin=False)
        for _ in range(20):
            feed(p, empty * 500)
        assert len(p._msg_chunks) + len(p._msg_text) <= 1
        events = feed(p, frame_to(p, CONT, b"b"))
        assert events == [Message("ab" if opcode == TEXT else b"ab")]


# ------------------------------------------------------------------ UTF-8


@both_roles
@pytest.mark.parametrize(
    "payload",
    [
        b"\xff",
        b"\xc0\xaf",
        b"\xed\xa0\x80",
        b"\xf4\x90\x80\x80",
        b"caf\xc3",
        b"\x80",
        b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited",
    ],
)
def test_invalid_utf8_text_is_1007(make: type[Protocol], payload: bytes) -> None:
    p = make()
    feed(p, frame_to(p, TEXT, payload))
    assert_failed(p, 1007)


@both_roles
def test_invalid_utf8_fails_before_the_frame_is_complete(make: type[Protocol]) -> None:
    p = make()
    data = frame_to(p, TEXT, b"valid start \xff" + b"x" * 1000)
    feed(p, data[: len(data) // 2])  # the second half hasn't arrived
    assert_failed(p, 1007)


@both_roles
def test_invalid_utf8_in_later_frame_fails_before_it_is_complete(make: type[Protocol]) -> None:
    p = make()
    feed(p, frame_to(p, TEXT, b"caf\xc3\xa9 ", fin=False))
    data = frame_to(p, CONT, b"ok \xe2\x82\xac then \xc3\x28" + b"x" * 1000)
    feed(p, data[:40])
    assert_failed(p, 1007)


@both_roles
def test_invalid_utf8_spanning_frames_fails_fast(make: type[Protocol]) -> None:
    p = make()
    feed(p, frame_to(p, TEXT, b"abc\xe2\x82", fin=False))  # a valid but unfinished sequence
    assert p.failure is None
    data = frame_to(p, CONT, b"\x28" + b"x" * 1000)  # the continuation byte is wrong
    feed(p, data[:20])
    assert_failed(p, 1007)


@both_roles
def test_truncated_utf8_at_end_of_message_is_1007(make: type[Protocol]) -> None:
    p = make()
    feed(p, frame_to(p, TEXT, b"abc\xe2\x82", fin=False), frame_to(p, CONT, b""))
    assert_failed(p, 1007)


@both_roles
def test_codepoints_split_across_frames_are_fine(make: type[Protocol]) -> None:
    text = "\u20ac\U0001f600\xe9"
    data = text.encode()
    for cut in range(1, len(data)):
        p = make()
        events = feed(p, frame_to(p, TEXT, data[:cut], fin=False), frame_to(p, CONT, data[cut:]))
        assert events == [Message(text)], cut
        assert p.failure is None


@both_roles
def test_codepoints_split_across_reads_are_fine(make: type[Protocol]) -> None:
    text = "\u20ac\U0001f600\xe9 and more \u20ac" * 10
    p = make()
    data = frame_to(p, TEXT, text.encode())
    for i in range(len(data)):
        p.receive_data(data[i : i + 1])
        assert p.failure is None, i
    assert p.events_received() == [Message(text)]


@both_roles
def test_invalid_utf8_in_binary_is_fine(make: type[Protocol]) -> None:
    p = make()
    assert feed(p, frame_to(p, BINARY, b"\xff\xfe")) == [Message(b"\xff\xfe")]


# ------------------------------------------------------------------ sending


@both_roles
def test_send_messages(make: type[Protocol]) -> None:
    p = make()
    p.send_message("t\xe9xt")
    p.send_message(b"bin")
    p.send_message(bytearray(b"ba"))
    p.send_message(memoryview(b"mv"))
    assert sent(p) == [(0x81, "t\xe9xt".encode()), (0x82, b"bin"), (0x82, b"ba"), (0x82, b"mv")]


@both_roles
def test_send_fragmented(make: type[Protocol]) -> None:
    p = make()
    p.send_message("a", fin=False)
    with pytest.raises(UsageError):
        p.send_message("b")
    with pytest.raises(TypeError):
        p.send_continuation(b"b", fin=False)
    p.send_continuation("b", fin=False)
    p.send_ping(b"p")
    p.send_continuation("c", fin=True)
    assert sent(p) == [(0x01, b"a"), (0x00, b"b"), (0x89, b"p"), (0x80, b"c")]
    with pytest.raises(UsageError):
        p.send_continuation("d", fin=True)


@both_roles
def test_outgoing_frame_size_splits_messages(make: type[Protocol]) -> None:
    p = make(outgoing_frame_size=4)
    p.send_message(b"0123456789")
    p.send_message("abcd")
    assert sent(p) == [(0x02, b"0123"), (0x00, b"4567"), (0x80, b"89"), (0x81, b"abcd")]


@both_roles
def test_send_type_errors(make: type[Protocol]) -> None:
    p = make()
    with pytest.raises(TypeError):
        p.send_message(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        p.send_ping(b"x" * 126)
    with pytest.raises(ValueError):
        p.send_pong(b"x" * 126)


@both_roles
@pytest.mark.parametrize("code", [999, 1004, 1006, 1015, 2000, 5000])
def test_send_close_refuses_invalid_codes(make: type[Protocol], code: int) -> None:
    p = make()
    with pytest.raises(ValueError):
        p.send_close(code)
    assert p.state is State.OPEN


@both_roles
def test_send_close_limits(make: type[Protocol]) -> None:
    p = make()
    with pytest.raises(ValueError):
        p.send_close(1000, "x" * 124)
    with pytest.raises(ValueError):
        p.send_close(1005, "reason without code")
    p.send_close(1000, "\xe9" * 61)  # 122 bytes of UTF-8
    assert sent_close(p) == Close(1000, "\xe9" * 61)


@both_roles
def test_send_close_without_code(make: type[Protocol]) -> None:
    p = make()
    p.send_close(1005)
    assert sent(p) == [(0x88, b"")]


@both_roles
def test_sending_after_close_is_a_usage_error(make: type[Protocol]) -> None:
    p = make()
    p.send_close()
    for call in (lambda: p.send_message("x"), lambda: p.send_ping(), lambda: p.send_pong()):
        with pytest.raises(UsageError):
            call()
    p.send_close()  # a second close is a no-op
    assert len(sent(p)) == 1


@both_roles
def test_fail_truncates_long_reasons(make: type[Protocol]) -> None:
    p = make()
    p.fail(1011, "\u20ac" * 100)
    close = sent_close(p)
    assert close.code == 1011
    assert len(close.reason.encode()) <= 123


# ------------------------------------------------------------------ engine hooks


@both_roles
def test_on_message_callback(make: type[Protocol]) -> None:
    p = make()
    got: list[str | bytes] = []
    p.on_message = got.append
    events = feed(
        p,
        frame_to(p, TEXT, b"a"),
        frame_to(p, PING),
        frame_to(p, BINARY, b"b", fin=False),
        frame_to(p, CONT, b"c"),
    )
    assert got == ["a", b"bc"]
    assert events == [Ping(b"")]


@both_roles
def test_frame_events(make: type[Protocol]) -> None:
    p = make(frame_events=True)
    events = feed(p, frame_to(p, TEXT, b"\xe2\x82", fin=False), frame_to(p, CONT, b"\xac!"))
    assert events == [FrameReceived("", False), FrameReceived("\u20ac!", True), Message("\u20ac!")]


# ------------------------------------------------------------------ split anywhere


@st.composite
def frame_streams(draw: st.DrawFn, to_server: bool) -> bytes:
    """A stream of frames as a peer sends them, sometimes ending in something bad."""
    mask = MASK if to_server else None

    def frame(opcode: int, payload: bytes, fin: bool = True, rsv: int = 0) -> bytes:
        return build_frame(opcode, payload, fin, rsv, mask=mask)

    out = []
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["text", "binary", "ping", "pong"]))
        if kind in ("ping", "pong"):
            out.append(frame(PING if kind == "ping" else PONG, draw(st.binary(max_size=125))))
            continue
        if kind == "text":
            data = draw(st.text(max_size=300)).encode()
        else:
            data = draw(st.binary(max_size=300))
        cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=3)))
        pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
        for i, piece in enumerate(pieces):
            opcode = (TEXT if kind == "text" else BINARY) if i == 0 else CONT
            out.append(frame(opcode, piece, fin=i == len(pieces) - 1))
            if draw(st.booleans()) and i < len(pieces) - 1:
                out.append(frame(PING, b"mid"))
    ending = draw(
        st.sampled_from(
            [
                None,
                "close",
                "bad-close",
                "bad-utf8",
                "bad-utf8-fragment",
                "rsv",
                "opcode",
                "cont",
                "mask",
                "too-big",
                "control-too-big",
                "close-then-data",
            ]
        )
    )
    if ending == "close":
        out.append(frame(CLOSE, b"\x03\xe8bye"))
    elif ending == "bad-close":
        out.append(frame(CLOSE, b"\x03\xed"))
    elif ending == "bad-utf8":
        out.append(frame(TEXT, b"valid then \xff then more text"))
    elif ending == "bad-utf8-fragment":
        out.append(frame(TEXT, b"abc", fin=False))
        out.append(frame(CONT, b"\xc3\x28 and more"))
    elif ending == "rsv":
        out.append(frame(TEXT, b"\xff bad utf-8 and rsv2", rsv=0x20))
    elif ending == "opcode":
        out.append(frame(5, b"x"))
    elif ending == "cont":
        out.append(frame(CONT, b"x"))
    elif ending == "mask":
        out.append(build_frame(TEXT, b"wrong masking", mask=None if to_server else MASK))
    elif ending == "too-big":
        out.append(frame(BINARY, bytes(600)))
    elif ending == "control-too-big":
        out.append(frame(PING, bytes(200)))
    elif ending == "close-then-data":
        out.append(frame(CLOSE, b""))
        out.append(frame(TEXT, b"after close \xff"))
        out.append(build_frame(TEXT, b"wrong masking", mask=None if to_server else MASK))
    return b"".join(out)


def outcome(p: Protocol) -> tuple[object, ...]:
    return (
        p.events_received(),
        b"".join(p.data_to_send()),
        p.state,
        None if p.failure is None else p.failure.code,
        p.close_sent,
        p.close_rcvd,
    )


def check_split_invariance(role: Role, data: bytes, cuts: list[int]) -> None:
    def make() -> Protocol:
        return Protocol(role, max_size=500, mask_generator=lambda: MASK)

    whole = make()
    whole.receive_data(data)
    split = make()
    bounds = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    events: list[Event] = []
    out: list[bytes] = []
    for a, b in itertools.pairwise(bounds):
        split.receive_data(data[a:b])
        events += split.events_received()
        out += split.data_to_send()
    expected = outcome(whole)
    got = (events, b"".join(out), *outcome(split)[2:])
    assert got == expected


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_split_anywhere_gives_the_same_result_server(data: st.DataObject) -> None:
    stream = data.draw(frame_streams(to_server=True))
    cuts = data.draw(st.lists(st.integers(0, 10_000), max_size=12))
    check_split_invariance(Role.SERVER, stream, cuts)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_split_anywhere_gives_the_same_result_client(data: st.DataObject) -> None:
    stream = data.draw(frame_streams(to_server=False))
    cuts = data.draw(st.lists(st.integers(0, 10_000), max_size=12))
    check_split_invariance(Role.CLIENT, stream, cuts)


@both_roles
def test_one_byte_at_a_time_gives_the_same_result(make: type[Protocol]) -> None:
    role = make().role
    mask = MASK if role is Role.SERVER else None
    stream = b"".join(
        [
            build_frame(TEXT, "h\xe9llo \U0001f600".encode(), mask=mask),
            build_frame(BINARY, bytes(300), fin=False, mask=mask),
            build_frame(PING, b"ping", mask=mask),
            build_frame(CONT, b"\x01" * 70, mask=mask),
            build_frame(CLOSE, b"\x03\xe8", mask=mask),
        ]
    )
    check_split_invariance(role, stream, list(range(len(stream))))
