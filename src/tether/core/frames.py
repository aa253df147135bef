"""WebSocket frames (RFC 6455 section 5): opcodes, close codes, building frames."""

from __future__ import annotations

import dataclasses
import enum
import struct

from .._native import build_frame
from ..exceptions import InvalidUTF8, ProtocolError

__all__ = [
    "CLOSE_CODES_OK",
    "Close",
    "Frame",
    "Opcode",
    "build_frame",
    "is_valid_close_code",
    "parse_close",
    "serialize_close",
]


class Opcode(enum.IntEnum):
    """Frame opcodes (section 5.2)."""

    CONT = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


DATA_OPCODES = frozenset({Opcode.CONT, Opcode.TEXT, Opcode.BINARY})
CONTROL_OPCODES = frozenset({Opcode.CLOSE, Opcode.PING, Opcode.PONG})
KNOWN_OPCODES = frozenset(int(o) for o in Opcode)

#: Codes that mean a clean close: normal closure, going away.
CLOSE_CODES_OK = frozenset({1000, 1001})


@dataclasses.dataclass(slots=True)
class Frame:
    """One frame: what an extension sees and may transform."""

    opcode: int
    payload: bytes
    fin: bool = True
    rsv1: bool = False
    rsv2: bool = False
    rsv3: bool = False


def is_valid_close_code(code: int) -> bool:
    """Whether ``code`` may appear in a close frame on the wire (section 7.4).

    1000-1003 and 1007-1011 are defined; 1004, 1005, 1006 and 1015 are reserved
    and "MUST NOT be set as a status code in a Close control frame"; 1012-1014 are
    registered with IANA (service restart, try again later, bad gateway); 3000-4999
    are for libraries, frameworks and applications.
    """
    return (
        1000 <= code <= 1003
        or 1007 <= code <= 1014
        or 3000 <= code <= 4999
    )


@dataclasses.dataclass(frozen=True, slots=True)
class Close:
    """The body of a close frame: a code (1005 when absent) and a reason."""

    code: int = 1005
    reason: str = ""


def parse_close(payload: bytes) -> Close:
    """Parse and check a close frame's payload (section 5.5.1).

    A 1-byte body, a code that may not be sent, or a reason that is not UTF-8 is
    a protocol error (1002, or 1007 for the reason).
    """
    if len(payload) == 0:
        return Close(1005, "")
    if len(payload) == 1:
        raise ProtocolError("close frame with a 1-byte payload")
    (code,) = struct.unpack("!H", payload[:2])
    if not is_valid_close_code(code):
        raise ProtocolError(f"invalid close code {code}")
    try:
        reason = payload[2:].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidUTF8("close reason is not valid UTF-8") from exc
    return Close(code, reason)


def serialize_close(code: int, reason: str) -> bytes:
    """Build a close frame's payload; 1005 means "no code" and gives an empty body."""
    if code == 1005:
        return b""
    return struct.pack("!H", code) + reason.encode("utf-8")
