"""The asyncio client: the handshake against good and bad servers, options, failures."""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

import tether
from tether import (
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidHeader,
    InvalidMessage,
    InvalidStatus,
    InvalidUpgrade,
    InvalidURI,
    NegotiationError,
    State,
    UsageError,
)
from tether.asyncio import ServerConnection
from tether.core.handshake import accept_key
from tether.core.http11 import Request, parse_request

from .conftest import HOST, run

Respond = Callable[[Request, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def raw_server(respond: Respond) -> AsyncIterator[str]:
    """A hand-made server: reads the upgrade request, then lets ``respond`` answer."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            parsed = parse_request(head)
            assert parsed is not None
            await respond(parsed[0], reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, HOST, 0)
    async with server:
        yield f"ws://{HOST}:{server.sockets[0].getsockname()[1]}/"


def switching(request: Request, extra: bytes = b"", accept: str | None = None) -> bytes:
    key = request.headers["Sec-WebSocket-Key"]
    return (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + (accept or accept_key(key)).encode() + b"\r\n"
            + extra + b"\r\n")


async def echo_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Read client frames until a close frame, echo it, and close TCP as a server does."""
    while True:
        b0, b1 = await reader.readexactly(2)
        n = b1 & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", await reader.readexactly(2))
        elif n == 127:
            (n,) = struct.unpack("!Q", await reader.readexactly(8))
        mask = await reader.readexactly(4)
        payload = bytes(c ^ mask[i % 4] for i, c in enumerate(await reader.readexactly(n)))
        if b0 & 0x0F == 0x8:
            writer.write(bytes([0x88, len(payload)]) + payload)
            return


def answer(data: Callable[[Request], bytes], then_read: bool = True) -> Respond:
    async def respond(request: Request, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
        writer.write(data(request))
        if then_read:
            await echo_close(reader, writer)

    return respond


async def echo(ws: ServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


# ------------------------------------------------------------------ handshake


def test_request_headers_on_the_wire() -> None:
    seen: list[Request] = []

    async def respond(request: Request, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
        seen.append(request)
        writer.write(switching(request))
        await echo_close(reader, writer)

    async def main() -> None:
        async with raw_server(respond) as url:
            base = url.replace(f"ws://{HOST}", f"ws://user:pa%20ss@{HOST}")
            async with tether.connect(base + "path?x=1", origin="https://me.example",
                                      subprotocols=["p1"], user_agent_header="agent/1",
                                      additional_headers=[("X-One", "1")], compression=None):
                pass
        (request,) = seen
        assert request.target == "/path?x=1"
        h = request.headers
        assert h["Host"] == url[len("ws://"):-1]
        assert h["Origin"] == "https://me.example"
        assert h["Sec-WebSocket-Protocol"] == "p1"
        assert h["User-Agent"] == "agent/1"
        assert h["X-One"] == "1"
        assert h["Authorization"] == "Basic dXNlcjpwYSBzcw=="
        assert h["Sec-WebSocket-Version"] == "13"
        assert "Sec-WebSocket-Extensions" not in h

    run(main)


def test_non_101_answer_raises_invalid_status() -> None:
    async def main() -> None:
        body = b"come back later"
        async with raw_server(answer(lambda r: b"HTTP/1.1 503 Service Unavailable\r\n"
                                               b"Content-Length: 15\r\nRetry-After: 1\r\n\r\n"
                                               + body, then_read=False)) as url:
            with pytest.raises(InvalidStatus) as info:
                await tether.connect(url)
            assert info.value.status == 503
            assert info.value.body == body
            assert ("Retry-After", "1") in info.value.headers

    run(main)


def test_bad_accept_is_refused() -> None:
    async def main() -> None:
        async with raw_server(answer(lambda r: switching(r, accept="s3pPLMBiTxaQ9kYGzzhZRbK+xOo="))
                              ) as url:
            with pytest.raises(InvalidHeader) as info:
                await tether.connect(url)
            assert info.value.name == "Sec-WebSocket-Accept"

    run(main)


def test_missing_upgrade_is_refused() -> None:
    def respond(r: Request) -> bytes:
        return switching(r).replace(b"Upgrade: websocket\r\n", b"")

    async def main() -> None:
        async with raw_server(answer(respond)) as url:
            with pytest.raises(InvalidUpgrade):
                await tether.connect(url)

    run(main)


def test_unexpected_subprotocol_is_refused() -> None:
    async def main() -> None:
        async with raw_server(answer(lambda r: switching(r, b"Sec-WebSocket-Protocol: chat\r\n"))
                              ) as url:
            with pytest.raises(NegotiationError):
                await tether.connect(url)
            with pytest.raises(NegotiationError):
                await tether.connect(url, subprotocols=["superchat"])
            async with tether.connect(url, subprotocols=["superchat", "chat"]) as ws:
                assert ws.subprotocol == "chat"

    run(main)


def test_unexpected_extension_is_refused() -> None:
    async def main() -> None:
        async with raw_server(answer(lambda r: switching(
                r, b"Sec-WebSocket-Extensions: x-unknown\r\n"))) as url:
            with pytest.raises(NegotiationError):
                await tether.connect(url, compression=None)
            with pytest.raises(NegotiationError):
                await tether.connect(url)

    run(main)


def test_permessage_deflate_not_offered_is_refused() -> None:
    async def main() -> None:
        async with raw_server(answer(lambda r: switching(
                r, b"Sec-WebSocket-Extensions: permessage-deflate\r\n"))) as url:
            with pytest.raises(NegotiationError):
                await tether.connect(url, compression=None)

    run(main)


def test_garbage_answer_is_invalid_message() -> None:
    async def main() -> None:
        async with raw_server(answer(lambda r: b"SSH-2.0-OpenSSH\r\n\r\n")) as url:
            with pytest.raises(InvalidMessage):
                await tether.connect(url)

    run(main)


def test_server_closing_during_handshake() -> None:
    async def main() -> None:
        async with raw_server(answer(lambda r: b"HTTP/1.1 101 Swi", then_read=False)) as url:
            with pytest.raises(InvalidMessage):
                await tether.connect(url)

    run(main)


def test_open_timeout_when_server_never_answers() -> None:
    async def main() -> None:
        async with raw_server(answer(lambda r: b"")) as url:
            with pytest.raises(TimeoutError):
                await tether.connect(url, open_timeout=0.2)

    run(main)


def test_connection_refused() -> None:
    async def main() -> None:
        server = await asyncio.start_server(lambda r, w: None, HOST, 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        with pytest.raises(OSError):
            await tether.connect(f"ws://{HOST}:{port}/")

    run(main)


def test_invalid_uri_and_options() -> None:
    with pytest.raises(InvalidURI):
        tether.connect("http://localhost/")
    with pytest.raises(UsageError):
        tether.connect("ws://localhost/", ssl=__import__("ssl").create_default_context())
    with pytest.raises(ValueError):
        tether.connect("ws://localhost/", compression="zstd")


# ------------------------------------------------------------------ after the handshake


def test_frames_in_the_same_packet_as_the_101() -> None:
    async def main() -> None:
        async with (
            raw_server(answer(lambda r: switching(r) + b"\x81\x05early\x82\x00")) as url,
            tether.connect(url, compression=None) as ws,
        ):
            assert await ws.recv() == "early"
            assert await ws.recv() == b""

    run(main)


def test_masked_frame_from_server_fails_with_1002() -> None:
    async def main() -> None:
        frame = b"\x81\x82\x00\x00\x00\x00hi"

        async def respond(request: Request, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
            writer.write(switching(request) + frame)
            b0, b1 = await reader.readexactly(2)
            mask = await reader.readexactly(4)
            payload = bytes(c ^ mask[i % 4] for i, c in enumerate(
                await reader.readexactly(b1 & 0x7F)))
            close.set_result((b0, struct.unpack("!H", payload[:2])[0]))

        close: asyncio.Future[tuple[int, int]] = asyncio.get_running_loop().create_future()
        async with raw_server(respond) as url:
            ws = await tether.connect(url, compression=None)
            with pytest.raises(ConnectionClosedError) as info:
                await ws.recv()
            assert info.value.sent_code == 1002
            assert await close == (0x88, 1002)

    run(main)


def test_client_max_size() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send(b"x" * 2000)
        await ws.wait_closed()

    async def main() -> None:
        async with tether.serve(handler, HOST, 0, compression=None) as server:
            ws = await tether.connect(f"ws://{HOST}:{server.port}/", max_size=1000,
                                      compression=None)
            with pytest.raises(ConnectionClosedError) as info:
                await ws.recv()
            assert info.value.sent_code == 1009

    run(main)


def test_client_waits_for_server_to_close_tcp() -> None:
    async def main() -> None:
        async with tether.serve(echo, HOST, 0) as server:
            ws = await tether.connect(f"ws://{HOST}:{server.port}/")
            await ws.close(1000, "bye")
            assert ws.state is State.CLOSED
            assert ws.close_code == 1000
            assert ws.close_reason == "bye"
            assert ws.transport is not None and ws.transport.is_closing()

    run(main)


def test_context_manager_closes_with_1000() -> None:
    seen: asyncio.Queue[BaseException] = asyncio.Queue()

    async def handler(ws: ServerConnection) -> None:
        try:
            await ws.recv()
        except Exception as exc:
            seen.put_nowait(exc)

    async def main() -> None:
        async with tether.serve(handler, HOST, 0) as server:
            async with tether.connect(f"ws://{HOST}:{server.port}/") as ws:
                assert ws.state is State.OPEN
            exc = await seen.get()
            assert isinstance(exc, ConnectionClosedOK)
            assert exc.code == 1000

    run(main)


def test_outgoing_frame_size_splits_messages() -> None:
    async def main() -> None:
        frames: asyncio.Future[list[tuple[int, bytes]]] = asyncio.get_running_loop().create_future()

        async def respond(request: Request, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
            writer.write(switching(request))
            got = []
            while not got or not got[-1][0] & 0x80:
                b0, b1 = await reader.readexactly(2)
                mask = await reader.readexactly(4)
                payload = await reader.readexactly(b1 & 0x7F)
                got.append((b0, bytes(c ^ mask[i % 4] for i, c in enumerate(payload))))
            frames.set_result(got)
            await echo_close(reader, writer)

        async with (
            raw_server(respond) as url,
            tether.connect(url, compression=None, outgoing_frame_size=4) as ws,
        ):
            await ws.send(b"0123456789")
            assert await frames == [(0x02, b"0123"), (0x00, b"4567"), (0x80, b"89")]

    run(main)


def test_non_101_answer_with_bad_content_length() -> None:
    async def main() -> None:
        async with raw_server(answer(lambda r: b"HTTP/1.1 403 Forbidden\r\n"
                                               b"Content-Length: lots\r\n\r\nno", then_read=False)
                              ) as url:
            with pytest.raises(InvalidStatus) as info:
                await tether.connect(url)
            assert info.value.status == 403

    run(main)

