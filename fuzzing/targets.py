"""Fuzz targets for tether's parsers, shared by atheris (run.py) and hypothesis (the tests).

Each target takes the fuzzer's bytes and checks properties, raising AssertionError (or
any unexpected exception) on a finding:

* ``http_request`` / ``http_response``: the HTTP/1.1 head parsers raise nothing but
  :class:`~tether.exceptions.InvalidMessage`; the answer is the same however the bytes
  are split (an incremental parse agrees with a whole one); a parsed head survives
  a build -> parse round trip.
* ``frames`` / ``frames_deflate``: the sans-I/O :class:`~tether.core.protocol.Protocol`
  (server role, permessage-deflate on or off) fed the bytes in random chunks gives the
  same events, close code and output as fed in one piece; it never holds more than its
  budget (the buffer: one frame header plus the frame limit; the message being received:
  ``max_size`` and ~25% bookkeeping); only ProtocolError-derived failures.
* ``frames_structured``: the same, on frame streams built from the bytes (mostly
  well-formed, masked frames with random opcodes, flags and lengths), which reach far
  deeper than raw bytes do.

The first two bytes of every input seed the chunking, so a crash reproduces from the
input alone.
"""

from __future__ import annotations

import random
import struct
from typing import Any

from tether.core.events import CloseReceived, Message, Ping, Pong
from tether.core.extensions.permessage_deflate import PerMessageDeflate
from tether.core.http11 import (
    InvalidMessage,
    Request,
    Response,
    build_request,
    build_response,
    parse_request,
    parse_response,
)
from tether.core.protocol import Protocol, Role
from tether.exceptions import ProtocolError

__all__ = ["TARGETS", "frames", "frames_deflate", "frames_structured", "http_request",
           "http_response"]

#: Small, so that the limits are reached often.
MAX_SIZE = 4096


def _chunks(data: bytes, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    out, i = [], 0
    while i < len(data):
        n = rng.choice((1, 1, 2, 3, 7, 16, 100, 1000))
        out.append(data[i : i + n])
        i += n
    return out


def _split(data: bytes) -> tuple[int, bytes]:
    return (int.from_bytes(data[:2], "big") if len(data) >= 2 else 0), data[2:]


# ------------------------------------------------------------------ HTTP

def _parse_http(parse: Any, pieces: list[bytes]) -> tuple[str, Any]:
    """Feed ``pieces`` as an engine does (growing buffer, ``scanned`` = what the
    previous call saw): the outcome."""
    buf = bytearray()
    for piece in pieces:
        scanned = len(buf)
        buf += piece
        try:
            parsed = parse(buf, scanned)
        except InvalidMessage as exc:
            return "error", getattr(exc, "status", None)
        if parsed is not None:
            return "ok", parsed
    return "incomplete", None


def _http(data: bytes, parse: Any, build: Any) -> None:
    seed, body = _split(data)
    whole = _parse_http(parse, [body])
    split = _parse_http(parse, _chunks(body, seed))
    if whole[0] == "ok" and split[0] == "ok":
        assert whole[1] == split[1], (whole, split)
    elif whole[0] == "incomplete":
        # A prefix may be refused early only for what can never become valid; a split
        # feed sees the same bytes in the end, so it can't be "ok" here.
        assert split[0] != "ok", (whole, split)
    else:
        # Both refuse; the status may differ when the head holds several errors (a
        # split feed reports the first by position, a whole one the first by check).
        assert whole[0] == split[0], (whole, split)
    if whole[0] == "ok":
        message, used = whole[1]
        assert 0 < used <= len(body)
        if isinstance(message, Request):
            again = parse(build(message))
        else:
            assert isinstance(message, Response)
            if not message.reason.isascii():
                return  # obs-text in a reason phrase parses, but is never sent
            message.body = b""
            rebuilt = build(message)
            again = parse(rebuilt)
        assert again is not None
        if isinstance(message, Request):
            assert again[0] == message
        else:
            assert again[0].status == message.status


def http_request(data: bytes) -> None:
    _http(data, parse_request, build_request)


def http_response(data: bytes) -> None:
    _http(data, parse_response, build_response)


# ------------------------------------------------------------------ frames

def _protocol(deflate: bool) -> Protocol:
    extensions = [PerMessageDeflate()] if deflate else []
    return Protocol(Role.SERVER, max_size=MAX_SIZE, extensions=extensions)


def _held(p: Protocol) -> int:
    """Bytes the protocol holds for the message being received and the next frame."""
    held = sum(len(c) for c in p._msg_chunks) + sum(len(t) * 4 for t in p._msg_text)
    return held


def _run_protocol(pieces: list[bytes], deflate: bool) -> tuple[list[Any], int | None, bytes]:
    p = _protocol(deflate)
    for piece in pieces:
        p.receive_data(piece)
        # The budget: one incomplete frame (header <= 14 bytes, payload within the frame
        # limit) and the message so far (<= max_size, text counted at 4 bytes a char).
        assert len(p._buf) <= 14 + MAX_SIZE, len(p._buf)
        assert p._msg_size <= MAX_SIZE
        assert _held(p) <= 4 * MAX_SIZE
        assert len(p._msg_chunks) + len(p._msg_text) <= MAX_SIZE
        if p.failure is not None:
            break
    events = []
    for e in p.events_received():
        if isinstance(e, (Message, Ping, Pong, CloseReceived)):
            events.append(e)
    if p.failure is not None:
        assert isinstance(p.failure, ProtocolError)
        assert p.failure.code in (1002, 1007, 1009), p.failure.code
    code = p.failure.code if p.failure is not None else None
    return events, code, b"".join(p.data_to_send())


def _frames(data: bytes, deflate: bool) -> None:
    seed, body = _split(data)
    whole = _run_protocol([body], deflate)
    split = _run_protocol(_chunks(body, seed), deflate)
    assert whole == split, (whole, split)


def frames(data: bytes) -> None:
    _frames(data, False)


def frames_deflate(data: bytes) -> None:
    _frames(data, True)


def build_stream(data: bytes) -> bytes:
    """Mostly well-formed masked client frames, shaped by ``data``.

    Each frame takes: a flags byte (FIN, RSV1, opcode from a weighted table), a length
    byte (small, 126-form or 127-form, sometimes with a bogus declared length) and its
    payload from the following bytes (sometimes valid deflate, sometimes UTF-8 text).
    """
    import zlib

    out = bytearray()
    i = 0
    opcodes = (0x1, 0x2, 0x0, 0x0, 0x9, 0xA, 0x8, 0x1, 0x2, 0x3, 0xB)
    while i + 2 <= len(data):
        flags, size = data[i], data[i + 1]
        i += 2
        opcode = opcodes[flags % len(opcodes)]
        fin = 0x80 if flags & 0x10 or opcode & 0x08 else 0
        rsv = 0x40 if flags & 0x20 else 0
        n = size % 64
        payload = bytes(data[i : i + n])
        i += n
        if flags & 0x40 and opcode in (0x1, 0x0):
            payload = "é€😀a".encode()[: n % 12]
        if rsv and flags & 0x80:
            enc = zlib.compressobj(wbits=-15)
            payload = (enc.compress(payload * (size % 7 + 1)) + enc.flush(zlib.Z_SYNC_FLUSH))[:-4]
        if opcode == 0x8 and len(payload) >= 2 and not flags & 0x80:
            payload = struct.pack("!H", (1000, 1001, 3000, 1005, 999)[size % 5]) + payload[2:]
        n = len(payload)
        if size & 0xC0 == 0xC0:
            header = bytes([fin | rsv | opcode, 0x80 | 127]) + struct.pack("!Q", n)
        elif size & 0xC0 == 0x80:
            header = bytes([fin | rsv | opcode, 0x80 | 126]) + struct.pack("!H", n)
        else:
            header = bytes([fin | rsv | opcode, 0x80 | min(n, 125)])
            payload = payload[:125]
        mask = bytes(data[i : i + 4]).ljust(4, b"\0")
        masked = bytes(b ^ mask[j % 4] for j, b in enumerate(payload))
        out += header + mask + masked
    return bytes(out)


def frames_structured(data: bytes) -> None:
    seed, body = _split(data)
    stream = build_stream(body)
    prefix = seed.to_bytes(2, "big")
    _frames(prefix + stream, False)
    _frames(prefix + stream, True)


TARGETS = {
    "http_request": http_request,
    "http_response": http_response,
    "frames": frames,
    "frames_deflate": frames_deflate,
    "frames_structured": frames_structured,
}
