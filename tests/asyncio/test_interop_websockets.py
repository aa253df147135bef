"""Interoperability with the ``websockets`` library (17.4) as a real peer, both directions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection as WsClient
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import ServerConnection as WsServerConnection
from websockets.asyncio.server import serve as ws_serve
from websockets.exceptions import ConnectionClosedError as WsClosedError
from websockets.exceptions import ConnectionClosedOK as WsClosedOK
from websockets.exceptions import InvalidStatus as WsInvalidStatus

import tether
from tether import ConnectionClosedError, ConnectionClosedOK
from tether.asyncio import ServerConnection

from .conftest import HOST, run

#: Compression may not be wired yet: most tests run without it; one runs with defaults.
PLAIN: dict[str, Any] = {"compression": None}
LARGE = bytes(range(256)) * 4096  # 1 MiB


async def ws_echo(ws: WsServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


async def tether_echo(ws: ServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


# ------------------------------------------------------------ tether client, websockets server


def test_tether_client_text_binary_fragmented() -> None:
    async def main() -> None:
        async with ws_serve(ws_echo, HOST, 0, max_size=None, **PLAIN) as server:
            port = server.sockets[0].getsockname()[1]
            async with tether.connect(f"ws://{HOST}:{port}/", max_size=None, **PLAIN) as ws:
                for message in ["hello", "", "h\xe9llo \U0001f600", b"\x00\xff", b"", LARGE,
                                "\u20ac" * 100_000]:
                    await ws.send(message)
                    assert await ws.recv() == message
                await ws.send(["frag", "mented ", "\u20ac"])
                assert await ws.recv() == "fragmented \u20ac"
                await ws.send([b"a", b"b", b"c"])
                assert await ws.recv() == b"abc"

    run(main)


def test_tether_client_receives_fragmented_message() -> None:
    async def handler(ws: WsServerConnection) -> None:
        await ws.send(["one ", "two ", "three"])
        await ws.send([b"\x01", b"\x02"])
        await ws.wait_closed()

    async def main() -> None:
        async with ws_serve(handler, HOST, 0, **PLAIN) as server:
            port = server.sockets[0].getsockname()[1]
            async with tether.connect(f"ws://{HOST}:{port}/", **PLAIN) as ws:
                assert await ws.recv() == "one two three"
                assert await ws.recv() == b"\x01\x02"

    run(main)


def test_tether_client_ping_pong() -> None:
    async def handler(ws: WsServerConnection) -> None:
        pong = await ws.ping(b"from server")
        await pong
        await ws.send("server got its pong")
        await ws.wait_closed()

    async def main() -> None:
        async with ws_serve(handler, HOST, 0, **PLAIN) as server:
            port = server.sockets[0].getsockname()[1]
            async with tether.connect(f"ws://{HOST}:{port}/", **PLAIN) as ws:
                assert isinstance(await ws.ping(b"from client"), float)
                assert await ws.recv() == "server got its pong"

    run(main)


@pytest.mark.parametrize("code,reason", [(1000, "bye"), (1001, ""), (4321, "app \u20ac")])
def test_websockets_server_closes_tether_client(code: int, reason: str) -> None:
    async def handler(ws: WsServerConnection) -> None:
        await ws.close(code, reason)

    async def main() -> None:
        async with ws_serve(handler, HOST, 0, **PLAIN) as server:
            port = server.sockets[0].getsockname()[1]
            ws = await tether.connect(f"ws://{HOST}:{port}/", **PLAIN)
            expected = ConnectionClosedOK if code in (1000, 1001) else ConnectionClosedError
            with pytest.raises(expected) as info:
                await ws.recv()
            assert (info.value.code, info.value.reason) == (code, reason)
            await ws.wait_closed()

    run(main)


@pytest.mark.parametrize("code,reason", [(1000, "bye"), (1001, ""), (4321, "app \u20ac")])
def test_tether_client_closes_websockets_server(code: int, reason: str) -> None:
    seen: asyncio.Queue[Exception] = asyncio.Queue()

    async def handler(ws: WsServerConnection) -> None:
        try:
            await ws.recv()
        except Exception as exc:
            seen.put_nowait(exc)

    async def main() -> None:
        async with ws_serve(handler, HOST, 0, **PLAIN) as server:
            port = server.sockets[0].getsockname()[1]
            ws = await tether.connect(f"ws://{HOST}:{port}/", **PLAIN)
            await ws.close(code, reason)
            assert ws.close_code == code
            exc = await seen.get()
            assert isinstance(exc, WsClosedOK if code in (1000, 1001) else WsClosedError)
            assert exc.rcvd is not None
            assert (exc.rcvd.code, exc.rcvd.reason) == (code, reason)

    run(main)


def test_tether_client_subprotocol_with_websockets_server() -> None:
    async def handler(ws: WsServerConnection) -> None:
        await ws.send(str(ws.subprotocol))
        await ws.wait_closed()

    async def main() -> None:
        async with ws_serve(handler, HOST, 0, subprotocols=["chat.v2", "chat.v1"],  # type: ignore[list-item]
                            **PLAIN) as server:
            port = server.sockets[0].getsockname()[1]
            async with tether.connect(f"ws://{HOST}:{port}/", subprotocols=["chat.v1"],
                                      **PLAIN) as ws:
                assert ws.subprotocol == "chat.v1"
                assert await ws.recv() == "chat.v1"

    run(main)


def test_tether_client_rejected_by_websockets_server() -> None:
    async def main() -> None:
        async with ws_serve(ws_echo, HOST, 0, origins=["https://ok.example"],  # type: ignore[list-item]
                            **PLAIN) as server:
            port = server.sockets[0].getsockname()[1]
            with pytest.raises(tether.InvalidStatus) as info:
                await tether.connect(f"ws://{HOST}:{port}/", origin="https://evil.example",
                                     **PLAIN)
            assert info.value.status == 403

    run(main)


# ------------------------------------------------------------ websockets client, tether server


async def _ws_client(port: int, **kwargs: Any) -> WsClient:
    return await ws_connect(f"ws://{HOST}:{port}/", proxy=None, **{**PLAIN, **kwargs})


def test_websockets_client_text_binary_fragmented() -> None:
    async def main() -> None:
        async with tether.serve(tether_echo, HOST, 0, max_size=None, **PLAIN) as server:
            ws = await _ws_client(server.port, max_size=None)
            async with ws:
                for message in ["hello", "", "h\xe9llo \U0001f600", b"\x00\xff", b"", LARGE,
                                "\u20ac" * 100_000]:
                    await ws.send(message)
                    assert await ws.recv() == message
                await ws.send(["frag", "mented"])
                assert await ws.recv() == "fragmented"

                async def chunks() -> AsyncIterator[bytes]:
                    for part in (b"x", b"y", b"z"):
                        yield part

                await ws.send(chunks())
                assert await ws.recv() == b"xyz"

    run(main)


def test_websockets_client_receives_fragmented_message() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send(["one ", "two"])
        await ws.send([b"\x01", b"\x02"])
        await ws.wait_closed()

    async def main() -> None:
        async with (
            tether.serve(handler, HOST, 0, **PLAIN) as server,
            await _ws_client(server.port) as ws,
        ):
            assert await ws.recv() == "one two"
            assert await ws.recv() == b"\x01\x02"

    run(main)


def test_websockets_client_ping_pong() -> None:
    async def handler(ws: ServerConnection) -> None:
        assert isinstance(await ws.ping(b"from tether"), float)
        await ws.send("tether got its pong")
        await ws.wait_closed()

    async def main() -> None:
        async with (
            tether.serve(handler, HOST, 0, **PLAIN) as server,
            await _ws_client(server.port) as ws,
        ):
            pong_waiter = await ws.ping(b"from websockets")
            latency = await pong_waiter
            assert latency >= 0
            assert await ws.recv() == "tether got its pong"

    run(main)


@pytest.mark.parametrize("code,reason", [(1000, "bye"), (1001, ""), (4321, "app \u20ac")])
def test_tether_server_closes_websockets_client(code: int, reason: str) -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.close(code, reason)

    async def main() -> None:
        async with tether.serve(handler, HOST, 0, **PLAIN) as server:
            ws = await _ws_client(server.port)
            with pytest.raises(WsClosedOK if code in (1000, 1001) else WsClosedError) as info:
                await ws.recv()
            assert info.value.rcvd is not None
            assert (info.value.rcvd.code, info.value.rcvd.reason) == (code, reason)

    run(main)


@pytest.mark.parametrize("code,reason", [(1000, "bye"), (1001, ""), (4321, "app \u20ac")])
def test_websockets_client_closes_tether_server(code: int, reason: str) -> None:
    seen: asyncio.Queue[Exception] = asyncio.Queue()

    async def handler(ws: ServerConnection) -> None:
        try:
            await ws.recv()
        except Exception as exc:
            seen.put_nowait(exc)

    async def main() -> None:
        async with tether.serve(handler, HOST, 0, **PLAIN) as server:
            ws = await _ws_client(server.port)
            await ws.close(code, reason)
            exc = await seen.get()
            expected = ConnectionClosedOK if code in (1000, 1001) else ConnectionClosedError
            assert isinstance(exc, expected)
            assert (exc.code, exc.reason) == (code, reason)  # type: ignore[attr-defined]
            assert ws.close_code == code

    run(main)


def test_websockets_client_subprotocol_with_tether_server() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send(str(ws.subprotocol))
        await ws.wait_closed()

    async def main() -> None:
        async with (
            tether.serve(handler, HOST, 0, subprotocols=["chat.v2", "chat.v1"],
                         **PLAIN) as server,
            await _ws_client(server.port, subprotocols=["chat.v1", "chat.v2"]) as ws,
        ):
            assert ws.subprotocol == "chat.v2"
            assert await ws.recv() == "chat.v2"

    run(main)


def test_websockets_client_rejected_by_tether_server() -> None:
    async def main() -> None:
        async with tether.serve(tether_echo, HOST, 0, origins=["https://ok.example"],
                                **PLAIN) as server:
            with pytest.raises(WsInvalidStatus) as info:
                await _ws_client(server.port, origin="https://evil.example")
            assert info.value.response.status_code == 403

    run(main)


def test_websockets_client_gets_1009_from_tether_server() -> None:
    async def main() -> None:
        async with tether.serve(tether_echo, HOST, 0, max_size=1000, **PLAIN) as server:
            ws = await _ws_client(server.port)
            await ws.send(bytes(1001))
            with pytest.raises(WsClosedError) as info:
                await ws.recv()
            assert info.value.rcvd is not None and info.value.rcvd.code == 1009

    run(main)


# ------------------------------------------------------------------ defaults (compression on)


def test_defaults_both_directions() -> None:
    text = "compressible " * 1000

    async def main() -> None:
        async with ws_serve(ws_echo, HOST, 0) as server:
            port = server.sockets[0].getsockname()[1]
            async with tether.connect(f"ws://{HOST}:{port}/") as ws:
                for message in [text, text.encode(), "short", b""]:
                    await ws.send(message)
                    assert await ws.recv() == message
                await ws.send(["frag", "mented " * 100])
                assert await ws.recv() == "frag" + "mented " * 100
        async with (
            tether.serve(tether_echo, HOST, 0) as tserver,
            ws_connect(f"ws://{HOST}:{tserver.port}/", proxy=None) as wsc,
        ):
            for message in [text, text.encode(), "short", b""]:
                await wsc.send(message)
                assert await wsc.recv() == message

    run(main)
