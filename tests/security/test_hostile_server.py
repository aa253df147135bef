"""A hostile server against tether's client: the client checks, fails right, stays bounded."""

from __future__ import annotations

import asyncio
import struct
import zlib
from collections.abc import Awaitable, Callable

import pytest

import tether
from tether.core.handshake import accept_key

from ..asyncio.conftest import run
from .test_faults import traced

HOST = "127.0.0.1"
Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter, str], Awaitable[None]]


async def read_key(reader: asyncio.StreamReader) -> str:
    head = await reader.readuntil(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"sec-websocket-key":
            return value.strip().decode()
    raise AssertionError("no key")


def answer(key: str, *extra: str, accept: str | None = None) -> bytes:
    lines = ["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade",
             f"Sec-WebSocket-Accept: {accept if accept is not None else accept_key(key)}",
             *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def with_server(script: Script, **connect_options: object) -> BaseException | None:
    """Run ``script`` as the server; connect and read one message; what was raised."""
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await script(reader, writer, await read_key(reader))
            await asyncio.sleep(5)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, HOST, 0)
    port = server.sockets[0].getsockname()[1]
    options = {"proxy": None, "open_timeout": 2, "close_timeout": 0.5, **connect_options}
    try:
        ws = await tether.connect(f"ws://{HOST}:{port}/", **options)  # type: ignore[arg-type]
        try:
            await ws.recv()
        finally:
            await ws.close()
    except Exception as exc:
        return exc
    finally:
        server.close()
    return None


def deflate(data: bytes) -> bytes:
    enc = zlib.compressobj(wbits=-15)
    return (enc.compress(data) + enc.flush(zlib.Z_SYNC_FLUSH))[:-4]


async def bad_accept(r: asyncio.StreamReader, w: asyncio.StreamWriter, key: str) -> None:
    w.write(answer(key, accept=accept_key("AAAAAAAAAAAAAAAAAAAAAA==")))


async def unoffered_extension(r: asyncio.StreamReader, w: asyncio.StreamWriter,
                              key: str) -> None:
    w.write(answer(key, "Sec-WebSocket-Extensions: permessage-deflate"))


async def unknown_extension(r: asyncio.StreamReader, w: asyncio.StreamWriter, key: str) -> None:
    w.write(answer(key, "Sec-WebSocket-Extensions: x-evil-ext"))


async def unoffered_subprotocol(r: asyncio.StreamReader, w: asyncio.StreamWriter,
                                key: str) -> None:
    w.write(answer(key, "Sec-WebSocket-Protocol: admin"))


async def two_subprotocols(r: asyncio.StreamReader, w: asyncio.StreamWriter, key: str) -> None:
    w.write(answer(key, "Sec-WebSocket-Protocol: chat, chat"))


async def endless_headers(r: asyncio.StreamReader, w: asyncio.StreamWriter, key: str) -> None:
    w.write(b"HTTP/1.1 101 Switching Protocols\r\n")
    for i in range(20_000):  # 1 MB of headers, never ending
        w.write(f"X-{i}: {'a' * 40}\r\n".encode())
        await w.drain()


async def huge_error_body(r: asyncio.StreamReader, w: asyncio.StreamWriter, key: str) -> None:
    w.write(b"HTTP/1.1 500 Oops\r\nContent-Length: 1000000000000\r\n\r\n")
    for _ in range(100):
        w.write(bytes(65536))
        await w.drain()


async def never_answers(r: asyncio.StreamReader, w: asyncio.StreamWriter, key: str) -> None:
    await asyncio.sleep(10)


async def masked_frame(r: asyncio.StreamReader, w: asyncio.StreamWriter, key: str) -> None:
    w.write(answer(key) + b"\x81\x85\x00\x00\x00\x00hello")


async def huge_length(r: asyncio.StreamReader, w: asyncio.StreamWriter, key: str) -> None:
    w.write(answer(key) + b"\x82\x7f" + struct.pack("!Q", 1 << 63))


async def too_big(r: asyncio.StreamReader, w: asyncio.StreamWriter, key: str) -> None:
    w.write(answer(key) + b"\x82\x7f" + struct.pack("!Q", 2 << 20))
    for _ in range(32):
        w.write(bytes(65536))
        await w.drain()


_BOMB: list[bytes] = []


def bomb() -> bytes:
    """100 MiB of zeros in ~100 KiB (computed once, before the test's clock starts)."""
    if not _BOMB:
        _BOMB.append(deflate(bytes(100 << 20)))
    return _BOMB[0]


async def deflate_bomb(r: asyncio.StreamReader, w: asyncio.StreamWriter, key: str) -> None:
    bomb_ = bomb()
    w.write(answer(key, "Sec-WebSocket-Extensions: permessage-deflate")
            + b"\xc2\x7f" + struct.pack("!Q", len(bomb_)) + bomb_)


async def rsv_bits(r: asyncio.StreamReader, w: asyncio.StreamWriter, key: str) -> None:
    w.write(answer(key) + b"\xa1\x01x")


async def bad_utf8(r: asyncio.StreamReader, w: asyncio.StreamWriter, key: str) -> None:
    w.write(answer(key) + b"\x81\x02\xc3\x28")


CASES: dict[str, tuple[Script, type[BaseException], int | None, dict[str, object]]] = {
    "bad_accept": (bad_accept, tether.InvalidHeader, None, {}),
    "unoffered_extension": (unoffered_extension, tether.NegotiationError, None,
                            {"compression": None}),
    "unknown_extension": (unknown_extension, tether.NegotiationError, None, {}),
    "unoffered_subprotocol": (unoffered_subprotocol, tether.NegotiationError, None,
                              {"subprotocols": ["chat"]}),
    "two_subprotocols": (two_subprotocols, tether.NegotiationError, None,
                         {"subprotocols": ["chat"]}),
    "endless_headers": (endless_headers, tether.InvalidMessage, None, {}),
    "huge_error_body": (huge_error_body, tether.InvalidStatus, None, {}),
    "never_answers": (never_answers, TimeoutError, None, {"open_timeout": 0.5}),
    "masked_server_frame": (masked_frame, tether.ConnectionClosedError, 1002, {}),
    "length_top_bit": (huge_length, tether.ConnectionClosedError, 1002, {}),
    "message_too_big": (too_big, tether.ConnectionClosedError, 1009, {}),
    "deflate_bomb": (deflate_bomb, tether.ConnectionClosedError, 1009, {}),
    "rsv_bits": (rsv_bits, tether.ConnectionClosedError, 1002, {}),
    "bad_utf8": (bad_utf8, tether.ConnectionClosedError, 1007, {}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_server(case: str) -> None:
    script, expected, sent_code, options = CASES[case]
    bomb()

    async def main() -> None:
        exc = await with_server(script, **options)
        assert isinstance(exc, expected), repr(exc)
        if sent_code is not None:
            assert isinstance(exc, tether.ConnectionClosed)
            assert exc.sent_code == sent_code

    with traced(f"client:{case}"):
        run(main)


def test_flooding_server_cannot_grow_a_client_that_does_not_read() -> None:
    """The client's queue is bounded: past max_queue it stops reading from the socket."""
    async def flood(r: asyncio.StreamReader, w: asyncio.StreamWriter, key: str) -> None:
        w.write(answer(key))
        frame = b"\x82\x7f" + struct.pack("!Q", 65536) + bytes(65536)
        for _ in range(3200):  # 200 MiB if nothing pushed back
            w.write(frame)
            await w.drain()

    async def main() -> None:
        server = await asyncio.start_server(
            lambda r, w: _run_script(flood, r, w), HOST, 0)
        port = server.sockets[0].getsockname()[1]
        ws = await tether.connect(f"ws://{HOST}:{port}/", proxy=None, max_queue=16)
        await asyncio.sleep(1.0)  # not reading
        assert len(ws._messages) <= 64
        await ws.recv()
        ws.abort()
        server.close()

    with traced("client:flood_not_reading"):
        run(main)


def test_ping_flood_against_a_client_that_does_not_read() -> None:
    async def pings(r: asyncio.StreamReader, w: asyncio.StreamWriter, key: str) -> None:
        w.write(answer(key))
        block = (b"\x89\x7d" + b"p" * 125) * 1000
        for _ in range(50):  # 50,000 pings
            w.write(block)
            await w.drain()
        w.write(b"\x81\x04done")

    async def main() -> None:
        server = await asyncio.start_server(
            lambda r, w: _run_script(pings, r, w), HOST, 0)
        port = server.sockets[0].getsockname()[1]
        ws = await tether.connect(f"ws://{HOST}:{port}/", proxy=None)
        assert await ws.recv() == "done"
        ws.abort()
        server.close()

    with traced("client:ping_flood"):
        run(main)


async def _run_script(script: Script, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
    try:
        await script(reader, writer, await read_key(reader))
        await asyncio.sleep(5)
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()
