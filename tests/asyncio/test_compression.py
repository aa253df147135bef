"""permessage-deflate through the asyncio engine, over real sockets.

Against a hand-made browser-style client (the offer Chrome and Firefox send), against
the ``websockets`` library with compression on both ways, and the bomb through the engine.
"""

from __future__ import annotations

import zlib
from typing import Any

import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import ServerConnection as WsServerConnection
from websockets.asyncio.server import serve as ws_serve
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory as WsClientDeflate,
)
from websockets.extensions.permessage_deflate import (
    ServerPerMessageDeflateFactory as WsServerDeflate,
)

import tether
from tether.asyncio import ServerConnection
from tether.core.extensions import ClientPerMessageDeflateFactory, ServerPerMessageDeflateFactory

from .conftest import HOST, client_frame, raw_client, read_frame, read_until_close, run

TEXT = "the quick brown fox jumps over the lazy dog; " * 400


async def tether_echo(ws: ServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


async def ws_echo(ws: WsServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


def _deflate(data: bytes) -> bytes:
    c = zlib.compressobj(wbits=-15)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def _inflate(payload: bytes, d: Any) -> bytes:
    return bytes(d.decompress(payload + b"\x00\x00\xff\xff"))


def test_browser_style_offer_is_accepted_and_spoken() -> None:
    """``permessage-deflate; client_max_window_bits`` as browsers send it."""

    async def main() -> None:
        async with tether.serve(tether_echo, HOST, 0) as server:
            offer = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
            reader, writer = await raw_client(server.port, extra=offer)
            conn = next(iter(server.connections))
            accepted = conn.response_headers["Sec-WebSocket-Extensions"]
            assert accepted.startswith("permessage-deflate")
            params = dict(
                [*p.split("="), ""][:2] for p in (s.strip() for s in accepted.split(";")[1:]))
            server_bits = int(params.get("server_max_window_bits", "15"))
            d = zlib.decompressobj(wbits=-server_bits)
            for _ in range(3):  # context takeover: later messages use the earlier ones
                writer.write(client_frame(0x1, _deflate(TEXT.encode()), rsv=0x40))
                b0, payload = await read_frame(reader)
                assert b0 == 0x81 | 0x40  # FIN, RSV1, text
                assert len(payload) < len(TEXT) // 10
                assert _inflate(payload, d) == TEXT.encode()
            writer.write(client_frame(0x8, b"\x03\xe8"))
            _frames, code = await read_until_close(reader)
            assert code == 1000
            writer.close()

    run(main)


def test_rsv1_without_negotiation_is_a_protocol_error() -> None:
    async def main() -> None:
        async with tether.serve(tether_echo, HOST, 0, compression=None) as server:
            reader, writer = await raw_client(server.port)
            writer.write(client_frame(0x1, _deflate(b"hello"), rsv=0x40))
            _frames, code = await read_until_close(reader)
            assert code == 1002
            writer.close()

    run(main)


def test_deflate_bomb_through_the_engine_gets_1009() -> None:
    """About 1 MB on the wire that would inflate to 1 GiB: the server stops at max_size."""
    c = zlib.compressobj(wbits=-15)
    chunk = bytes(2**20)
    bomb = b"".join(c.compress(chunk) for _ in range(1024)) + c.flush(zlib.Z_SYNC_FLUSH)
    bomb = bomb[:-4]

    async def main() -> None:
        async with tether.serve(tether_echo, HOST, 0, max_size=2**20) as server:
            offer = "Sec-WebSocket-Extensions: permessage-deflate\r\n"
            reader, writer = await raw_client(server.port, extra=offer)
            writer.write(client_frame(0x2, bomb, rsv=0x40))
            _frames, code = await read_until_close(reader)
            assert code == 1009
            writer.close()

    run(main)


@pytest.mark.parametrize("no_context_takeover", [False, True])
def test_tether_client_websockets_server_compressed(no_context_takeover: bool) -> None:
    async def main() -> None:
        factory = WsServerDeflate(server_no_context_takeover=no_context_takeover,
                                  client_no_context_takeover=no_context_takeover)
        async with ws_serve(ws_echo, HOST, 0, compression=None, extensions=[factory]) as server:
            port = server.sockets[0].getsockname()[1]
            async with tether.connect(f"ws://{HOST}:{port}/") as ws:
                accepted = ws.response_headers["Sec-WebSocket-Extensions"]
                assert accepted.startswith("permessage-deflate")
                assert ("no_context_takeover" in accepted) == no_context_takeover
                for message in [TEXT, TEXT.encode(), "", "é" * 3000]:
                    await ws.send(message)
                    assert await ws.recv() == message
                await ws.send([TEXT[:100], TEXT[100:]])
                assert await ws.recv() == TEXT
                await ws.send(TEXT, compress=False)
                assert await ws.recv() == TEXT

    run(main)


@pytest.mark.parametrize("window_bits", [None, 9, 12])
def test_websockets_client_tether_server_compressed(window_bits: int | None) -> None:
    async def main() -> None:
        async with tether.serve(tether_echo, HOST, 0) as server:
            factory = WsClientDeflate(
                client_max_window_bits=window_bits or True,
                server_max_window_bits=window_bits)
            async with ws_connect(f"ws://{HOST}:{server.port}/", compression=None,
                                  extensions=[factory], proxy=None) as ws:
                accepted = ws.response.headers["Sec-WebSocket-Extensions"]
                assert accepted.startswith("permessage-deflate")
                if window_bits:
                    assert f"server_max_window_bits={window_bits}" in accepted
                for message in [TEXT, TEXT.encode(), "x", b"\x00" * 100000]:
                    await ws.send(message)
                    assert await ws.recv() == message

    run(main)


def test_explicit_factories_and_compression_off() -> None:
    async def main() -> None:
        server_factory = ServerPerMessageDeflateFactory(server_no_context_takeover=True)
        async with tether.serve(tether_echo, HOST, 0, compression=None,
                                extensions=[server_factory]) as server:
            client_factory = ClientPerMessageDeflateFactory(client_no_context_takeover=True)
            async with tether.connect(f"ws://{HOST}:{server.port}/", compression=None,
                                      extensions=[client_factory]) as ws:
                accepted = ws.response_headers["Sec-WebSocket-Extensions"]
                assert "server_no_context_takeover" in accepted
                assert "client_no_context_takeover" in accepted
                await ws.send(TEXT)
                assert await ws.recv() == TEXT
            async with tether.connect(f"ws://{HOST}:{server.port}/", compression=None) as ws:
                assert ws.response_headers.get("Sec-WebSocket-Extensions") is None
                await ws.send(TEXT)
                assert await ws.recv() == TEXT

    run(main)
