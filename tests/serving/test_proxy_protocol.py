"""PROXY protocol v1/v2 parser (sans I/O)."""

from __future__ import annotations

import struct

import pytest

from tether.core import proxy_protocol as pp


def test_v1_tcp4() -> None:
    data = b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nGET / HTTP/1.1\r\n"
    info, used = pp.parse(data)  # type: ignore[misc]
    assert info == pp.ProxyInfo(1, ("192.0.2.1", 56324), ("198.51.100.2", 443))
    assert data[used:] == b"GET / HTTP/1.1\r\n"


def test_v1_tcp6_and_unknown() -> None:
    info, _ = pp.parse(b"PROXY TCP6 2001:db8::1 2001:db8::2 1 2\r\n")  # type: ignore[misc]
    assert info.source == ("2001:db8::1", 1)
    info, used = pp.parse(b"PROXY UNKNOWN ffff::1 x y z\r\n")  # type: ignore[misc]
    assert info.source is None and used == 29


def test_v1_incremental() -> None:
    header = pp.build_v1(("10.1.2.3", 4000), ("10.0.0.1", 80))
    for i in range(len(header)):
        assert pp.parse(header[:i]) is None
    info, used = pp.parse(header)  # type: ignore[misc]
    assert info.source == ("10.1.2.3", 4000) and used == len(header)


@pytest.mark.parametrize("bad", [
    b"GET / HTTP/1.1\r\n\r\n",
    b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 80\r\n",
    b"PROXY TCP4 1.2.3.4 5.6.7.8 080 80\r\n",
    b"PROXY TCP4 ::1 ::1 1 2\r\n",
    b"PROXY TCP4 1.2.3.4\r\n",
    b"PROXY TCP4 " + b"1" * 120,
    b"PROXX",
    b"\r\n\r\n\x00\r\nQUIX\n",
])
def test_garbage_is_refused(bad: bytes) -> None:
    with pytest.raises(pp.ProxyProtocolError):
        pp.parse(bad)


def test_v2_ipv4_ipv6_local_and_incremental() -> None:
    for src, dst in ((("203.0.113.7", 5555), ("10.0.0.1", 443)),
                     (("2001:db8::7", 5555), ("2001:db8::1", 443))):
        header = pp.build_v2(src, dst)
        for i in range(len(header)):
            assert pp.parse(header[:i]) is None
        info, used = pp.parse(header + b"GET")  # type: ignore[misc]
        assert (info.version, info.source, info.destination, used) == (2, src, dst,
                                                                       len(header))
    info, used = pp.parse(pp.build_v2(None))  # type: ignore[misc]
    assert info.source is None and used == 16


def test_v2_tlvs_and_limits() -> None:
    body = bytes([127, 0, 0, 2, 127, 0, 0, 1]) + struct.pack("!HH", 1, 2)
    body += bytes([0x01]) + struct.pack("!H", 2) + b"h2"  # ALPN TLV
    header = pp.V2_SIGNATURE + struct.pack("!BBH", 0x21, 0x11, len(body)) + body
    info, _ = pp.parse(header)  # type: ignore[misc]
    assert info.tlvs == ((1, b"h2"),)
    with pytest.raises(pp.ProxyProtocolError):
        pp.parse(pp.V2_SIGNATURE + struct.pack("!BBH", 0x21, 0x11, 60000))
    with pytest.raises(pp.ProxyProtocolError):
        pp.parse(pp.V2_SIGNATURE + struct.pack("!BBH", 0x31, 0x11, 0))
