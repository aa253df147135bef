"""HTTP/1.1 request and response heads: parsing, limits, building."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tether.core.http11 import (
    MAX_HEADER_BYTES,
    MAX_HEADERS,
    MAX_LINE_BYTES,
    Headers,
    Request,
    Response,
    build_request,
    build_response,
    parse_request,
    parse_response,
)
from tether.exceptions import InvalidMessage

UPGRADE = (
    b"GET /chat?room=1 HTTP/1.1\r\n"
    b"Host: server.example.com\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Origin: http://example.com\r\n"
    b"Sec-WebSocket-Protocol: chat, superchat\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"\r\n"
)


def request_with(*header_lines: bytes, start: bytes = b"GET / HTTP/1.1") -> bytes:
    return start + b"\r\n" + b"".join(h + b"\r\n" for h in header_lines) + b"\r\n"


def invalid(data: bytes) -> InvalidMessage:
    with pytest.raises(InvalidMessage) as info:
        parse_request(data)
    return info.value


# ------------------------------------------------------------------ requests


def test_parse_upgrade_request() -> None:
    parsed = parse_request(UPGRADE)
    assert parsed is not None
    request, used = parsed
    assert used == len(UPGRADE)
    assert request.method == "GET"
    assert request.target == "/chat?room=1"
    assert request.version == "HTTP/1.1"
    assert request.headers["host"] == "server.example.com"
    assert request.headers.get("SEC-WEBSOCKET-KEY") == "dGhlIHNhbXBsZSBub25jZQ=="
    assert len(request.headers) == 7


def test_bytes_after_the_head_are_left_for_the_caller() -> None:
    frame = b"\x81\x85\x00\x00\x00\x00hello"
    parsed = parse_request(bytearray(UPGRADE + frame))
    assert parsed is not None
    assert parsed[1] == len(UPGRADE)


def test_incomplete_head_needs_more_bytes() -> None:
    assert parse_request(b"") is None
    assert parse_request(UPGRADE[:-2]) is None
    assert parse_request(UPGRADE[:-1]) is None


def test_request_one_byte_at_a_time() -> None:
    buf = bytearray()
    for i, byte in enumerate(UPGRADE):
        buf.append(byte)
        parsed = parse_request(buf)
        if i < len(UPGRADE) - 1:
            assert parsed is None
    assert parsed is not None
    assert parsed[0] == parse_request(UPGRADE)[0]  # type: ignore[index]


_token = st.text(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.!~*'", min_size=1, max_size=20
)
_value = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=40).map(str.strip)


@st.composite
def valid_requests(draw: st.DrawFn) -> bytes:
    target = "/" + draw(st.text("abcdefghijklmnopqrstuvwxyz0123456789/?=&%", max_size=30))
    fields = draw(st.lists(st.tuples(_token, _value), max_size=12))
    head = f"GET {target} HTTP/1.1\r\n" + "".join(f"{n}: {v}\r\n" for n, v in fields) + "\r\n"
    return head.encode()


@settings(max_examples=150, deadline=None)
@given(valid_requests(), st.binary(max_size=8))
def test_split_anywhere_gives_the_same_request(data: bytes, tail: bytes) -> None:
    whole = parse_request(data + tail)
    assert whole is not None
    for cut in range(len(data)):
        assert parse_request(data[:cut]) is None, cut
    request, used = whole
    assert used == len(data)
    again = parse_request(bytearray(data))
    assert again is not None and again[0] == request


def test_bare_lf_is_rejected() -> None:
    assert invalid(b"GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n").status == 400
    assert invalid(b"GET / HTTP/1.1\nHost: a\r\n\r\n").status == 400


def test_bare_lf_only_request_is_rejected_without_waiting() -> None:
    # A request that ends its lines with LF alone never contains CRLFCRLF: it must
    # be refused as soon as the bare LF is seen, not after the size limits.
    assert invalid(b"GET / HTTP/1.1\nHost: a\n\n").status == 400


def test_bare_cr_is_rejected() -> None:
    assert invalid(b"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n").status == 400


def test_obs_fold_is_rejected() -> None:
    exc = invalid(request_with(b"Host: a", b"X-Long: one", b" two"))
    assert exc.status == 400
    assert "folding" in str(exc)
    assert invalid(request_with(b"Host: a", b"X-Long: one", b"\ttwo")).status == 400


def test_whitespace_before_first_header_is_rejected() -> None:
    assert invalid(request_with(b" Host: a")).status == 400


@pytest.mark.parametrize("value", [b"a\x00b", b"a\x7fb", b"a\x01b", b"\x0b"])
def test_control_characters_in_values_are_rejected(value: bytes) -> None:
    assert invalid(request_with(b"Host: a", b"X-Bad: " + value)).status == 400


def test_tab_and_obs_text_in_values_are_accepted() -> None:
    parsed = parse_request(request_with(b"Host: a", b"X-Ok: one\ttwo \xe9"))
    assert parsed is not None
    assert parsed[0].headers["X-Ok"] == "one\ttwo \xe9"


def test_space_before_colon_is_rejected() -> None:
    assert invalid(request_with(b"Host : a")).status == 400
    assert invalid(request_with(b"Host\t: a")).status == 400


def test_optional_whitespace_around_values_is_stripped() -> None:
    parsed = parse_request(request_with(b"Host:   a  ", b"X:\tb\t"))
    assert parsed is not None
    assert parsed[0].headers.items() == [("Host", "a"), ("X", "b")]


@pytest.mark.parametrize("line", [b"NoColonHere", b": empty-name", b"Bad(Name): x", b"\xff: x"])
def test_malformed_header_lines_are_rejected(line: bytes) -> None:
    assert invalid(request_with(b"Host: a", line)).status == 400


@pytest.mark.parametrize(
    "start",
    [
        b"GET /",
        b"GET  / HTTP/1.1",
        b"GET / HTTP/1.1 extra",
        b"G(T / HTTP/1.1",
        b"GET /\x7f HTTP/1.1",
        b"GET \xff HTTP/1.1",
        b" GET / HTTP/1.1",
    ],
)
def test_malformed_request_lines_are_rejected(start: bytes) -> None:
    assert invalid(request_with(b"Host: a", start=start)).status == 400


def test_unsupported_version_is_505() -> None:
    assert invalid(request_with(b"Host: a", start=b"GET / HTTP/2.0")).status == 505


def test_http_10_request_parses() -> None:
    # HTTP/1.0 is valid HTTP; the handshake (not the parser) refuses to upgrade it.
    parsed = parse_request(request_with(b"Host: a", start=b"GET / HTTP/1.0"))
    assert parsed is not None
    assert parsed[0].version == "HTTP/1.0"


def test_garbage_is_rejected_as_soon_as_it_arrives() -> None:
    # No CRLF has arrived, but this can't be the start of a request line.
    assert invalid(b"\x00\x01\x02garbage").status == 400
    assert invalid(b"GET /\x00").status == 400
    assert invalid(b"GET / HTTQ").status == 400


# ------------------------------------------------------------------ limits


def test_long_line_is_431() -> None:
    long_value = b"x" * MAX_LINE_BYTES
    assert invalid(request_with(b"Host: a", b"X: " + long_value)).status == 431


def test_long_line_is_refused_before_its_end_arrives() -> None:
    data = b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"x" * MAX_LINE_BYTES
    assert invalid(data).status == 431


def test_line_at_the_limit_is_accepted() -> None:
    line = b"X: " + b"x" * (MAX_LINE_BYTES - 3)
    assert len(line) == MAX_LINE_BYTES
    assert parse_request(request_with(b"Host: a", line)) is not None


def test_too_many_headers_is_431() -> None:
    lines = [b"X-%d: v" % i for i in range(MAX_HEADERS + 1)]
    assert invalid(request_with(*lines)).status == 431
    assert parse_request(request_with(*lines[:MAX_HEADERS])) is not None


def test_header_block_too_large_is_431() -> None:
    lines = [b"X-%d: %s" % (i, b"v" * 4000) for i in range(MAX_HEADERS)]
    data = request_with(*lines)
    assert len(data) > MAX_HEADER_BYTES
    assert invalid(data).status == 431


def test_header_block_too_large_without_end_is_431() -> None:
    chunk = b"X: " + b"v" * 1000 + b"\r\n"
    data = b"GET / HTTP/1.1\r\n" + chunk * (MAX_HEADER_BYTES // len(chunk) + 1)
    assert invalid(data).status == 431


# ------------------------------------------------------------------ responses


def test_parse_response() -> None:
    data = (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
    )
    parsed = parse_response(data + b"\x81\x00")
    assert parsed is not None
    response, used = parsed
    assert used == len(data)
    assert response.status == 101
    assert response.reason == "Switching Protocols"
    assert response.headers["sec-websocket-accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_parse_response_without_reason() -> None:
    parsed = parse_response(b"HTTP/1.1 404\r\n\r\n")
    assert parsed is not None
    assert parsed[0].status == 404
    assert parsed[0].reason == ""


@pytest.mark.parametrize(
    "line", [b"HTTP/1.1 20 OK", b"HTTP/1.1 abc OK", b"HTTP/3 200 OK", b"ICY 200 OK"]
)
def test_malformed_status_lines_are_rejected(line: bytes) -> None:
    with pytest.raises(InvalidMessage):
        parse_response(line + b"\r\n\r\n")


def test_response_limits() -> None:
    with pytest.raises(InvalidMessage) as info:
        parse_response(b"HTTP/1.1 200 OK\r\nX: " + b"a" * MAX_LINE_BYTES)
    assert info.value.status == 431


# ------------------------------------------------------------------ building


def test_build_request_round_trip() -> None:
    request = Request("GET", "/a?b=c", Headers([("Host", "h"), ("X-One", "1"), ("X-One", "2")]))
    data = build_request(request)
    assert data.startswith(b"GET /a?b=c HTTP/1.1\r\nHost: h\r\n")
    parsed = parse_request(data)
    assert parsed is not None
    assert parsed[0] == request
    assert parsed[0].headers.get("x-one") == "1, 2"
    assert parsed[0].headers.get_all("x-one") == ["1", "2"]


def test_build_response_adds_content_length_to_non_101() -> None:
    data = build_response(Response(200, "OK", Headers([("Content-Type", "text/plain")]), b"hi"))
    assert data.endswith(b"\r\nContent-Length: 2\r\n\r\nhi")
    data = build_response(Response(101, "Switching Protocols", Headers([("Upgrade", "websocket")])))
    assert b"Content-Length" not in data


@pytest.mark.parametrize(
    "name,value",
    [("X", "a\r\nInjected: 1"), ("X", "a\nb"), ("X", "a\0"), ("Bad Name", "v"), ("", "v")],
)
def test_build_refuses_header_injection(name: str, value: str) -> None:
    with pytest.raises(ValueError):
        build_request(Request("GET", "/", Headers([(name, value)])))


def test_headers_mapping_behaviour() -> None:
    h = Headers()
    h.add("Set-Cookie", "a=1")
    h.add("set-cookie", "b=2")
    assert "SET-COOKIE" in h
    assert 42 not in h
    assert h.get_all("Set-Cookie") == ["a=1", "b=2"]
    h.set("SET-COOKIE", "c=3")
    assert h.items() == [("SET-COOKIE", "c=3")]
    assert h.get("missing") is None
    assert h.get("missing", "d") == "d"
    with pytest.raises(KeyError):
        h["missing"]
    assert list(h) == [("SET-COOKIE", "c=3")]


def test_header_strings_seen_before_are_shared_and_still_checked() -> None:
    from tether.core.http11 import parse_request

    head = (b"GET / HTTP/1.1\r\nHost: a\r\nX-Thing: :Host\r\nUpgrade: websocket\r\n\r\n")
    first, _ = parse_request(bytearray(head), 0) or (None, 0)
    second, _ = parse_request(bytearray(head), 0) or (None, 0)
    assert first.headers["X-Thing"] == ":Host"  # a value is never taken for a name
    assert first.headers["Upgrade"] is second.headers["Upgrade"]
    bad = head.replace(b"X-Thing: :Host", b"X-Thing: a\x01b")
    with pytest.raises(InvalidMessage):
        parse_request(bytearray(bad), 0)
    with pytest.raises(InvalidMessage):
        parse_request(bytearray(head.replace(b"X-Thing", b"X Thing")), 0)
