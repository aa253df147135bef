"""Helpers for the asyncio engine's tests: running coroutines, raw-socket peers.

Every test talks over real sockets on 127.0.0.1.  Raw peers are asyncio streams
that speak bytes we write by hand, to play a broken or hostile peer.
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tether.core.frames import build_frame
from tether.core.handshake import accept_key
from tether.core.http11 import Headers, parse_response

HOST = "127.0.0.1"
#: A guard against a test hanging forever; tests never rely on it for behaviour.
GUARD = 20.0

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is in the test requirements
    uvloop = None

LOOP_FACTORIES: list[Any] = [None]
if uvloop is not None:
    LOOP_FACTORIES.append(uvloop.new_event_loop)


def run(main: Callable[[], Awaitable[Any]], loop_factory: Any = None) -> Any:
    """Run ``main()`` on a fresh event loop (asyncio's, or one from ``loop_factory``)."""

    async def guarded() -> Any:
        async with asyncio.timeout(GUARD):
            return await main()

    # asyncio.run() takes loop_factory from Python 3.12; Runner has it in 3.11.
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(guarded())


@pytest.fixture(params=LOOP_FACTORIES, ids=["asyncio", "uvloop"][: len(LOOP_FACTORIES)])
def loop_factory(request: pytest.FixtureRequest) -> Any:
    """Run the test once on asyncio's loop and once on uvloop's."""
    return request.param


# ------------------------------------------------------------------ raw peers

MASK = b"\x11\x22\x33\x44"


def client_frame(opcode: int, payload: bytes = b"", fin: bool = True, rsv: int = 0) -> bytes:
    """A frame as a client sends it (masked)."""
    return build_frame(opcode, payload, fin, rsv, mask=MASK)


def upgrade_request(path: str = "/", host: str = "localhost", key: str | None = None,
                    extra: str = "") -> tuple[bytes, str]:
    key = key or base64.b64encode(os.urandom(16)).decode()
    data = (f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\n{extra}\r\n").encode()
    return data, key


async def read_response_head(reader: asyncio.StreamReader) -> tuple[int, Headers]:
    head = await reader.readuntil(b"\r\n\r\n")
    parsed = parse_response(head)
    assert parsed is not None
    return parsed[0].status, parsed[0].headers


async def http_exchange(port: int, data: bytes) -> tuple[int, Headers, bytes]:
    """Send raw bytes, read the HTTP answer and everything until the server closes."""
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        writer.write(data)
        status, headers = await read_response_head(reader)
        body = await reader.read()  # the server closes after an error answer
        return status, headers, body
    finally:
        writer.close()


Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def raw_client(port: int, path: str = "/", extra: str = "",
                     rcvbuf: int | None = None) -> Stream:
    """A hand-made client that completes the opening handshake and stops there."""
    if rcvbuf is not None:
        import socket

        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (HOST, port))
        reader, writer = await asyncio.open_connection(sock=sock)
    else:
        reader, writer = await asyncio.open_connection(HOST, port)
    data, key = upgrade_request(path, extra=extra)
    writer.write(data)
    status, headers = await read_response_head(reader)
    assert status == 101, status
    assert headers["Sec-WebSocket-Accept"] == accept_key(key)
    return reader, writer


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Read one unmasked frame (as a server sends it): ``(first byte, payload)``."""
    b0, b1 = await reader.readexactly(2)
    assert not b1 & 0x80, "a server frame is masked"
    n = b1 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", await reader.readexactly(2))
    elif n == 127:
        (n,) = struct.unpack("!Q", await reader.readexactly(8))
    return b0, await reader.readexactly(n)


async def read_until_close(
        reader: asyncio.StreamReader) -> tuple[list[tuple[int, bytes]], int | None]:
    """Read frames until a close frame: ``(frames before it, its code)``."""
    frames = []
    while True:
        b0, payload = await read_frame(reader)
        if b0 & 0x0F == 0x8:
            return frames, struct.unpack("!H", payload[:2])[0] if payload else None
        frames.append((b0, payload))


async def wait_for(predicate: Callable[[], bool], what: str = "condition") -> None:
    """Poll ``predicate`` until true (the GUARD timeout fails the test otherwise)."""
    while not predicate():
        await asyncio.sleep(0.005)


async def read_to_eof(reader: asyncio.StreamReader) -> bytes:
    """Everything until the peer closes (a reset counts as closed)."""
    chunks = []
    try:
        while chunk := await reader.read(65536):
            chunks.append(chunk)
    except ConnectionResetError:
        pass
    return b"".join(chunks)
