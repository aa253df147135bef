"""Large messages through the engine: the receive path that reads a large frame straight
into its message (64 KiB and more), over plain TCP and TLS, with and without
permessage-deflate, whole and fragmented, on asyncio's loop and uvloop."""

from __future__ import annotations

import os
from typing import Any

import pytest

import tether
from tests.asyncio.conftest import HOST, LOOP_FACTORIES, run
from tests.support.certs import CertBundle

SIZES = [65_535, 65_536, 70_000, 300_000, 1 << 20, 3 << 20]


async def _echo(ws: Any) -> None:
    async for message in ws:
        await ws.send(message)


@pytest.mark.parametrize("loop_factory", LOOP_FACTORIES)
@pytest.mark.parametrize("tls", [False, True])
@pytest.mark.parametrize("compression", [None, "deflate"])
def test_large_messages_come_back_whole(loop_factory: Any, tls: bool,
                                        compression: str | None,
                                        tls_certs: CertBundle) -> None:
    async def main() -> None:
        server_ssl = tls_certs.server_context() if tls else None
        async with tether.serve(_echo, HOST, 0, ssl=server_ssl, max_size=None,
                                compression=compression) as server:
            port = server.sockets[0].getsockname()[1]
            url = f"{'wss' if tls else 'ws'}://localhost:{port}/"
            async with tether.connect(url, ssl=tls_certs.client_context() if tls else None,
                                      max_size=None, compression=compression) as ws:
                for size in SIZES:
                    data = os.urandom(size)
                    await ws.send(data)
                    back = await ws.recv()
                    assert type(back) is bytes and back == data
                    text = "é€" * (size // 5)
                    await ws.send(text)
                    assert await ws.recv() == text

    run(main, loop_factory)


@pytest.mark.parametrize("loop_factory", LOOP_FACTORIES)
def test_large_fragments_and_small_messages_interleave(loop_factory: Any) -> None:
    async def main() -> None:
        async with tether.serve(_echo, HOST, 0, max_size=None, compression=None) as server:
            port = server.sockets[0].getsockname()[1]
            async with tether.connect(f"ws://{HOST}:{port}/", max_size=None,
                                      compression=None) as ws:
                parts = [os.urandom(n) for n in (100_000, 10, 200_000, 70_000)]
                await ws.send(parts)  # one message, four frames
                await ws.send("small")
                await ws.send(b"x" * 80_000)
                assert await ws.recv() == b"".join(parts)
                assert await ws.recv() == "small"
                assert await ws.recv() == b"x" * 80_000

    run(main, loop_factory)


@pytest.mark.parametrize("loop_factory", LOOP_FACTORIES)
def test_a_large_message_over_max_size_closes_with_1009(loop_factory: Any) -> None:
    async def main() -> None:
        async with tether.serve(_echo, HOST, 0, max_size=100_000,
                                compression=None) as server:
            port = server.sockets[0].getsockname()[1]
            async with tether.connect(f"ws://{HOST}:{port}/", compression=None) as ws:
                await ws.send(b"y" * 200_000)
                with pytest.raises(tether.ConnectionClosedError):
                    await ws.recv()
                assert ws.close_code == 1009

    run(main, loop_factory)


@pytest.mark.parametrize("loop_factory", LOOP_FACTORIES)
def test_invalid_utf8_at_the_end_of_a_large_text_frame_closes_with_1007(
        loop_factory: Any) -> None:
    from tether.core.frames import build_frame

    async def main() -> None:
        async with tether.serve(_echo, HOST, 0, compression=None) as server:
            port = server.sockets[0].getsockname()[1]
            async with tether.connect(f"ws://{HOST}:{port}/", compression=None) as ws:
                payload = b"a" * 200_000 + b"\xff"
                assert ws.transport is not None and ws.protocol is not None
                # A text frame with a bad last byte, masked as a client must.
                ws.transport.write(build_frame(1, payload, True, 0, os.urandom(4)))
                with pytest.raises(tether.ConnectionClosedError):
                    await ws.recv()
                assert ws.close_code == 1007

    run(main, loop_factory)
