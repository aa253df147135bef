"""WebSocket <-> TCP bridge against a real TCP echo server: bytes, order, backpressure."""

from __future__ import annotations

import asyncio
import hashlib
import os
from typing import Any

import pytest

import tether
from tether.bridge import bridge_tcp

from ..serving.helpers import GUARD, free_port, run, stalled


async def tcp_echo_server() -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


def test_binary_and_text_round_trip_through_echo() -> None:
    async def main() -> None:
        echo = await tcp_echo_server()
        eport = echo.sockets[0].getsockname()[1]
        server = await tether.serve(lambda ws: bridge_tcp(ws, "127.0.0.1", eport),
                                    "127.0.0.1", 0)
        async with tether.connect(f"ws://127.0.0.1:{server.port}/") as ws:
            await ws.send(b"\x00\x01binary\xff")
            assert await ws.recv() == b"\x00\x01binary\xff"
            await ws.send("text é")  # text goes to TCP as UTF-8; back as binary
            assert await ws.recv() == "text é".encode()
            # 4 MB in 64 KB messages: every byte back, in order (chunking may differ).
            blob = os.urandom(4 * 2**20)

            async def send_all() -> None:
                for i in range(0, len(blob), 65536):
                    await ws.send(blob[i:i + 65536])

            sender = asyncio.ensure_future(send_all())
            got = bytearray()
            while len(got) < len(blob):
                m = await asyncio.wait_for(ws.recv(), GUARD)
                assert isinstance(m, bytes)
                got += m
            await sender
            assert hashlib.sha256(got).digest() == hashlib.sha256(blob).digest()
        await server.close()
        echo.close()

    run(main())


def test_tcp_close_closes_websocket_and_back() -> None:
    async def main() -> None:
        closed = asyncio.Event()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            data = await reader.readexactly(5)
            if data == b"quit\n":
                writer.write(b"bye")
                await writer.drain()
                writer.close()
                return
            await reader.read()  # until the bridge closes its side
            closed.set()
            writer.close()

        svc = await asyncio.start_server(handle, "127.0.0.1", 0)
        sport = svc.sockets[0].getsockname()[1]
        async with tether.serve(lambda ws: bridge_tcp(ws, "127.0.0.1", sport),
                                "127.0.0.1", 0) as server:
            uri = f"ws://127.0.0.1:{server.port}/"
            ws = await tether.connect(uri)
            await ws.send(b"quit\n")
            assert await ws.recv() == b"bye"
            with pytest.raises(tether.ConnectionClosedOK):
                await ws.recv()
            assert ws.close_code == 1000
            ws = await tether.connect(uri)
            await ws.send(b"hello")
            await ws.close()
            await asyncio.wait_for(closed.wait(), GUARD)
            # Nobody listening: 1014 (bad gateway).
            dead = free_port()
            async with tether.serve(lambda ws: bridge_tcp(ws, "127.0.0.1", dead),
                                    "127.0.0.1", 0) as s2:
                ws = await tether.connect(f"ws://127.0.0.1:{s2.port}/")
                with pytest.raises(tether.ConnectionClosedError):
                    await ws.recv()
                assert ws.close_code == 1014
        svc.close()

    run(main())


@pytest.mark.slow
def test_backpressure_both_ways() -> None:
    """A reader that stops stalls the writer on the other side; nothing is lost."""
    total = 48 * 2**20

    async def main() -> None:
        state: dict[str, Any] = {"written": 0, "read": 0}
        go_read = asyncio.Event()
        upstream_done = asyncio.Event()
        received_upstream = bytearray()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            chunk = b"d" * 65536
            # Service -> client: write until the client (not reading) pushes back.
            while state["written"] < total:
                writer.write(chunk)
                state["written"] += len(chunk)
                await writer.drain()
            # Client -> service: read only when told.
            await go_read.wait()
            while len(received_upstream) < total:
                data = await reader.read(65536)
                if not data:
                    break
                received_upstream.extend(data)
            upstream_done.set()
            writer.close()

        svc = await asyncio.start_server(handle, "127.0.0.1", 0)
        sport = svc.sockets[0].getsockname()[1]
        async with tether.serve(lambda ws: bridge_tcp(ws, "127.0.0.1", sport),
                                "127.0.0.1", 0, compression=None) as server:
            ws = await tether.connect(f"ws://127.0.0.1:{server.port}/", compression=None,
                                      max_size=None)
            # 1. The client reads nothing: the service must stall well before `total`.
            stuck_at = await stalled(lambda: state["written"])
            assert stuck_at < total
            got = 0
            while got < total:
                m = await asyncio.wait_for(ws.recv(), GUARD)
                got += len(m)
            assert got == total

            # 2. The service reads nothing: the client's sends must stall.
            sent = {"n": 0}

            async def send_all() -> None:
                chunk = b"u" * 65536
                while sent["n"] < total:
                    await ws.send(chunk)
                    sent["n"] += len(chunk)

            sender = asyncio.ensure_future(send_all())
            client_stuck_at = await stalled(lambda: sent["n"])
            assert client_stuck_at < total
            go_read.set()
            await asyncio.wait_for(sender, GUARD)
            await asyncio.wait_for(upstream_done.wait(), GUARD)
            assert len(received_upstream) == total and set(received_upstream) == {ord("u")}
            await ws.close()
        svc.close()

    run(main())
