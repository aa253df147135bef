"""The hot path's pure-Python implementation: parse_frames, apply_mask, Utf8Decoder.

Every implementation that can be imported here (the pure-Python one always, the
compiled one when it is built) is held to the same answers.
"""

from __future__ import annotations

import contextlib
import importlib
import itertools
import struct
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tether._native
from tether._native import _python
from tether.exceptions import PayloadTooBig, ProtocolError


def _implementations() -> list[ModuleType]:
    impls = [_python]
    with contextlib.suppress(ImportError):
        impls.append(importlib.import_module("tether._native._speedups"))
    return impls


impl = pytest.fixture(scope="module", params=_implementations(),
                      ids=lambda m: m.__name__.rsplit(".", 1)[-1])(lambda request: request.param)

MASK = b"\xa1\xb2\xc3\xd4"


def frame(b0: int, payload: bytes, mask: bytes | None = None) -> bytes:
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        head = bytes([b0, mbit | n])
    elif n < 65536:
        head = bytes([b0, mbit | 126]) + struct.pack("!H", n)
    else:
        head = bytes([b0, mbit | 127]) + struct.pack("!Q", n)
    if mask:
        return head + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
    return head + payload


def test_pure_python_loads_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TETHER_NO_EXTENSIONS", "1")
    try:
        reloaded = importlib.reload(tether._native)
        assert reloaded.IMPLEMENTATION == "python"
        assert reloaded.parse_frames is _python.parse_frames
    finally:
        monkeypatch.delenv("TETHER_NO_EXTENSIONS")
        importlib.reload(tether._native)


# ------------------------------------------------------------------ apply_mask


def test_apply_mask(impl: ModuleType) -> None:
    assert impl.apply_mask(b"", MASK) == b""
    assert impl.apply_mask(b"\x00\x00\x00\x00\x00", MASK) == MASK + MASK[:1]
    # RFC 6455 section 5.7: "Hello" masked with 37 fa 21 3d.
    assert impl.apply_mask(b"Hello", b"\x37\xfa\x21\x3d") == b"\x7f\x9f\x4d\x51\x58"


@given(st.binary(max_size=2000), st.binary(min_size=4, max_size=4))
def test_apply_mask_matches_definition(impl: ModuleType, data: bytes, mask: bytes) -> None:
    expected = bytes(c ^ mask[i % 4] for i, c in enumerate(data))
    assert impl.apply_mask(data, mask) == expected
    assert impl.apply_mask(bytearray(data), mask) == expected
    assert impl.apply_mask(memoryview(data), mask) == expected


def test_apply_mask_large(impl: ModuleType) -> None:
    data = bytes(range(256)) * 40_000
    masked = impl.apply_mask(data, MASK)
    assert len(masked) == len(data)
    assert impl.apply_mask(masked, MASK) == data


# ------------------------------------------------------------------ parse_frames


def test_parse_frames_complete_and_partial(impl: ModuleType) -> None:
    data = frame(0x81, b"hello", MASK) + frame(0x82, b"x" * 300, MASK) + frame(0x89, b"", MASK)
    buf = bytearray(data)
    frames, used = impl.parse_frames(buf, True, None)
    assert frames == [(0x81, b"hello"), (0x82, b"x" * 300), (0x89, b"")]
    assert used == len(data)
    for cut in range(len(data)):
        frames, used = impl.parse_frames(bytearray(data[:cut]), True, None)
        assert used <= cut
        assert data[:used] == b"".join(
            frame(b0, p, MASK) for b0, p in frames
        )


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 70000])
def test_parse_frames_lengths(impl: ModuleType, size: int) -> None:
    payload = bytes(i & 0xFF for i in range(size))
    for mask in (None, MASK):
        frames, _used = impl.parse_frames(bytearray(frame(0x82, payload, mask)), mask is not None,
                                         None)
        assert frames == [(0x82, payload)]


def test_parse_frames_keeps_first_byte(impl: ModuleType) -> None:
    frames, _ = impl.parse_frames(bytearray(frame(0x41, b"a") + frame(0x00, b"b")), False, None)
    assert frames == [(0x41, b"a"), (0x00, b"b")]


@pytest.mark.parametrize("expect_mask", [True, False])
def test_parse_frames_wrong_masking(impl: ModuleType, expect_mask: bool) -> None:
    data = frame(0x81, b"x", None if expect_mask else MASK)
    with pytest.raises(ProtocolError) as info:
        impl.parse_frames(bytearray(data), expect_mask, None)
    assert info.value.code == 1002
    # The mask bit is in the second byte: known before the rest arrives.
    with pytest.raises(ProtocolError):
        impl.parse_frames(bytearray(data[:2]), expect_mask, None)


def test_parse_frames_64_bit_top_bit(impl: ModuleType) -> None:
    data = b"\x82\x7f" + struct.pack("!Q", 1 << 63)
    with pytest.raises(ProtocolError) as info:
        impl.parse_frames(bytearray(data), False, None)
    assert info.value.code == 1002


def test_parse_frames_limit_before_payload(impl: ModuleType) -> None:
    header = b"\x82\x7f" + struct.pack("!Q", 1 << 62)
    with pytest.raises(PayloadTooBig) as info:
        impl.parse_frames(bytearray(header), False, 1 << 20)
    assert info.value.code == 1009
    with pytest.raises(PayloadTooBig):
        impl.parse_frames(bytearray(b"\x82\x7e\x01\x00"), False, 255)
    frames, used = impl.parse_frames(bytearray(b"\x82\x7e\x00\xff"), False, 255)
    assert (frames, used) == ([], 0)  # within the limit: waits for the payload


def test_parse_frames_control_frame_too_long(impl: ModuleType) -> None:
    with pytest.raises(ProtocolError) as info:
        impl.parse_frames(bytearray(b"\x89\x7e\x00\x7e"), False, None)
    assert info.value.code == 1002


def test_parse_frames_reports_error_after_good_frames(impl: ModuleType) -> None:
    good = frame(0x81, b"ok") + frame(0x8A, b"")
    buf = bytearray(good + frame(0x81, b"masked", MASK) + frame(0x81, b"never"))
    frames, used = impl.parse_frames(buf, False, None)
    assert frames == [(0x81, b"ok"), (0x8A, b"")]
    assert used == len(good)
    del buf[:used]
    with pytest.raises(ProtocolError):
        impl.parse_frames(buf, False, None)


def test_parse_frames_on_empty_and_one_byte(impl: ModuleType) -> None:
    assert impl.parse_frames(bytearray(), False, None) == ([], 0)
    assert impl.parse_frames(bytearray(b"\x81"), False, None) == ([], 0)
    assert impl.parse_frames(bytearray(b"\x81\x7e\x00"), False, None) == ([], 0)
    assert impl.parse_frames(bytearray(b"\x81\x7f\x00\x00"), False, None) == ([], 0)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0x00, 0x01, 0x02, 0x81, 0x82, 0x89, 0x8A]),
                          st.binary(max_size=200)), max_size=8),
       st.booleans())
def test_parse_frames_round_trip(impl: ModuleType, specs: list[tuple[int, bytes]],
                                 masked: bool) -> None:
    specs = [(b0, p[:125] if b0 & 0x08 else p) for b0, p in specs]
    data = b"".join(frame(b0, p, MASK if masked else None) for b0, p in specs)
    frames, used = impl.parse_frames(bytearray(data), masked, None)
    assert frames == specs
    assert used == len(data)


# ------------------------------------------------------------------ Utf8Decoder


def test_utf8_decoder_incremental(impl: ModuleType) -> None:
    d = impl.Utf8Decoder()
    data = "\u20ac\U0001f600".encode()
    out = "".join(d.decode(data[i : i + 1]) for i in range(len(data)))
    assert out + d.decode(b"", True) == "\u20ac\U0001f600"


@pytest.mark.parametrize(
    "prefix",
    # (CPython's decoder notices a surrogate, ED A0-BF, one byte later: at ED A0 80.)
    [b"\xff", b"\xc0", b"\xc1", b"\xe0\x80", b"\xed\xa0\x80", b"\xf4\x90", b"\xf5", b"\x80",
     b"a\xc3\x28", b"\xf0\x80"],
)
def test_utf8_decoder_fails_as_soon_as_a_byte_is_invalid(impl: ModuleType, prefix: bytes) -> None:
    # Not final: these bytes can never be completed into valid UTF-8.
    with pytest.raises(UnicodeDecodeError):
        impl.Utf8Decoder().decode(prefix)


@pytest.mark.parametrize("prefix", [b"\xc3", b"\xe2\x82", b"\xf0\x9f\x98"])
def test_utf8_decoder_waits_on_valid_prefixes(impl: ModuleType, prefix: bytes) -> None:
    d = impl.Utf8Decoder()
    assert d.decode(prefix) == ""
    with pytest.raises(UnicodeDecodeError):
        d.copy().decode(b"", True)


def test_utf8_decoder_copy_is_independent(impl: ModuleType) -> None:
    d = impl.Utf8Decoder()
    assert d.decode(b"a\xe2\x82") == "a"
    c = d.copy()
    assert c.decode(b"\xac") == "\u20ac"
    with pytest.raises(UnicodeDecodeError):
        d.copy().decode(b"\x28")
    assert d.decode(b"\xac", True) == "\u20ac"


@given(st.text(max_size=100), st.lists(st.integers(0, 400), max_size=6))
def test_utf8_decoder_any_split(impl: ModuleType, text: str, cuts: list[int]) -> None:
    data = text.encode()
    bounds = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    d = impl.Utf8Decoder()
    out = "".join(d.decode(data[a:b]) for a, b in itertools.pairwise(bounds))
    assert out + d.decode(b"", True) == text
