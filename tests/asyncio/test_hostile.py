"""Hostile peers on raw sockets: the server answers, stays bounded and keeps serving others."""

from __future__ import annotations

import asyncio
import random
import struct
from typing import Any

import pytest

import tether
from tether.asyncio import ServerConnection
from tether.core.http11 import MAX_HEADER_BYTES, MAX_LINE_BYTES

from .conftest import (
    HOST,
    MASK,
    client_frame,
    http_exchange,
    raw_client,
    read_frame,
    read_response_head,
    read_to_eof,
    read_until_close,
    run,
    upgrade_request,
    wait_for,
)

#: Random bytes, the same on every run.
GARBAGE = random.Random(6455).randbytes(64 * 1024)


async def echo(ws: ServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


def only_connection(server: tether.Server) -> ServerConnection:
    (conn,) = server.connections
    return conn


async def flood(writer: asyncio.StreamWriter, data: bytes, times: int) -> None:
    """Write ``data`` repeatedly until done or the server hangs up."""
    try:
        for _ in range(times):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass


def test_garbage_instead_of_http_gets_400_and_close() -> None:
    async def main() -> None:
        async with tether.serve(echo, HOST, 0) as server:
            reader, writer = await asyncio.open_connection(HOST, server.port)
            flooding = asyncio.ensure_future(flood(writer, GARBAGE, 200))
            status, _ = await read_response_head(reader)
            assert status == 400
            await read_to_eof(reader)  # and the server hangs up
            await flooding
            writer.close()
            assert not server.connections

    run(main)


@pytest.mark.parametrize("garbage", [b"\x00" * 100, b"hello world\n", b"GET\x00/ HTTP/1.1\r\n",
                                     b"\r\n\r\n", b"GET / HTTP/1.1\nHost: x\n\n"])
def test_small_garbage_gets_400_at_once(garbage: bytes) -> None:
    async def main() -> None:
        async with tether.serve(echo, HOST, 0, open_timeout=None) as server:
            # No open_timeout: the answer comes from the bytes, not from a timer.
            status, _, _ = await http_exchange(server.port, garbage)
            assert status == 400

    run(main)


def test_oversized_header_block_gets_431() -> None:
    async def main() -> None:
        async with tether.serve(echo, HOST, 0) as server:
            line = b"X-Padding: " + b"a" * 1000 + b"\r\n"
            data = b"GET / HTTP/1.1\r\nHost: x\r\n" + line * (MAX_HEADER_BYTES // len(line) + 2)
            status, headers, _ = await http_exchange(server.port, data)
            assert status == 431
            assert headers["Connection"] == "close"

    run(main)


def test_endless_header_line_gets_431() -> None:
    async def main() -> None:
        async with tether.serve(echo, HOST, 0) as server:
            reader, writer = await asyncio.open_connection(HOST, server.port)
            writer.write(b"GET / HTTP/1.1\r\nX-Long: ")
            flooding = asyncio.ensure_future(flood(writer, b"a" * 4096, 1000))
            status, _ = await read_response_head(reader)
            assert status == 431
            await read_to_eof(reader)
            await flooding
            writer.close()

    run(main)


def test_too_many_headers_get_431() -> None:
    async def main() -> None:
        async with tether.serve(echo, HOST, 0) as server:
            data, _ = upgrade_request(extra="".join(f"X-{i}: v\r\n" for i in range(200)))
            status, _, _ = await http_exchange(server.port, data)
            assert status == 431

    run(main)


def test_request_line_too_long_gets_431() -> None:
    async def main() -> None:
        async with tether.serve(echo, HOST, 0) as server:
            data = b"GET /" + b"a" * MAX_LINE_BYTES + b" HTTP/1.1\r\nHost: x\r\n\r\n"
            status, _, _ = await http_exchange(server.port, data)
            assert status == 431

    run(main)


def test_huge_frame_header_gets_1009_without_buffering() -> None:
    async def main() -> None:
        async with tether.serve(echo, HOST, 0) as server:
            reader, writer = await raw_client(server.port)
            conn = only_connection(server)
            # Declares 2**62 bytes; only the header (and a little payload) arrives.
            writer.write(b"\x82\xff" + struct.pack("!Q", 2**62) + MASK + b"\x00" * 1000)
            _frames, code = await read_until_close(reader)
            assert code == 1009
            assert await read_to_eof(reader) == b""
            assert conn.protocol is not None and len(conn.protocol._buf) == 0
            writer.close()

    run(main)


def test_frame_just_over_max_size_gets_1009_on_its_header() -> None:
    async def main() -> None:
        async with tether.serve(echo, HOST, 0, max_size=1000) as server:
            reader, writer = await raw_client(server.port)
            writer.write(client_frame(0x2, bytes(1001))[:8])  # header and mask only
            _frames, code = await read_until_close(reader)
            assert code == 1009
            writer.close()

    run(main)


def test_many_empty_continuation_frames_hold_no_memory() -> None:
    async def main() -> None:
        async with tether.serve(echo, HOST, 0) as server:
            reader, writer = await raw_client(server.port)
            conn = only_connection(server)
            writer.write(client_frame(0x1, b"start ", fin=False))
            batch = client_frame(0x0, b"", fin=False) * 10_000
            for _ in range(20):  # 200,000 empty frames
                writer.write(batch)
                await writer.drain()
                p = conn.protocol
                assert p is not None
                assert len(p._msg_text) <= 1 and len(p._msg_chunks) == 0
                assert len(p._buf) <= len(batch)
            writer.write(client_frame(0x0, b"end", fin=True))
            b0, b1 = await reader.readexactly(2)
            assert (b0, await reader.readexactly(b1)) == (0x81, b"start end")
            assert len(conn.protocol._msg_text) == 0  # type: ignore[union-attr]
            writer.close()

    run(main)


def test_invalid_utf8_fails_before_a_big_frame_completes() -> None:
    async def main() -> None:
        async with tether.serve(echo, HOST, 0, max_size=2**24) as server:
            reader, writer = await raw_client(server.port)
            frame = client_frame(0x1, b"\xff" + bytes(2**23))
            writer.write(frame[:1000])  # the rest never comes
            _frames, code = await read_until_close(reader)
            assert code == 1007
            writer.close()

    run(main)


def test_other_connections_keep_working_while_one_misbehaves() -> None:
    async def main() -> None:
        async with tether.serve(echo, HOST, 0, open_timeout=None) as server:
            good = await tether.connect(f"ws://{HOST}:{server.port}/")
            # A peer flooding garbage after the handshake, one flooding during it,
            # one that sends a header and stalls, and one that never says anything.
            _r1, w1 = await raw_client(server.port)
            bad_frames = asyncio.ensure_future(flood(w1, GARBAGE, 50))
            r2, w2 = await asyncio.open_connection(HOST, server.port)
            answer = asyncio.ensure_future(read_response_head(r2))
            bad_http = asyncio.ensure_future(flood(w2, b"X" * 65536, 50))
            _r3, w3 = await raw_client(server.port)
            w3.write(b"\x82\xfe\x10\x00" + MASK + b"partial")
            _r4, w4 = await asyncio.open_connection(HOST, server.port)
            for i in range(50):
                await good.send(f"msg {i}")
                assert await good.recv() == f"msg {i}"
                assert isinstance(await good.ping(), float)
            await bad_frames
            await bad_http
            status, _ = await answer
            assert status == 431  # an endless method
            await good.close()
            assert good.close_code == 1000
            for w in (w1, w2, w3, w4):
                w.close()

    run(main)


def test_flood_during_slow_handshake_hook_is_not_buffered() -> None:
    state: dict[str, Any] = {}

    async def slow_hook(ws: ServerConnection, request: Any) -> None:
        state["conn"] = ws
        await state["release"].wait()

    async def main() -> None:
        state["release"] = asyncio.Event()
        async with tether.serve(echo, HOST, 0, process_request=slow_hook) as server:
            reader, writer = await asyncio.open_connection(HOST, server.port)
            data, _ = upgrade_request()
            writer.write(data)
            flooding = asyncio.ensure_future(flood(writer, client_frame(0x2, bytes(60000)), 500))
            await wait_for(lambda: "conn" in state)
            conn: ServerConnection = state["conn"]
            for _ in range(20):
                await asyncio.sleep(0.01)
                # Bounded by what one read brings, not by what the peer sends.
                assert len(conn._buf) <= 512 * 1024
            state["release"].set()
            status, _ = await read_response_head(reader)
            assert status == 101
            flooding.cancel()
            writer.close()

    run(main)


def test_slow_byte_by_byte_handshake_still_works() -> None:
    async def main() -> None:
        async with tether.serve(echo, HOST, 0) as server:
            reader, writer = await asyncio.open_connection(HOST, server.port)
            data, _ = upgrade_request()
            for i in range(len(data)):
                writer.write(data[i:i + 1])
                await writer.drain()
                await asyncio.sleep(0)
            status, _ = await read_response_head(reader)
            assert status == 101
            writer.write(client_frame(0x8, b"\x03\xe8"))
            _frames, code = await read_until_close(reader)
            assert code == 1000
            writer.close()

    run(main)


def test_ping_flood_without_reading_does_not_buffer_pongs() -> None:
    async def main() -> None:
        async with tether.serve(echo, HOST, 0) as server:
            reader, writer = await raw_client(server.port, rcvbuf=64 * 1024)
            conn = only_connection(server)
            pings = client_frame(0x9, b"p" * 125) * 1000  # 131 KB of pings
            for _ in range(200):  # 26 MB of pings, never reading a pong
                writer.write(pings)
                await writer.drain()
            await asyncio.sleep(0.05)
            assert conn.transport is not None
            # Bounded by the write limit and one read's worth of pongs, not by the flood.
            assert conn.transport.get_write_buffer_size() <= conn.write_limit + 512 * 1024
            # Once the peer reads, it gets pongs (the latest ping answered last).
            writer.write(client_frame(0x9, b"last"))
            payload = b""
            while payload != b"last":
                b0, payload = await read_frame(reader)
                assert b0 == 0x8A
            writer.close()

    run(main)


def test_messages_before_a_bad_frame_are_answered_before_the_close() -> None:
    """A valid message, a bad frame and a ping in one write: the handler's echo of the
    message goes out, then the 1002 close; the ping after the bad frame is never answered
    (Autobahn 3.2-4.2.5 "strict" behaviour)."""

    async def main() -> None:
        async with tether.serve(echo, HOST, 0) as server:
            reader, writer = await raw_client(server.port)
            writer.write(client_frame(0x1, b"Hello, world!")
                         + client_frame(0x1, b"bad", rsv=0x20)
                         + client_frame(0x9, b"ping"))
            frames, code = await read_until_close(reader)
            assert frames == [(0x81, b"Hello, world!")]
            assert code == 1002
            writer.close()

    run(main)


def test_a_handler_that_stops_reading_still_gets_the_connection_failed() -> None:
    """The deferred 1002 waits for the application at most close_timeout."""

    async def idle(ws: ServerConnection) -> None:
        await asyncio.sleep(30)

    async def main() -> None:
        async with tether.serve(idle, HOST, 0, close_timeout=0.2) as server:
            reader, writer = await raw_client(server.port)
            writer.write(client_frame(0x1, b"first") + client_frame(0x0, b"orphan"))
            frames, code = await read_until_close(reader)
            assert frames == []
            assert code == 1002
            writer.close()

    run(main)
