"""Pure-Python implementation of the hot path (the fallback and the reference)."""

from __future__ import annotations

import codecs
import struct
from collections.abc import Callable

from ..exceptions import PayloadTooBig, ProtocolError

__all__ = ["Utf8Decoder", "apply_mask", "build_frame", "mask_inplace", "parse_frames",
           "payload_buffer"]


#: XOR tables for :meth:`bytes.translate`, one per key byte, made when first needed.
_XOR_TABLES: dict[int, bytes] = {}


def _xor_table(k: int) -> bytes:
    table = _XOR_TABLES.get(k)
    if table is None:
        table = _XOR_TABLES[k] = bytes(b ^ k for b in range(256))
    return table


def payload_buffer(n: int) -> tuple[bytes | bytearray, memoryview]:
    """A buffer of ``n`` bytes for a large frame's payload and a writable view of it.

    The compiled one gives a ``bytes`` object (filled through the view, then the
    message itself); here it is a ``bytearray`` that the caller turns into ``bytes``.
    """
    if n < 0:
        raise ValueError("payload_buffer() size must not be negative")
    buf = bytearray(n)
    return buf, memoryview(buf)


def mask_inplace(buf: bytearray | memoryview, mask: bytes, offset: int) -> None:
    """XOR ``buf`` with ``mask``, as the bytes from position ``offset`` of a payload."""
    shift = offset & 3
    buf[:] = apply_mask(buf, mask[shift:] + mask[:shift])


def apply_mask(data: bytes | bytearray | memoryview, mask: bytes) -> bytes:
    """XOR ``data`` with the 4-byte ``mask`` repeated (RFC 6455 section 5.3).

    "Octet i of the transformed data is the XOR of octet i of the original data
    with octet at index i modulo 4 of the masking key."  Short data: one big-integer
    XOR, which is linear and runs in C inside CPython.  Long data: every fourth byte
    shares a key byte, so four strided ``translate`` calls with XOR tables do it at
    C speed without the big integers' conversions.
    """
    n = len(data)
    if n == 0:
        return b""
    if n < 512 or len(mask) != 4:
        key = (mask * ((n >> 2) + 1))[:n]
        return (int.from_bytes(data, "little") ^ int.from_bytes(key, "little")).to_bytes(
            n, "little")
    src = bytes(data)
    out = bytearray(n)
    for i in range(4):
        out[i::4] = src[i::4].translate(_xor_table(mask[i]))
    return bytes(out)


def build_frame(
    opcode: int,
    payload: bytes | bytearray | memoryview,
    fin: bool = True,
    rsv: int = 0,
    mask: bytes | None = None,
) -> bytes:
    """Serialize one frame; ``rsv`` holds the RSV bits in place (0x40 = RSV1).

    ``mask`` is the 4-byte masking key for client frames ("a client MUST mask
    all frames that it sends to the server", section 5.1), ``None`` for server frames.
    """
    n = len(payload)
    b0 = (0x80 if fin else 0) | rsv | opcode
    mbit = 0x80 if mask is not None else 0
    if n < 126:
        header = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        header = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        header = struct.pack("!BBQ", b0, mbit | 127, n)
    if mask is not None:
        return header + mask + apply_mask(payload, mask)
    return header + bytes(payload)


_decoder_factory = codecs.getincrementaldecoder("utf-8")


class Utf8Decoder:
    """Incremental strict UTF-8 decoder that fails as soon as a sequence is invalid.

    ``decode(data)`` returns the text decoded so far and raises ``UnicodeDecodeError``
    the moment an invalid byte arrives (even mid-frame); ``decode(b"", final=True)``
    also fails on a truncated sequence at the end of the message.
    """

    __slots__ = ("_decode", "_decoder")

    def __init__(self) -> None:
        self._decoder = _decoder_factory("strict")
        self._decode: Callable[..., str] = self._decoder.decode

    def decode(self, data: bytes | bytearray | memoryview, final: bool = False) -> str:
        return self._decode(data, final)

    def copy(self) -> Utf8Decoder:
        """A decoder in the same state (for checking bytes ahead without consuming them)."""
        other = Utf8Decoder()
        other._decoder.setstate(self._decoder.getstate())
        return other


# A parsed frame as the parser hands it to the core: (first byte, payload).
# The first byte holds FIN, RSV1-3 and the opcode as on the wire.
RawFrame = tuple[int, bytes]


def parse_frames(
    buf: bytes | bytearray | memoryview, expect_mask: bool, max_payload: int | None
) -> tuple[list[RawFrame], int]:
    """Parse every complete frame at the start of ``buf``.

    Returns the frames (payload already unmasked) and the number of bytes used;
    the caller drops those bytes.  Raises :class:`ProtocolError` when the mask bit
    is wrong for the role ("a server MUST NOT mask any frames ... a client MUST
    close a connection if it detects a masked frame", section 5.1) or a 64-bit
    length has its most significant bit set (section 5.2), and
    :class:`PayloadTooBig` as soon as a header declares more than ``max_payload``,
    before any of that payload is buffered.

    It raises only for a bad frame at the start of ``buf``: when complete frames
    come before the bad one, it returns those and stops at the bad frame, which a
    second call (once the caller has processed them) then reports.
    """
    frames: list[RawFrame] = []
    pos = 0
    end = len(buf)
    while end - pos >= 2:
        b0 = buf[pos]
        b1 = buf[pos + 1]
        masked = b1 & 0x80
        length = b1 & 0x7F
        hdr = 2
        error: ProtocolError | None = None
        if bool(masked) != expect_mask:
            error = ProtocolError(
                "client frame is not masked" if expect_mask else "server frame is masked")
        else:
            if length == 126:
                if end - pos < 4:
                    break
                length = (buf[pos + 2] << 8) | buf[pos + 3]
                hdr = 4
            elif length == 127:
                if end - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                hdr = 10
                if length >> 63:
                    # "the most significant bit MUST be 0" (section 5.2)
                    error = ProtocolError(
                        "64-bit payload length has its most significant bit set")
            if error is not None:
                pass
            elif b0 & 0x08 and length > 125:
                # "All control frames MUST have a payload length of 125 bytes or less" (5.5)
                error = ProtocolError("control frame payload longer than 125 bytes")
            elif max_payload is not None and length > max_payload:
                error = PayloadTooBig(
                    f"frame of {length} bytes exceeds limit of {max_payload} bytes")
        if error is not None:
            if frames:
                # The frames before the bad one go to the caller first (so that what
                # is delivered doesn't depend on how TCP split the stream); the bad
                # frame is then at the start of the buffer and the next call raises.
                break
            raise error
        if masked:
            hdr += 4
        if end - pos < hdr + length:
            break
        start = pos + hdr
        if masked:
            key = bytes(buf[start - 4 : start])
            payload = apply_mask(memoryview(buf)[start : start + length], key)
        else:
            payload = bytes(buf[start : start + length])
        frames.append((b0, payload))
        pos = start + length
    return frames, pos
