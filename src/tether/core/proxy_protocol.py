"""The PROXY protocol (HAProxy), versions 1 and 2, sans I/O.

A load balancer that speaks it (haproxy ``send-proxy``/``send-proxy-v2``, AWS NLB,
nginx ``proxy_protocol on`` in a stream block) writes one header at the start of each
TCP connection telling the real client's address.  :func:`parse` reads it from the
first bytes of a connection::

    result = parse(buffer)          # None: not complete yet, read more
    info, used = result             # raises ProxyProtocolError on garbage
    rest = buffer[used:]            # the HTTP request that follows

Spec: https://www.haproxy.org/download/2.8/doc/proxy-protocol.txt
"""

from __future__ import annotations

import dataclasses
import ipaddress
import struct

__all__ = [
    "MAX_V1_LENGTH",
    "V2_SIGNATURE",
    "ProxyInfo",
    "ProxyProtocolError",
    "build_v1",
    "build_v2",
    "parse",
]

#: A v1 header is at most 107 bytes including CRLF (spec section 2.1).
MAX_V1_LENGTH = 107
#: The 12-byte signature that starts a v2 header.
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
#: Longest v2 address block accepted: the spec's unix addresses are 216 bytes; TLVs may
#: follow.  Larger blocks are refused so that a peer can't make us buffer without end.
MAX_V2_PAYLOAD = 4096


class ProxyProtocolError(ValueError):
    """The bytes are not a valid PROXY protocol header."""


@dataclasses.dataclass(frozen=True)
class ProxyInfo:
    """What the header said.  ``source``/``destination`` are ``(host, port)``, or None
    for ``UNKNOWN`` (v1) and ``LOCAL`` (v2: a health check from the proxy itself)."""

    version: int
    source: tuple[str, int] | None
    destination: tuple[str, int] | None
    tlvs: tuple[tuple[int, bytes], ...] = ()


def parse(buf: bytes | bytearray) -> tuple[ProxyInfo, int] | None:
    """Parse a header at the start of ``buf``; see the module docstring."""
    n = len(buf)
    if n == 0:
        return None
    if buf[:1] == b"\r":
        if n < len(V2_SIGNATURE):
            if bytes(buf) != V2_SIGNATURE[:n]:
                raise ProxyProtocolError("not a PROXY protocol header")
            return None
        if bytes(buf[:12]) != V2_SIGNATURE:
            raise ProxyProtocolError("bad PROXY protocol v2 signature")
        return _parse_v2(buf)
    if buf[:1] == b"P":
        prefix = b"PROXY "
        if bytes(buf[:6]) != prefix[: min(n, 6)]:
            raise ProxyProtocolError("not a PROXY protocol header")
        end = bytes(buf[:MAX_V1_LENGTH]).find(b"\r\n")
        if end < 0:
            if n >= MAX_V1_LENGTH:
                raise ProxyProtocolError("PROXY protocol v1 header longer than 107 bytes")
            return None
        return _parse_v1(bytes(buf[:end])), end + 2
    raise ProxyProtocolError("not a PROXY protocol header (expected 'PROXY ' or v2 signature)")


def _parse_v1(line: bytes) -> ProxyInfo:
    try:
        text = line.decode("ascii")
    except UnicodeDecodeError:
        raise ProxyProtocolError("PROXY v1 header is not ASCII") from None
    parts = text.split(" ")
    if len(parts) >= 2 and parts[1] == "UNKNOWN":
        return ProxyInfo(1, None, None)
    if len(parts) != 6 or parts[1] not in ("TCP4", "TCP6"):
        raise ProxyProtocolError(f"bad PROXY v1 header: {text!r}")
    _, family, src, dst, sport, dport = parts
    version = 4 if family == "TCP4" else 6
    try:
        s = ipaddress.ip_address(src)
        d = ipaddress.ip_address(dst)
    except ValueError:
        raise ProxyProtocolError(f"bad address in PROXY v1 header: {text!r}") from None
    if s.version != version or d.version != version:
        raise ProxyProtocolError(f"address family mismatch in PROXY v1 header: {text!r}")
    return ProxyInfo(1, (str(s), _port(sport)), (str(d), _port(dport)))


def _port(text: str) -> int:
    if not text.isdigit() or (len(text) > 1 and text[0] == "0"):
        raise ProxyProtocolError(f"bad port in PROXY v1 header: {text!r}")
    port = int(text)
    if port > 65535:
        raise ProxyProtocolError(f"port out of range in PROXY v1 header: {text!r}")
    return port


def _parse_v2(buf: bytes | bytearray) -> tuple[ProxyInfo, int] | None:
    if len(buf) < 16:
        return None
    ver_cmd, fam, length = struct.unpack_from("!BBH", buf, 12)
    if ver_cmd >> 4 != 2:
        raise ProxyProtocolError("PROXY v2 header with a version other than 2")
    command = ver_cmd & 0x0F
    if command not in (0, 1):
        raise ProxyProtocolError(f"PROXY v2 header with unknown command {command}")
    if length > MAX_V2_PAYLOAD:
        raise ProxyProtocolError(f"PROXY v2 header of {length} bytes is too long")
    total = 16 + length
    if len(buf) < total:
        return None
    payload = bytes(buf[16:total])
    if command == 0:  # LOCAL: the proxy's own connection (health check)
        return ProxyInfo(2, None, None), total
    family, proto = fam >> 4, fam & 0x0F
    if family == 1 and proto in (1, 2):  # INET
        if length < 12:
            raise ProxyProtocolError("PROXY v2 IPv4 address block too short")
        src4, dst4, sport, dport = struct.unpack_from("!4s4sHH", payload)
        src = str(ipaddress.IPv4Address(src4))
        dst = str(ipaddress.IPv4Address(dst4))
        rest = payload[12:]
    elif family == 2 and proto in (1, 2):  # INET6
        if length < 36:
            raise ProxyProtocolError("PROXY v2 IPv6 address block too short")
        src6, dst6, sport, dport = struct.unpack_from("!16s16sHH", payload)
        src = str(ipaddress.IPv6Address(src6))
        dst = str(ipaddress.IPv6Address(dst6))
        rest = payload[36:]
    else:  # UNSPEC or unix sockets: no usable address, keep the socket's
        return ProxyInfo(2, None, None), total
    return ProxyInfo(2, (src, sport), (dst, dport), _tlvs(rest)), total


def _tlvs(data: bytes) -> tuple[tuple[int, bytes], ...]:
    out = []
    i = 0
    while i + 3 <= len(data):
        kind, size = struct.unpack_from("!BH", data, i)
        if i + 3 + size > len(data):
            raise ProxyProtocolError("truncated TLV in PROXY v2 header")
        out.append((kind, data[i + 3:i + 3 + size]))
        i += 3 + size
    return tuple(out)


def build_v1(source: tuple[str, int], destination: tuple[str, int]) -> bytes:
    """A v1 header (for tests and for clients that connect through nothing)."""
    family = "TCP6" if ":" in source[0] else "TCP4"
    return (f"PROXY {family} {source[0]} {destination[0]} {source[1]} {destination[1]}\r\n"
            .encode("ascii"))


def build_v2(source: tuple[str, int] | None, destination: tuple[str, int] | None = None,
             ) -> bytes:
    """A v2 header; ``source=None`` makes a LOCAL one."""
    if source is None:
        return V2_SIGNATURE + struct.pack("!BBH", 0x20, 0, 0)
    destination = destination or (("::" if ":" in source[0] else "0.0.0.0"), 0)
    s = ipaddress.ip_address(source[0])
    d = ipaddress.ip_address(destination[0])
    if s.version == 4:
        body = s.packed + d.packed + struct.pack("!HH", source[1], destination[1])
        return V2_SIGNATURE + struct.pack("!BBH", 0x21, 0x11, len(body)) + body
    body = s.packed + d.packed + struct.pack("!HH", source[1], destination[1])
    return V2_SIGNATURE + struct.pack("!BBH", 0x21, 0x21, len(body)) + body
