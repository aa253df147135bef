"""Frames on the wire: building, close payloads, close codes."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tether._native import apply_mask, parse_frames
from tether.core.frames import (
    Close,
    Opcode,
    build_frame,
    is_valid_close_code,
    parse_close,
    serialize_close,
)
from tether.exceptions import InvalidUTF8, ProtocolError

MASK = b"\x37\xfa\x21\x3d"


@pytest.mark.parametrize(
    "opcode,payload,fin,rsv,expected",
    [
        # RFC 6455 section 5.7 examples (unmasked).
        (Opcode.TEXT, b"Hello", True, 0, b"\x81\x05Hello"),
        (Opcode.TEXT, b"Hel", False, 0, b"\x01\x03Hel"),
        (Opcode.CONT, b"lo", True, 0, b"\x80\x02lo"),
        (Opcode.PING, b"Hello", True, 0, b"\x89\x05Hello"),
        (Opcode.PONG, b"Hello", True, 0, b"\x8a\x05Hello"),
        (Opcode.BINARY, b"", True, 0, b"\x82\x00"),
        (Opcode.CLOSE, b"\x03\xe8", True, 0, b"\x88\x02\x03\xe8"),
        (Opcode.TEXT, b"x", True, 0x40, b"\xc1\x01x"),
    ],
)
def test_build_frame_unmasked(
    opcode: int, payload: bytes, fin: bool, rsv: int, expected: bytes
) -> None:
    assert build_frame(opcode, payload, fin, rsv) == expected


def test_build_frame_masked_rfc_example() -> None:
    # RFC 6455 section 5.7: "A single-frame masked text message".
    assert (
        build_frame(Opcode.TEXT, b"Hello", mask=MASK)
        == b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"
    )


@pytest.mark.parametrize(
    "size,header",
    [
        (0, b"\x82\x00"),
        (125, b"\x82\x7d"),
        (126, b"\x82\x7e\x00\x7e"),
        (65535, b"\x82\x7e\xff\xff"),
        (65536, b"\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00"),
        (300_000, b"\x82\x7f" + struct.pack("!Q", 300_000)),
    ],
)
def test_length_encodings(size: int, header: bytes) -> None:
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    frame = build_frame(Opcode.BINARY, payload)
    assert frame[: len(header)] == header
    assert len(frame) == len(header) + size
    frames, used = parse_frames(bytearray(frame), False, None)
    assert used == len(frame)
    assert frames == [(0x82, payload)]
    # Masked, with the mask bit and key after the length.
    masked = build_frame(Opcode.BINARY, payload, mask=MASK)
    assert masked[1] == header[1] | 0x80
    assert masked[len(header) : len(header) + 4] == MASK
    frames, _ = parse_frames(bytearray(masked), True, None)
    assert frames == [(0x82, payload)]


@given(st.binary(max_size=300), st.binary(min_size=4, max_size=4))
def test_mask_is_an_involution(data: bytes, mask: bytes) -> None:
    masked = apply_mask(data, mask)
    assert len(masked) == len(data)
    assert apply_mask(masked, mask) == data
    assert masked == bytes(b ^ mask[i % 4] for i, b in enumerate(data))


@pytest.mark.parametrize(
    "code",
    [
        1000,
        1001,
        1002,
        1003,
        1007,
        1008,
        1009,
        1010,
        1011,
        1012,
        1013,
        1014,
        3000,
        3999,
        4000,
        4999,
    ],
)
def test_valid_close_codes(code: int) -> None:
    assert is_valid_close_code(code)


@pytest.mark.parametrize(
    "code", [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]
)
def test_invalid_close_codes(code: int) -> None:
    assert not is_valid_close_code(code)


def test_parse_close() -> None:
    assert parse_close(b"") == Close(1005, "")
    assert parse_close(b"\x03\xe8") == Close(1000, "")
    assert parse_close(b"\x03\xe9bye") == Close(1001, "bye")
    assert parse_close(b"\x0f\xa0" + "caf\xe9".encode()) == Close(4000, "caf\xe9")


def test_parse_close_one_byte_is_1002() -> None:
    with pytest.raises(ProtocolError) as info:
        parse_close(b"\x03")
    assert info.value.code == 1002


@pytest.mark.parametrize("code", [999, 1004, 1005, 1006, 1015, 2999, 5000])
def test_parse_close_invalid_code_is_1002(code: int) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_close(struct.pack("!H", code))
    assert info.value.code == 1002


def test_parse_close_invalid_utf8_reason_is_1007() -> None:
    with pytest.raises(InvalidUTF8) as info:
        parse_close(b"\x03\xe8\xff")
    assert info.value.code == 1007
    with pytest.raises(InvalidUTF8):
        parse_close(b"\x03\xe8caf\xc3")  # truncated sequence


def test_serialize_close() -> None:
    assert serialize_close(1000, "") == b"\x03\xe8"
    assert serialize_close(4999, "\u20ac") == b"\x13\x87\xe2\x82\xac"
    assert serialize_close(1005, "") == b""


@given(st.sampled_from([1000, 1001, 1002, 1003, 1007, 1011, 3000, 4999]), st.text(max_size=40))
def test_close_round_trip(code: int, reason: str) -> None:
    assert parse_close(serialize_close(code, reason)) == Close(code, reason)
