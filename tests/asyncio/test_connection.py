"""What both roles share: messages, closing, pings, keepalive, timeouts, backpressure."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import AsyncIterator
from typing import Any

import pytest

import tether
from tether import (
    ConcurrencyError,
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    State,
)
from tether.asyncio import ClientConnection, ServerConnection

from .conftest import (
    HOST,
    client_frame,
    raw_client,
    read_frame,
    read_to_eof,
    read_until_close,
    run,
    wait_for,
)

NO_COMPRESSION: dict[str, Any] = {"compression": None}


async def echo(ws: ServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


@contextlib.asynccontextmanager
async def echo_pair(**server_options: Any) -> AsyncIterator[ClientConnection]:
    client_options = server_options.pop("client_options", {})
    async with (
        tether.serve(echo, HOST, 0, **server_options) as server,
        tether.connect(f"ws://{HOST}:{server.port}/", **client_options) as ws,
    ):
        yield ws


# ------------------------------------------------------------------ messages


@pytest.mark.parametrize("compression", [None, "deflate"])
def test_echo_text_binary_empty(loop_factory: Any, compression: str | None) -> None:
    async def main() -> None:
        async with echo_pair(compression=compression,
                             client_options={"compression": compression}) as ws:
            for message in ["hello", "h\xe9llo \U0001f600", "", b"\x00\xff", b"", bytearray(b"ba"),
                            memoryview(b"mv")]:
                await ws.send(message)
                got = await ws.recv()
                expected = bytes(message) if not isinstance(message, str) else message
                assert got == expected
                assert type(got) is type(expected)

    run(main, loop_factory)


def test_echo_large_messages(loop_factory: Any) -> None:
    big_text = "\u20ac" * (2 * 2**20)  # 6 MiB of UTF-8
    big_binary = bytes(range(256)) * (5 * 2**12)  # 5 MiB

    async def main() -> None:
        async with echo_pair(max_size=None, client_options={"max_size": None}, **NO_COMPRESSION
                             ) as ws:
            await ws.send(big_text)
            assert await ws.recv() == big_text
            await ws.send(big_binary)
            assert await ws.recv() == big_binary

    run(main, loop_factory)


def test_many_small_messages_keep_order() -> None:
    async def main() -> None:
        async with echo_pair(**NO_COMPRESSION) as ws:
            for i in range(500):
                await ws.send(str(i))
            assert [await ws.recv() for _ in range(500)] == [str(i) for i in range(500)]

    run(main)


def test_send_fragmented_from_list_and_async_generator() -> None:
    frames_seen: list[tuple[str | bytes, bool]] = []

    async def handler(ws: ServerConnection) -> None:
        ws.frame_listener = lambda data, last: frames_seen.append((data, last))
        async for message in ws:
            await ws.send(message)

    async def chunks() -> AsyncIterator[bytes]:
        for part in (b"one", b"", b"two"):
            await asyncio.sleep(0)
            yield part

    async def main() -> None:
        async with (
            tether.serve(handler, HOST, 0, **NO_COMPRESSION) as server,
            tether.connect(f"ws://{HOST}:{server.port}/", **NO_COMPRESSION) as ws,
        ):
            await ws.send(["caf", "\xe9", " au lait"])
            assert await ws.recv() == "caf\xe9 au lait"
            await ws.send(chunks())
            assert await ws.recv() == b"onetwo"
            await ws.send(b for b in [b"a", bytearray(b"b"), memoryview(b"c")])
            assert await ws.recv() == b"abc"
            await ws.send([])  # nothing to send: no message
            await ws.send("after")
            assert await ws.recv() == "after"

    run(main)


def test_fragmented_send_type_mismatch_fails_the_message() -> None:
    async def main() -> None:
        async with echo_pair(**NO_COMPRESSION) as ws:
            with pytest.raises(TypeError):
                await ws.send(["text", b"bytes"])
            # A half-sent message can't be finished or interrupted: the connection fails.
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            assert ws.state is State.CLOSED
            assert ws.protocol is not None and ws.protocol.close_sent is not None
            assert ws.protocol.close_sent.code == 1011

    run(main)


def test_fragmented_send_from_failing_generator_fails_the_connection() -> None:
    async def broken() -> AsyncIterator[str]:
        yield "start"
        raise RuntimeError("producer broke")

    async def main() -> None:
        async with echo_pair(**NO_COMPRESSION) as ws:
            with pytest.raises(RuntimeError):
                await ws.send(broken())
            with pytest.raises(ConnectionClosedError):
                await ws.send("more")

    run(main)


def test_send_rejects_other_types() -> None:
    async def main() -> None:
        async with echo_pair(**NO_COMPRESSION) as ws:
            with pytest.raises(TypeError):
                await ws.send({"a": 1})  # type: ignore[arg-type]
            with pytest.raises(TypeError):
                await ws.send(42)  # type: ignore[arg-type]
            await ws.send("still open")
            assert await ws.recv() == "still open"

    run(main)


# ------------------------------------------------------------------ closing


def test_recv_after_normal_close_raises_ok() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send("last")
        await ws.close(1000, "done")

    async def main() -> None:
        async with (
            tether.serve(handler, HOST, 0) as server,
            tether.connect(f"ws://{HOST}:{server.port}/") as ws,
        ):
            assert await ws.recv() == "last"
            with pytest.raises(ConnectionClosedOK) as info:
                await ws.recv()
            assert info.value.code == 1000
            assert info.value.reason == "done"
            assert info.value.rcvd_code == 1000
            assert info.value.sent_code == 1000
            assert info.value.rcvd_then_sent is True
            with pytest.raises(ConnectionClosedOK):
                await ws.recv()  # and again
            assert ws.state is State.CLOSED
            assert ws.close_code == 1000
            assert ws.close_reason == "done"

    run(main)


def test_async_for_ends_on_normal_close() -> None:
    async def handler(ws: ServerConnection) -> None:
        for i in range(3):
            await ws.send(str(i))

    async def main() -> None:
        async with (
            tether.serve(handler, HOST, 0) as server,
            tether.connect(f"ws://{HOST}:{server.port}/") as ws,
        ):
            assert [m async for m in ws] == ["0", "1", "2"]
            assert ws.close_code == 1000

    run(main)


@pytest.mark.parametrize("code,reason,error", [
    (1001, "going away", False),
    (1008, "policy", True),
    (4000, "app \u20ac", True),
    (3999, "", True),
])
def test_close_code_and_reason_reach_the_other_side(code: int, reason: str, error: bool) -> None:
    seen: asyncio.Queue[ConnectionClosed] = asyncio.Queue()

    async def handler(ws: ServerConnection) -> None:
        try:
            await ws.recv()
        except ConnectionClosed as exc:
            seen.put_nowait(exc)

    async def main() -> None:
        async with (
            tether.serve(handler, HOST, 0) as server,
            tether.connect(f"ws://{HOST}:{server.port}/") as ws,
        ):
            await ws.close(code, reason)
            exc = await seen.get()
            assert isinstance(exc, ConnectionClosedError if error else ConnectionClosedOK)
            assert (exc.code, exc.reason) == (code, reason)
            # The server echoed the code; the client sees its own close come back.
            assert ws.close_code == code
            assert ws.state is State.CLOSED

    run(main)


def test_async_for_raises_on_error_close() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send("x")
        await ws.close(4001, "nope")

    async def main() -> None:
        async with (
            tether.serve(handler, HOST, 0) as server,
            tether.connect(f"ws://{HOST}:{server.port}/") as ws,
        ):
            got = []
            with pytest.raises(ConnectionClosedError) as info:
                async for message in ws:
                    got.append(message)
            assert got == ["x"]
            assert info.value.code == 4001

    run(main)


def test_send_on_closed_connection_raises() -> None:
    async def main() -> None:
        async with echo_pair() as ws:
            await ws.close()
            with pytest.raises(ConnectionClosedOK):
                await ws.send("late")
            with pytest.raises(ConnectionClosed):
                await ws.ping()
            with pytest.raises(ConnectionClosed):
                await ws.pong()
            await ws.close()  # closing twice is fine

    run(main)


def test_messages_received_before_close_are_still_read() -> None:
    async def handler(ws: ServerConnection) -> None:
        for i in range(5):
            await ws.send(str(i))

    async def main() -> None:
        async with (
            tether.serve(handler, HOST, 0) as server,
            tether.connect(f"ws://{HOST}:{server.port}/") as ws,
        ):
            await ws.wait_closed()
            assert [await ws.recv() for _ in range(5)] == ["0", "1", "2", "3", "4"]
            with pytest.raises(ConnectionClosedOK):
                await ws.recv()

    run(main)


def test_abrupt_disconnect_is_1006() -> None:
    got: asyncio.Queue[BaseException] = asyncio.Queue()

    async def handler(ws: ServerConnection) -> None:
        try:
            await ws.recv()
        except ConnectionClosed as exc:
            got.put_nowait(exc)

    async def main() -> None:
        async with tether.serve(handler, HOST, 0) as server:
            ws = await tether.connect(f"ws://{HOST}:{server.port}/")
            ws.abort()
            exc = await got.get()
            assert isinstance(exc, ConnectionClosedError)
            assert exc.code == 1006
            assert exc.rcvd_code is None and exc.sent_code is None
            await ws.wait_closed()
            with pytest.raises(ConnectionClosedError):
                await ws.recv()

    run(main)


# ------------------------------------------------------------------ ping and pong


def test_ping_returns_round_trip_time() -> None:
    async def main() -> None:
        async with echo_pair() as ws:
            rtt = await ws.ping()
            assert isinstance(rtt, float)
            assert rtt >= 0
            assert ws.latency == rtt
            assert isinstance(await ws.ping("text payload"), float)
            assert isinstance(await ws.ping(b"\x00\x01"), float)

    run(main)


def test_concurrent_pings_are_all_answered() -> None:
    async def main() -> None:
        async with echo_pair() as ws:
            rtts = await asyncio.gather(*(ws.ping() for _ in range(10)))
            assert all(isinstance(r, float) for r in rtts)

    run(main)


def test_ping_with_a_payload_already_waiting_is_refused() -> None:
    async def main() -> None:
        async with echo_pair() as ws:
            first = asyncio.ensure_future(ws.ping(b"same"))
            await asyncio.sleep(0)
            with pytest.raises(tether.UsageError):
                await ws.ping(b"same")
            assert isinstance(await first, float)

    run(main)


def test_pending_ping_fails_when_connection_closes() -> None:
    async def main() -> None:
        srv = await asyncio.start_server(_raw_server_never_answers, HOST, 0)
        port = srv.sockets[0].getsockname()[1]
        async with srv:
            ws = await tether.connect(f"ws://{HOST}:{port}/", ping_interval=None)
            pinging = asyncio.ensure_future(ws.ping())
            await asyncio.sleep(0)
            ws.abort()
            with pytest.raises(ConnectionClosedError):
                await pinging

    run(main)


async def _raw_server_never_answers(reader: asyncio.StreamReader,
                                    writer: asyncio.StreamWriter) -> None:
    """A server that completes the handshake, then reads and never writes."""
    from tether.core.handshake import accept_key
    from tether.core.http11 import parse_request

    head = await reader.readuntil(b"\r\n\r\n")
    parsed = parse_request(head)
    assert parsed is not None
    key = parsed[0].headers["Sec-WebSocket-Key"]
    writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                 b"Connection: Upgrade\r\nSec-WebSocket-Accept: "
                 + accept_key(key).encode() + b"\r\n\r\n")
    await read_to_eof(reader)
    writer.close()


def test_unsolicited_pong_is_harmless() -> None:
    async def main() -> None:
        async with echo_pair() as ws:
            await ws.pong(b"heartbeat")
            await ws.pong("text")
            await ws.send("still fine")
            assert await ws.recv() == "still fine"

    run(main)


# ------------------------------------------------------------------ keepalive and timeouts


def test_keepalive_closes_connection_whose_peer_never_answers() -> None:
    seen: asyncio.Queue[ConnectionClosed] = asyncio.Queue()

    async def handler(ws: ServerConnection) -> None:
        try:
            await ws.recv()
        except ConnectionClosed as exc:
            seen.put_nowait(exc)

    async def main() -> None:
        async with tether.serve(handler, HOST, 0, ping_interval=0.2, ping_timeout=0.2,
                                close_timeout=0.5) as server:
            reader, writer = await raw_client(server.port)
            frames, code = await read_until_close(reader)
            assert frames and all(b0 == 0x89 for b0, _ in frames)  # pings, never answered
            assert code == 1011
            assert await read_to_eof(reader) == b""  # then the server drops TCP
            exc = await seen.get()
            assert isinstance(exc, ConnectionClosedError)
            assert exc.sent_code == 1011
            assert exc.rcvd_code is None
            writer.close()

    run(main)


def test_keepalive_keeps_a_healthy_connection_open() -> None:
    async def main() -> None:
        async with echo_pair(ping_interval=0.05, ping_timeout=5,
                             client_options={"ping_interval": 0.05, "ping_timeout": 5}) as ws:
            pong_count = 0

            def on_pong(latency: float, payload: bytes) -> None:
                nonlocal pong_count
                pong_count += 1

            ws.pong_listener = on_pong
            await wait_for(lambda: pong_count >= 3)  # several keepalive rounds
            await ws.send("alive")
            assert await ws.recv() == "alive"
            assert ws.state is State.OPEN

    run(main)


def test_client_keepalive_closes_connection_to_silent_server() -> None:
    async def main() -> None:
        srv = await asyncio.start_server(_raw_server_never_answers, HOST, 0)
        port = srv.sockets[0].getsockname()[1]
        async with srv:
            ws = await tether.connect(f"ws://{HOST}:{port}/", ping_interval=0.1,
                                      ping_timeout=0.1, close_timeout=0.2)
            with pytest.raises(ConnectionClosedError) as info:
                await ws.recv()
            assert info.value.sent_code == 1011

    run(main)


def test_open_timeout_closes_silent_tcp_connection() -> None:
    async def main() -> None:
        async with tether.serve(echo, HOST, 0, open_timeout=0.2) as server:
            reader, writer = await asyncio.open_connection(HOST, server.port)
            assert await read_to_eof(reader) == b""  # no request: no answer, just closed
            await wait_for(lambda: not server._connections)
            writer.close()

    run(main)


def test_open_timeout_closes_half_sent_request() -> None:
    async def main() -> None:
        async with tether.serve(echo, HOST, 0, open_timeout=0.2) as server:
            reader, writer = await asyncio.open_connection(HOST, server.port)
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")
            assert await read_to_eof(reader) == b""
            writer.close()

    run(main)


def test_close_timeout_drops_peer_that_never_answers_close() -> None:
    result: asyncio.Queue[ConnectionClosed] = asyncio.Queue()

    async def handler(ws: ServerConnection) -> None:
        await ws.close(1000, "bye")  # returns once close_timeout drops the peer
        try:
            await ws.recv()
        except ConnectionClosed as exc:
            result.put_nowait(exc)

    async def main() -> None:
        async with tether.serve(handler, HOST, 0, close_timeout=0.2, ping_interval=None) as server:
            reader, writer = await raw_client(server.port)
            _frames, code = await read_until_close(reader)
            assert code == 1000
            # We never answer: the server must drop the connection on its own.
            assert await read_to_eof(reader) == b""
            exc = await result.get()
            assert isinstance(exc, ConnectionClosedError)
            assert exc.sent_code == 1000 and exc.rcvd_code is None
            assert exc.code == 1006
            writer.close()

    run(main)


def test_client_close_timeout_drops_server_that_never_answers_close() -> None:
    async def main() -> None:
        srv = await asyncio.start_server(_raw_server_never_answers, HOST, 0)
        port = srv.sockets[0].getsockname()[1]
        async with srv:
            ws = await tether.connect(f"ws://{HOST}:{port}/", close_timeout=0.2)
            await ws.close()
            assert ws.state is State.CLOSED
            assert ws.close_code == 1006

    run(main)


# ------------------------------------------------------------------ backpressure


def listening_socket(rcvbuf: int) -> socket.socket:
    """A listening socket whose accepted connections have a small receive buffer."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.bind((HOST, 0))
    sock.listen()
    sock.setblocking(False)
    return sock


def test_read_backpressure_pauses_reading(loop_factory: Any) -> None:
    max_queue = 8
    message = bytes(16 * 1024)
    total = 800  # 12.8 MiB: far more than the socket buffers hold
    release = asyncio.Event
    state: dict[str, Any] = {}

    async def handler(ws: ServerConnection) -> None:
        state["conn"] = ws
        await state["release"].wait()
        count = 0
        async for got in ws:
            assert got == message
            count += 1
            if count == total:
                break
        state["received"] = count

    async def main() -> None:
        state["release"] = release()
        sock = listening_socket(64 * 1024)
        async with tether.serve(handler, sock=sock, max_queue=max_queue, **NO_COMPRESSION):
            port = sock.getsockname()[1]
            reader, writer = await asyncio.open_connection(HOST, port)
            from .conftest import upgrade_request

            data, _ = upgrade_request()
            writer.write(data)
            await reader.readuntil(b"\r\n\r\n")
            frame = client_frame(0x2, message)
            sent = 0

            async def flood() -> None:
                nonlocal sent
                for _ in range(total):
                    writer.write(frame)
                    await writer.drain()
                    sent += 1

            flooding = asyncio.ensure_future(flood())
            await wait_for(lambda: "conn" in state)
            conn: ServerConnection = state["conn"]
            assert conn.transport is not None
            await wait_for(lambda: not conn.transport.is_reading())  # type: ignore[union-attr]
            # While the handler doesn't read, the flood stalls in the socket buffers:
            # what the server holds stays bounded, whatever the flooder wants to send.
            bound = max_queue + (256 * 1024) // len(message) + 1
            for _ in range(20):
                await asyncio.sleep(0.01)
                assert len(conn._messages) <= bound
                assert not conn.transport.is_reading()
                assert conn.protocol is not None and len(conn.protocol._buf) <= 512 * 1024
            assert not flooding.done()
            assert sent < total
            # Once the handler reads, everything arrives.
            state["release"].set()
            await flooding
            await wait_for(lambda: "received" in state)
            assert state["received"] == total
            writer.close()

    run(main, loop_factory)


def test_close_works_while_reading_is_paused() -> None:
    state: dict[str, Any] = {}

    async def handler(ws: ServerConnection) -> None:
        state["conn"] = ws
        await wait_for(lambda: ws.transport is not None and not ws.transport.is_reading())
        await ws.close(1000, "enough")  # must not wait for close_timeout
        state["closed"] = ws.close_code

    async def main() -> None:
        async with (
            tether.serve(handler, HOST, 0, max_queue=2, close_timeout=None,
                         **NO_COMPRESSION) as server,
            tether.connect(f"ws://{HOST}:{server.port}/", **NO_COMPRESSION) as ws,
        ):
            with contextlib.suppress(ConnectionClosed):
                for _ in range(100):
                    await ws.send(bytes(1000))
            await wait_for(lambda: "closed" in state)
            assert state["closed"] == 1000

    run(main)


def test_write_backpressure_send_waits_for_slow_reader(loop_factory: Any) -> None:
    state: dict[str, Any] = {}
    chunk = bytes(256 * 1024)

    async def handler(ws: ServerConnection) -> None:
        state["conn"] = ws
        for sent in range(1, 65):  # 16 MiB: far more than the socket buffers hold
            await ws.send(chunk)
            state["sent"] = sent
        state["done"] = True
        await ws.wait_closed()

    async def main() -> None:
        async with tether.serve(handler, HOST, 0, write_limit=64 * 1024, **NO_COMPRESSION
                                ) as server:
            reader, writer = await raw_client(server.port, rcvbuf=64 * 1024)
            await wait_for(lambda: "conn" in state)
            conn: ServerConnection = state["conn"]
            await wait_for(lambda: conn._write_paused)
            for _ in range(20):
                await asyncio.sleep(0.01)
                assert "done" not in state  # send() waits while the peer doesn't read
                assert conn.transport is not None
                assert conn.transport.get_write_buffer_size() <= 64 * 1024 + len(chunk) + 16
            # Read everything: every send completes.
            for _ in range(64):
                b0, payload = await read_frame(reader)
                assert b0 == 0x82 and len(payload) == len(chunk)
            await wait_for(lambda: "done" in state)
            writer.close()

    run(main, loop_factory)


# ------------------------------------------------------------------ misuse


def test_concurrent_recv_is_a_concurrency_error() -> None:
    async def main() -> None:
        async with echo_pair() as ws:
            first = asyncio.ensure_future(ws.recv())
            await asyncio.sleep(0)
            with pytest.raises(ConcurrencyError):
                await ws.recv()
            await ws.send("x")
            assert await first == "x"

    run(main)


def test_concurrent_fragmented_sends_are_a_concurrency_error() -> None:
    gate = asyncio.Event

    async def main() -> None:
        go = gate()

        async def slow() -> AsyncIterator[str]:
            yield "a"
            await go.wait()
            yield "b"

        async with echo_pair() as ws:
            first = asyncio.ensure_future(ws.send(slow()))
            await asyncio.sleep(0.01)
            with pytest.raises(ConcurrencyError):
                await ws.send("interleaved")
            with pytest.raises(ConcurrencyError):
                await ws.send(["x", "y"])
            go.set()
            await first
            assert await ws.recv() == "ab"

    run(main)


def test_connection_properties() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send(f"{ws.path}|{ws.request_headers['X-Test']}")
        await ws.wait_closed()

    async def main() -> None:
        async with tether.serve(handler, HOST, 0) as server:
            async with tether.connect(f"ws://{HOST}:{server.port}/p?q=1",
                                      additional_headers={"X-Test": "yes"}) as ws:
                assert ws.state is State.OPEN
                assert ws.close_code is None and ws.close_reason is None
                assert ws.remote_address[:2] == (HOST, server.port)
                assert ws.local_address[0] == HOST
                assert ws.path == "/p?q=1"
                assert ws.response_headers["Upgrade"] == "websocket"
                assert ws.subprotocol is None
                assert await ws.recv() == "/p?q=1|yes"
                assert "OPEN" in repr(ws)
            assert ws.state is State.CLOSED

    run(main)


def test_client_frames_are_masked_on_the_wire() -> None:
    async def main() -> None:
        received = asyncio.get_running_loop().create_future()

        async def raw_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            from tether.core.handshake import accept_key

            head = await reader.readuntil(b"\r\n\r\n")
            key = next(line.split(b": ")[1] for line in head.split(b"\r\n")
                       if line.lower().startswith(b"sec-websocket-key"))
            writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                         b"Connection: Upgrade\r\nSec-WebSocket-Accept: "
                         + accept_key(key.decode()).encode() + b"\r\n\r\n")
            b0, b1 = await reader.readexactly(2)
            mask = await reader.readexactly(4) if b1 & 0x80 else b""
            payload = await reader.readexactly(b1 & 0x7F)
            received.set_result((b0, b1 & 0x80, mask, payload))
            writer.close()

        srv = await asyncio.start_server(raw_server, HOST, 0)
        async with srv:
            port = srv.sockets[0].getsockname()[1]
            ws = await tether.connect(f"ws://{HOST}:{port}/", **NO_COMPRESSION)
            await ws.send("hello")
            b0, masked, mask, payload = await received
            assert b0 == 0x81 and masked
            assert bytes(c ^ mask[i % 4] for i, c in enumerate(payload)) == b"hello"
            await ws.wait_closed()

    run(main)


def test_server_rejects_unmasked_client_frame_with_1002() -> None:
    async def main() -> None:
        async with tether.serve(echo, HOST, 0) as server:
            reader, writer = await raw_client(server.port)
            writer.write(b"\x81\x02hi")
            _frames, code = await read_until_close(reader)
            assert code == 1002
            assert await read_to_eof(reader) == b""
            writer.close()

    run(main)


def test_server_answers_ping_from_raw_client() -> None:
    async def main() -> None:
        async with tether.serve(echo, HOST, 0) as server:
            reader, writer = await raw_client(server.port)
            writer.write(client_frame(0x9, b"are you there"))
            assert await read_frame(reader) == (0x8A, b"are you there")
            writer.write(client_frame(0x8, struct.pack("!H", 1000)))
            _frames, code = await read_until_close(reader)
            assert code == 1000
            assert await read_to_eof(reader) == b""
            writer.close()

    run(main)


def test_cancelled_recv_loses_no_message() -> None:
    async def main() -> None:
        async with echo_pair() as ws:
            waiting = asyncio.ensure_future(ws.recv())
            await asyncio.sleep(0)
            waiting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiting
            await ws.send("kept")
            assert await ws.recv() == "kept"

    run(main)
