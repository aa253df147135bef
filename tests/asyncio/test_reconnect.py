"""``async for ws in tether.connect(uri)``: reconnection against real tether servers.

Servers are started, stopped and restarted on one port of 127.0.0.1.  Backoff delays
are small (tens of milliseconds) so that the tests are quick; assertions count attempts
and connections, never time.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

import tether
from tether import ConnectionClosed, InvalidStatus, State
from tether.asyncio import ServerConnection
from tether.core.handshake import reject
from tether.core.retry import Backoff, process_exception

from .conftest import HOST, run

FAST = dict(backoff_initial=0.02, backoff_max=0.1, ping_interval=None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class Commands:
    """An echo handler that obeys "close <code>"; it counts the connections it got."""

    def __init__(self) -> None:
        self.connections: list[ServerConnection] = []
        self.messages: list[str] = []

    async def __call__(self, ws: ServerConnection) -> None:
        self.connections.append(ws)
        async for message in ws:
            assert isinstance(message, str)
            self.messages.append(message)
            if message.startswith("close "):
                await ws.close(int(message.split()[1]), "bye")
                return
            await ws.send(message)


async def drain(ws: tether.ClientConnection) -> None:
    """Read until the connection closes (the body of a typical ``async for``)."""
    try:
        async for _ in ws:
            pass
    except ConnectionClosed:
        pass


def test_reconnects_after_a_server_restart_and_runs_on_reconnect() -> None:
    async def main() -> None:
        port = free_port()
        handler = Commands()
        server = await tether.serve(handler, HOST, port)
        seen: list[tether.ClientConnection] = []
        hooked: list[tether.ClientConnection] = []

        async def on_reconnect(ws: tether.ClientConnection) -> None:
            hooked.append(ws)
            await ws.send("resubscribe")  # before the body gets the connection
            assert await ws.recv() == "resubscribe"

        async for ws in tether.connect(f"ws://{HOST}:{port}/", on_reconnect=on_reconnect,
                                       **FAST):
            seen.append(ws)
            if len(seen) == 1:
                await ws.send("hello")
                assert await ws.recv() == "hello"
                await server.close()  # 1001 going away: a restart
                await drain(ws)
                assert ws.close_code == 1001
                server = await tether.serve(handler, HOST, port)
            else:
                await ws.send("hello again")
                assert await ws.recv() == "hello again"
                await ws.send("close 1000")  # the server means it: no reconnection
                await drain(ws)
        await server.close()
        assert len(seen) == 2 and seen[0] is not seen[1]
        assert hooked == [seen[1]]  # after each REconnection, not the first connection
        assert handler.messages == ["hello", "resubscribe", "hello again", "close 1000"]

    run(main)


@pytest.mark.parametrize("code, reconnects", [
    (1000, False), (1008, False), (4000, False), (1002, False),
    (1001, True), (1011, True), (1012, True), (1013, True), (1014, True),
])
def test_close_code_decides(code: int, reconnects: bool) -> None:
    async def main() -> None:
        handler = Commands()
        async with tether.serve(handler, HOST, 0) as server:
            count = 0
            async for ws in tether.connect(f"ws://{HOST}:{server.port}/", **FAST):
                count += 1
                await ws.send("close 1000" if count > 1 else f"close {code}")
                await drain(ws)
                assert ws.close_code == (code if count == 1 else 1000)
        assert count == (2 if reconnects else 1)
        assert len(handler.connections) == count

    run(main)


def test_retry_on_close_can_ask_for_more() -> None:
    async def main() -> None:
        handler = Commands()
        async with tether.serve(handler, HOST, 0) as server:
            count = 0
            async for ws in tether.connect(f"ws://{HOST}:{server.port}/",
                                           retry_on_close={1000}, **FAST):
                count += 1
                await ws.send("close 1000" if count < 3 else "close 4000")
                await drain(ws)
        assert count == 3

    run(main)


def test_a_server_that_accepts_and_closes_at_once_is_not_hammered() -> None:
    async def main() -> None:
        accepted = 0

        async def slam(ws: ServerConnection) -> None:
            nonlocal accepted
            accepted += 1
            await ws.close(1011, "go away")

        async with tether.serve(slam, HOST, 0) as server:
            loop = asyncio.get_running_loop()
            start = loop.time()
            count = 0
            async for ws in tether.connect(f"ws://{HOST}:{server.port}/",
                                           backoff_initial=0.05, backoff_factor=2.0,
                                           backoff_max=10.0, ping_interval=None):
                count += 1
                await drain(ws)
                if loop.time() - start > 1.0:
                    break
        # Waits of 25-50, 50-100, 100-200, 200-400, 400-800 ms: at most 7 within a second
        # and the last wait; a tight loop would make hundreds.
        assert 3 <= count <= 8
        assert accepted == count

    run(main)


def test_a_refused_connection_is_retried_until_the_server_comes() -> None:
    async def main() -> None:
        port = free_port()
        failures: list[Exception] = []
        handler = Commands()

        def record(exc: Exception) -> Exception | None:
            failures.append(exc)
            if len(failures) == 2:  # the server starts after two refusals
                asyncio.get_running_loop().create_task(start())
            return process_exception(exc)

        servers: list[Any] = []

        async def start() -> None:
            servers.append(await tether.serve(handler, HOST, port))

        async for ws in tether.connect(f"ws://{HOST}:{port}/", process_exception=record,
                                       **FAST):
            await ws.send("close 1000")
            await drain(ws)
        assert len(failures) >= 2
        assert all(isinstance(f, ConnectionRefusedError) for f in failures)
        assert len(handler.connections) == 1
        await servers[0].close()

    run(main)


def test_a_lasting_error_is_raised() -> None:
    async def main() -> None:
        async with tether.serve(Commands(), HOST, 0,
                                process_request=lambda c, r: reject(403, "no")) as server:
            with pytest.raises(InvalidStatus) as info:
                async for _ in tether.connect(f"ws://{HOST}:{server.port}/", **FAST):
                    raise AssertionError("never opened")
            assert info.value.status == 403

    run(main)


def test_process_exception_may_raise_something_else_or_retry_anything() -> None:
    async def main() -> None:
        calls = 0

        def give_up_on_third(exc: Exception) -> Exception | None:
            nonlocal calls
            calls += 1
            return RuntimeError(f"gave up: {exc}") if calls == 3 else None

        async with tether.serve(Commands(), HOST, 0,
                                process_request=lambda c, r: reject(403, "no")) as server:
            with pytest.raises(RuntimeError, match="gave up") as info:
                async for _ in tether.connect(f"ws://{HOST}:{server.port}/",
                                              process_exception=give_up_on_third, **FAST):
                    raise AssertionError("never opened")
        assert calls == 3  # two 403s retried (after a backoff), the third raised
        assert isinstance(info.value.__cause__, InvalidStatus)

    run(main)


def test_the_iteration_ends_when_this_side_closes_or_moves_on() -> None:
    async def main() -> None:
        handler = Commands()
        async with tether.serve(handler, HOST, 0) as server:
            url = f"ws://{HOST}:{server.port}/"
            count = 0
            async for ws in tether.connect(url, **FAST):
                count += 1
                await ws.close(1001)  # even a "retryable" code: this side meant it
            assert count == 1
            kept: list[tether.ClientConnection] = []
            async for ws in tether.connect(url, **FAST):
                kept.append(ws)  # the body returns with the connection open
            assert len(kept) == 1 and kept[0].state is State.CLOSED
            assert kept[0].protocol is not None and kept[0].protocol.close_sent is not None
            assert kept[0].protocol.close_sent.code == 1000
        assert len(handler.connections) == 2

    run(main)


def test_a_sync_on_reconnect_and_a_backoff_object() -> None:
    async def main() -> None:
        handler = Commands()
        hooked: list[tether.ClientConnection] = []
        async with tether.serve(handler, HOST, 0) as server:
            count = 0
            async for ws in tether.connect(
                    f"ws://{HOST}:{server.port}/", on_reconnect=hooked.append,
                    backoff=Backoff(initial=0.01, max=0.05), ping_interval=None):
                count += 1
                await ws.send("close 1012" if count == 1 else "close 1000")
                await drain(ws)
        assert count == 2 and len(hooked) == 1

    run(main)


def test_await_and_async_with_still_open_once() -> None:
    async def main() -> None:
        async with tether.serve(Commands(), HOST, 0) as server:
            url = f"ws://{HOST}:{server.port}/"
            ws = await tether.connect(url, ping_interval=None)
            await ws.send("x")
            assert await ws.recv() == "x"
            await ws.close()
            async with tether.connect(url, ping_interval=None) as ws:
                await ws.send("y")
                assert await ws.recv() == "y"
            assert ws.state is State.CLOSED

    run(main)


def test_async_for_needs_to_open_connections_itself() -> None:
    async def main() -> None:
        with socket.socket() as s, pytest.raises(tether.UsageError):
            async for _ in tether.connect("ws://127.0.0.1/", sock=s):
                raise AssertionError("never opened")

    run(main)
