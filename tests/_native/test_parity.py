"""The compiled hot path and its pure-Python twin give the same answers.

Hypothesis feeds both :mod:`tether._native._python` and :mod:`tether._native._speedups`
the same inputs (frame streams with good and bad frames, split anywhere; masks; UTF-8
valid and not, cut anywhere) and the results or exceptions must be identical.
"""

from __future__ import annotations

import codecs
import importlib
import itertools
import struct
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tether._native import _python
from tether.exceptions import ProtocolError

try:
    _speedups: ModuleType | None = importlib.import_module("tether._native._speedups")
except ImportError:  # pragma: no cover - built without the extension
    _speedups = None

pytestmark = pytest.mark.skipif(_speedups is None, reason="compiled hot path not built")


def _outcome(fn: Any, *args: Any) -> tuple[str, Any]:
    try:
        return "ok", fn(*args)
    except (ProtocolError, UnicodeDecodeError, ValueError) as exc:
        detail: Any = str(exc)
        if isinstance(exc, UnicodeDecodeError):
            detail = (exc.start, exc.end, exc.reason, bytes(exc.object))
        return type(exc).__name__, detail


# ---------------------------------------------------------------- frames

def _frame(b0: int, payload: bytes, mask: bytes | None, length_form: int) -> bytes:
    n = len(payload)
    mbit = 0x80 if mask is not None else 0
    if length_form == 0 and n < 126:
        head = bytes([b0, mbit | n])
    elif length_form <= 1 and n < 65536:
        head = bytes([b0, mbit | 126]) + struct.pack("!H", n)
    else:
        head = bytes([b0, mbit | 127]) + struct.pack("!Q", n)
    if mask is not None:
        return head + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
    return head + payload


_b0 = st.sampled_from([0x81, 0x82, 0x01, 0x02, 0x80, 0x00, 0x88, 0x89, 0x8A, 0x09, 0xC1,
                       0x83, 0x8B, 0x41, 0x91])
_masks = st.one_of(st.none(), st.binary(min_size=4, max_size=4))
_payloads = st.one_of(st.binary(max_size=40), st.binary(min_size=120, max_size=300))


@st.composite
def _streams(draw: st.DrawFn) -> bytes:
    parts = []
    for _ in range(draw(st.integers(0, 5))):
        kind = draw(st.integers(0, 9))
        if kind == 0:  # a 64-bit length with its top bit set
            parts.append(bytes([draw(_b0), draw(st.sampled_from([0x7F, 0xFF]))])
                         + struct.pack("!Q", 2**63 + draw(st.integers(0, 5))))
        elif kind == 1:  # random bytes
            parts.append(draw(st.binary(max_size=20)))
        else:
            parts.append(_frame(draw(_b0), draw(_payloads), draw(_masks), draw(st.integers(0, 2))))
    return b"".join(parts)


_limits = st.one_of(st.none(), st.integers(0, 400), st.just(2**70), st.just(-1))


@settings(max_examples=600, deadline=None)
@given(stream=_streams(), expect_mask=st.booleans(), limit=_limits, cut=st.integers(0, 2000))
def test_parse_frames_same(stream: bytes, expect_mask: bool, limit: int | None, cut: int) -> None:
    assert _speedups is not None
    data = stream[: cut if cut < len(stream) else None]
    a = _outcome(_python.parse_frames, bytearray(data), expect_mask, limit)
    b = _outcome(_speedups.parse_frames, bytearray(data), expect_mask, limit)
    assert a == b


@settings(max_examples=300, deadline=None)
@given(stream=_streams(), expect_mask=st.booleans(), limit=_limits)
def test_parse_frames_drained_the_same(stream: bytes, expect_mask: bool,
                                       limit: int | None) -> None:
    """Call again after each batch, as the core does, until both stop or raise."""
    assert _speedups is not None
    results = []
    for impl in (_python, _speedups):
        buf = bytearray(stream)
        seen: list[Any] = []
        for _ in range(20):
            out = _outcome(impl.parse_frames, buf, expect_mask, limit)
            seen.append(out)
            if out[0] != "ok" or not out[1][1]:
                break
            del buf[: out[1][1]]
        results.append(seen)
    assert results[0] == results[1]


def test_parse_frames_large_masked() -> None:
    assert _speedups is not None
    payload = bytes(range(256)) * 4099
    data = bytearray(_frame(0x82, payload, b"\x01\x02\x03\x04", 2) + b"\x81\x00")
    for expect in (True,):
        assert _python.parse_frames(data, expect, None) == _speedups.parse_frames(
            data, expect, None)


# ---------------------------------------------------------------- masking

@settings(max_examples=400, deadline=None)
@given(data=st.binary(max_size=200), mask=st.binary(min_size=4, max_size=4),
       offset=st.integers(0, 7))
def test_apply_mask_same(data: bytes, mask: bytes, offset: int) -> None:
    assert _speedups is not None
    # An unaligned view checks the 8-byte loop against the byte loop.
    view = memoryview(b"x" * offset + data)[offset:]
    assert _speedups.apply_mask(view, mask) == _python.apply_mask(view, mask)
    assert _speedups.apply_mask(bytearray(data), mask) == _python.apply_mask(data, mask)


def test_apply_mask_large() -> None:
    assert _speedups is not None
    data = bytes(range(256)) * 5000 + b"abc"
    mask = b"\x9a\x00\xff\x37"
    assert _speedups.apply_mask(data, mask) == _python.apply_mask(data, mask)


def test_apply_mask_rejects_a_bad_key() -> None:
    assert _speedups is not None
    with pytest.raises(ValueError):
        _speedups.apply_mask(b"abc", b"12")
    assert _speedups.apply_mask(b"", b"12") == b""


# ---------------------------------------------------------------- UTF-8

_texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=40).map(
    lambda s: s.encode("utf-8"))
_bad = st.sampled_from([b"\x80", b"\xc0\xaf", b"\xe0\x80\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
                        b"\xf5", b"\xff", b"\xc3", b"\xe2\x82", b"\xf0\x9f\x98", b"\xc3\x28",
                        b"\xe2\x28\xa1", b"\xf0\x28\x8c\xbc", b"\xed\x9f\xbf", b"\xef\xbf\xbf"])


@st.composite
def _utf8ish(draw: st.DrawFn) -> bytes:
    parts = [draw(st.one_of(_texts, _bad, st.binary(max_size=6)))
             for _ in range(draw(st.integers(0, 5)))]
    return b"".join(parts)


def _decode_all(impl: ModuleType, data: bytes, cuts: list[int], final: bool,
                copy_at: int) -> list[Any]:
    dec = impl.Utf8Decoder()
    out: list[Any] = []
    points = sorted({min(c, len(data)) for c in cuts})
    prev = 0
    for i, c in enumerate([*points, len(data)]):
        if i == copy_at:
            dec = dec.copy()
        last = i == len(points)
        r = _outcome(dec.decode, data[prev:c], final and last)
        out.append(r)
        if r[0] != "ok":
            break
        prev = c
    return out


_EDGES = [0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF]


def _completable(prefix: bytes) -> bool:
    """Whether some bytes appended to ``prefix`` make valid UTF-8 (it is a valid prefix)."""
    tails = [b""]
    for _ in range(3):
        tails += [t + bytes([b]) for t in tails if len(t) == len(tails[-1]) for b in _EDGES]
    for tail in tails:
        try:
            (prefix + tail).decode("utf-8")
        except UnicodeDecodeError:
            continue
        return True
    return False


def _check_same_or_earlier(data: bytes, cuts: list[int], final: bool, copy_at: int) -> None:
    """Both decoders give the same results, except that the compiled one may fail on an
    earlier call, when what it was fed so far can't be the start of valid UTF-8."""
    assert _speedups is not None
    a = _decode_all(_python, data, cuts, final, copy_at)
    b = _decode_all(_speedups, data, cuts, final, copy_at)
    if a == b:
        return
    i = len(b) - 1
    assert b[i][0] == "UnicodeDecodeError"
    assert a[:i] == b[:i]
    assert a[i][0] == "ok"
    fed = b"".join(_chunks(data, cuts)[: i + 1])
    assert not _completable(fed)


def _chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(data)) for c in cuts})
    bounds = [0, *points, len(data)]
    return [data[x:y] for x, y in itertools.pairwise(bounds)]


@settings(max_examples=800, deadline=None)
@given(data=_utf8ish(), cuts=st.lists(st.integers(0, 60), max_size=6), final=st.booleans(),
       copy_at=st.integers(0, 7))
def test_utf8_decoder_same(data: bytes, cuts: list[int], final: bool, copy_at: int) -> None:
    _check_same_or_earlier(data, cuts, final, copy_at)


def test_utf8_surrogate_prefix_fails_early() -> None:
    """CPython waits for a third byte after ED A0; the DFA knows it's a surrogate at once."""
    _check_same_or_earlier(b"\xed\xa0\x80", [2], False, 0)
    assert _speedups is not None
    with pytest.raises(UnicodeDecodeError):
        _speedups.Utf8Decoder().decode(b"ok \xed\xa0")


@settings(max_examples=300, deadline=None)
@given(data=_utf8ish(), cut=st.integers(0, 60))
def test_utf8_fails_no_later_than_cpython(data: bytes, cut: int) -> None:
    """The compiled decoder raises on the same call as CPython's incremental decoder,
    or earlier."""
    assert _speedups is not None
    ref = codecs.getincrementaldecoder("utf-8")()
    dec = _speedups.Utf8Decoder()
    for chunk in (data[:cut], data[cut:]):
        a = _outcome(ref.decode, chunk)
        b = _outcome(dec.decode, chunk)
        if a[0] != "ok":
            assert b[0] == a[0]
        if b[0] != "ok":
            break


def test_utf8_decoder_keywords_and_types() -> None:
    assert _speedups is not None
    dec = _speedups.Utf8Decoder()
    assert dec.decode(memoryview(b"h\xc3"), final=False) == "h"
    assert dec.decode(bytearray(b"\xa9")) == "\xe9"
    with pytest.raises(UnicodeDecodeError):
        dec.decode(b"\xe2\x82", True)
    with pytest.raises(TypeError):
        dec.decode("text")


# ---------------------------------------------------------------- building frames

@settings(max_examples=400, deadline=None)
@given(opcode=st.sampled_from([0, 1, 2, 8, 9, 10, 3, 15, 16, -1]), fin=st.booleans(),
       rsv=st.sampled_from([0, 0x40, 0x20, 0x10, 0x70, 0x80]),
       payload=st.one_of(st.binary(max_size=130),
                         st.integers(65530, 65540).map(lambda n: bytes(range(256)) * (n // 256)
                                                       + bytes(n % 256))),
       mask=_masks, kind=st.sampled_from([bytes, bytearray, memoryview]))
def test_build_frame_same(opcode: int, fin: bool, rsv: int, payload: bytes,
                          mask: bytes | None, kind: type) -> None:
    assert _speedups is not None
    data = kind(payload)

    def outcome(fn: Any) -> tuple[str, Any]:
        try:
            return "ok", fn(opcode, data, fin, rsv, mask)
        except struct.error:
            return "struct.error", None

    assert outcome(_python.build_frame) == outcome(_speedups.build_frame)


def test_build_frame_keywords() -> None:
    assert _speedups is not None
    for impl in (_python, _speedups):
        assert impl.build_frame(2, b"ab", fin=False, rsv=0x40, mask=None) == b"\x42\x02ab"
        assert impl.build_frame(opcode=1, payload=b"") == b"\x81\x00"


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=3000), key=st.binary(min_size=4, max_size=4),
       offset=st.integers(0, 10))
def test_mask_inplace_is_apply_mask_from_an_offset(data: bytes, key: bytes, offset: int) -> None:
    assert _speedups is not None
    whole = _python.apply_mask(b"\0" * offset + data, key)[offset:]
    for impl in (_python, _speedups):
        buf = bytearray(data)
        impl.mask_inplace(memoryview(buf), key, offset)
        assert bytes(buf) == whole


@pytest.mark.parametrize("n", [0, 1, 70_000])
def test_payload_buffer_fills_through_its_view(n: int) -> None:
    assert _speedups is not None
    for impl in (_python, _speedups):
        payload, view = impl.payload_buffer(n)
        assert len(payload) == len(view) == n
        view[:] = b"z" * n
        assert bytes(payload) == b"z" * n
    with pytest.raises(ValueError):
        _speedups.payload_buffer(-1)
