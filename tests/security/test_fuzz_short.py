"""A short fuzz run in the test command: the fuzzing/ targets driven by hypothesis.

The long run is ``python3 fuzzing/run.py TARGET -max_total_time=3600`` (atheris,
coverage-guided) or ``python3 fuzzing/run.py all --hypothesis --examples 100000``.
"""

from __future__ import annotations

from fuzzing.targets import (
    build_stream,
    frames,
    frames_deflate,
    frames_structured,
    http_request,
    http_response,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SHORT = settings(max_examples=150, deadline=None, database=None,
                 suppress_health_check=list(HealthCheck))

# Pieces of real handshakes, so that the examples get past the first line.
FIELDS = [b"Host: x", b"Upgrade: websocket", b"Connection: Upgrade",
          b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", b"Sec-WebSocket-Version: 13",
          b"Content-Length: 0", b"X-A: \x00", b" folded", b"X-B:\tv", b"Bad Name: v",
          b"Sec-WebSocket-Extensions: permessage-deflate; a=\"b\", c", b"\r", b"\n", b""]
FIRST = [b"GET / HTTP/1.1", b"GET /x?y HTTP/1.0", b"POST / HTTP/1.1", b"GET  / HTTP/1.1",
         b"HTTP/1.1 101 Switching Protocols", b"HTTP/1.0 404 Nope", b"HTTP/1.1 1xx x",
         b"\x16\x03\x01"]


@st.composite
def heads(draw: st.DrawFn) -> bytes:
    lines = [draw(st.sampled_from(FIRST))]
    lines += draw(st.lists(st.one_of(st.sampled_from(FIELDS), st.binary(max_size=20)),
                           max_size=12))
    sep = draw(st.sampled_from([b"\r\n", b"\r\n", b"\n"]))
    tail = draw(st.sampled_from([b"\r\n\r\n", b"\r\n", b"", b"\r\n\r\nGET / HTTP/1.1\r\n"]))
    seed = draw(st.binary(min_size=2, max_size=2))
    return seed + sep.join(lines) + tail


@SHORT
@given(st.one_of(heads(), st.binary(max_size=512)))
def test_fuzz_http_request(data: bytes) -> None:
    http_request(data)


@SHORT
@given(st.one_of(heads(), st.binary(max_size=512)))
def test_fuzz_http_response(data: bytes) -> None:
    http_response(data)


@SHORT
@given(st.binary(max_size=2048))
def test_fuzz_frames_raw(data: bytes) -> None:
    frames(data)


@SHORT
@given(st.binary(max_size=2048))
def test_fuzz_frames_deflate_raw(data: bytes) -> None:
    frames_deflate(data)


@SHORT
@given(st.binary(max_size=1024))
def test_fuzz_frames_structured(data: bytes) -> None:
    frames_structured(data)


def test_structured_streams_are_mostly_valid_frames() -> None:
    """The generator reaches past the frame parser: a sample stream parses to events."""
    from tether.core.protocol import Protocol, Role

    p = Protocol(Role.SERVER)
    p.receive_data(build_stream(bytes([0x17, 5]) + b"hello" + b"\x01\x02\x03\x04"))
    assert p.failure is None
    assert [getattr(e, "data", None) for e in p.events_received()] == [b"hello"]
