"""The blocking engine against the asyncio engine and against the websockets library.

The asyncio server runs on its own event loop in a thread; the websockets peers
are its blocking (threads) API, version 17.4.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import websockets
import websockets.sync.client
import websockets.sync.server
from websockets.exceptions import ConnectionClosed as WSConnectionClosed

import tether
from tether import ConnectionClosedError, ConnectionClosedOK
from tether.sync import ServerConnection, connect

from . import WAIT, running_server, uri

BIG = os.urandom(600_000)
TEXT = "compressible ☃ " * 20_000


def echo(ws: ServerConnection) -> None:
    for message in ws:
        ws.send(message)


# ---------------------------------------------------------------- peers in threads


@contextlib.contextmanager
def asyncio_server(**options: Any) -> Iterator[int]:
    """A tether.serve (asyncio) echo server on a loop of its own in a thread."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    port: list[int] = []
    stop: list[asyncio.Event] = []

    async def handler(ws: tether.ServerConnection) -> None:
        async for message in ws:
            if message == "close 4002":
                await ws.close(4002, "asked to")
                return
            await ws.send(message)

    async def main() -> None:
        async with tether.serve(handler, "127.0.0.1", 0, **options) as server:
            port.append(server.port)
            stop.append(asyncio.Event())
            ready.set()
            await stop[0].wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    try:
        assert ready.wait(WAIT)
        yield port[0]
    finally:
        if stop:
            loop.call_soon_threadsafe(stop[0].set)
        thread.join(WAIT)
        loop.close()


@contextlib.contextmanager
def websockets_server(**options: Any) -> Iterator[int]:
    """A websockets 17.4 (threads) echo server."""

    def handler(ws: websockets.sync.server.ServerConnection) -> None:
        for message in ws:
            if message == "close 4002":
                ws.close(4002, "asked to")
                return
            ws.send(message)

    server = websockets.sync.server.serve(handler, "127.0.0.1", 0, **options)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.socket.getsockname()[1]
    finally:
        server.shutdown()
        thread.join(WAIT)


def exercise_echo(port: int, **options: Any) -> None:
    """What every sync client does against an echo server."""
    with connect(uri(port), proxy=None, **options) as ws:
        ws.send("hello")
        assert ws.recv(timeout=WAIT) == "hello"
        ws.send(b"\x00\x01")
        assert ws.recv(timeout=WAIT) == b"\x00\x01"
        ws.send(BIG)
        assert ws.recv(timeout=WAIT) == BIG
        ws.send(TEXT)
        assert ws.recv(timeout=WAIT) == TEXT
        ws.send(["frag", "mented"])
        assert ws.recv(timeout=WAIT) == "fragmented"
        assert ws.ping(timeout=WAIT) >= 0
        ws.send("close 4002")
        with pytest.raises(ConnectionClosedError) as info:
            ws.recv(timeout=WAIT)
        assert (info.value.rcvd_code, info.value.rcvd_reason) == (4002, "asked to")
    with connect(uri(port), proxy=None, **options) as ws:
        ws.send("bye")
        assert ws.recv(timeout=WAIT) == "bye"
    assert ws.close_code == 1000


# ---------------------------------------------------------------- sync client -> others


@pytest.mark.parametrize("compression", ["deflate", None])
def test_sync_client_to_asyncio_server(compression: str | None) -> None:
    with asyncio_server(compression=compression, ping_interval=None) as port:
        exercise_echo(port, compression=compression)
        with connect(uri(port), proxy=None, compression=compression) as ws:
            assert ws.response is not None
            offered = ws.response.headers.get("Sec-WebSocket-Extensions") or ""
            assert ("permessage-deflate" in offered) == (compression == "deflate")


@pytest.mark.parametrize("compression", ["deflate", None])
def test_sync_client_to_websockets_server(compression: str | None) -> None:
    with websockets_server(compression=compression, ping_interval=None) as port:
        exercise_echo(port, compression=compression)
        with connect(uri(port), proxy=None, compression=compression) as ws:
            assert ws.response is not None
            offered = ws.response.headers.get("Sec-WebSocket-Extensions") or ""
            assert ("permessage-deflate" in offered) == (compression == "deflate")


def test_sync_client_keepalive_with_websockets_server() -> None:
    with websockets_server(ping_interval=0.02, ping_timeout=WAIT) as port, connect(
        uri(port), proxy=None, ping_interval=0.02, ping_timeout=WAIT
    ) as ws:
        while ws.latency == 0.0:
            threading.Event().wait(0.01)
        ws.send("alive")
        assert ws.recv(timeout=WAIT) == "alive"


def test_sync_client_sees_asyncio_server_shutdown() -> None:
    with asyncio_server(ping_interval=None) as port:
        ws = connect(uri(port), proxy=None)
        ws.send("x")
        assert ws.recv(timeout=WAIT) == "x"
    with pytest.raises(ConnectionClosedOK):
        ws.recv(timeout=WAIT)
    assert ws.close_code == 1001


# ---------------------------------------------------------------- others -> sync server


def test_asyncio_client_to_sync_server() -> None:
    async def client(port: int) -> None:
        async with tether.connect(uri(port), proxy=None) as ws:
            await ws.send("hello")
            assert await ws.recv() == "hello"
            await ws.send(BIG)
            assert await ws.recv() == BIG
            await ws.send(TEXT)
            assert await ws.recv() == TEXT
            await ws.send(["a", "b"])
            assert await ws.recv() == "ab"
            assert await ws.ping() >= 0
            assert ws.response is not None
            assert "permessage-deflate" in (
                ws.response.headers.get("Sec-WebSocket-Extensions") or "")
        assert ws.close_code == 1000

    with running_server(echo) as server:
        asyncio.run(client(server.port))


def test_asyncio_client_sees_sync_server_close_codes() -> None:
    def handler(ws: ServerConnection) -> None:
        ws.recv()
        ws.close(4003, "from sync")

    async def client(port: int) -> None:
        async with tether.connect(uri(port), proxy=None) as ws:
            await ws.send("go")
            with pytest.raises(tether.ConnectionClosedError) as info:
                await ws.recv()
            assert (info.value.rcvd_code, info.value.rcvd_reason) == (4003, "from sync")

    with running_server(handler) as server:
        asyncio.run(client(server.port))


def test_asyncio_client_sees_sync_server_shutdown() -> None:
    async def client(port: int, shutdown: Any) -> None:
        async with tether.connect(uri(port), proxy=None) as ws:
            await ws.send("x")
            assert await ws.recv() == "x"
            await asyncio.to_thread(shutdown)
            with pytest.raises(tether.ConnectionClosedOK):
                await ws.recv()
            await ws.wait_closed()
            assert ws.close_code == 1001

    with running_server(echo) as server:
        asyncio.run(client(server.port, server.shutdown))


@pytest.mark.parametrize("compression", ["deflate", None])
def test_websockets_client_to_sync_server(compression: str | None) -> None:
    with running_server(echo, compression=compression) as server, \
            websockets.sync.client.connect(uri(server), proxy=None,
                                           compression=compression) as ws:
        ws.send("hello")
        assert ws.recv(timeout=WAIT) == "hello"
        ws.send(BIG)
        assert ws.recv(timeout=WAIT) == BIG
        ws.send(TEXT)
        assert ws.recv(timeout=WAIT) == TEXT
        ws.send(["frag", "mented"])
        assert ws.recv(timeout=WAIT) == "fragmented"
        ws.ping().wait(WAIT)
        offered = ws.response.headers.get("Sec-WebSocket-Extensions") or ""
        assert ("permessage-deflate" in offered) == (compression == "deflate")


def test_websockets_client_close_code_to_sync_server() -> None:
    seen: list[Any] = []

    def handler(ws: ServerConnection) -> None:
        with pytest.raises(ConnectionClosedError):
            ws.recv()
        seen.append((ws.close_code, ws.close_reason))

    with running_server(handler) as server, websockets.sync.client.connect(
        uri(server), proxy=None
    ) as ws:
        ws.close(4004, "from websockets")
    assert seen == [(4004, "from websockets")]


def test_websockets_client_sees_sync_server_errors() -> None:
    def handler(ws: ServerConnection) -> None:
        ws.recv()
        raise RuntimeError("handler bug")

    with running_server(handler) as server, websockets.sync.client.connect(
        uri(server), proxy=None
    ) as ws:
        ws.send("go")
        with pytest.raises(WSConnectionClosed) as info:
            ws.recv(timeout=WAIT)
        assert info.value.rcvd is not None
        assert (info.value.rcvd.code, info.value.rcvd.reason) == (1011, "internal error")


def test_websockets_client_max_size_against_sync_server() -> None:
    with running_server(echo, max_size=1000, compression=None) as server, \
            websockets.sync.client.connect(uri(server), proxy=None) as ws:
        ws.send("x" * 2000)
        with pytest.raises(WSConnectionClosed) as info:
            ws.recv(timeout=WAIT)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1009


def test_websockets_keepalive_against_sync_server() -> None:
    with running_server(echo, ping_interval=0.02, ping_timeout=WAIT) as server, \
            websockets.sync.client.connect(uri(server), proxy=None, ping_interval=0.02,
                                           ping_timeout=WAIT) as ws:
        for i in range(5):
            ws.send(str(i))
            assert ws.recv(timeout=WAIT) == str(i)
        assert server.connections
        conn = next(iter(server.connections))
        while conn.latency == 0.0:
            threading.Event().wait(0.01)
