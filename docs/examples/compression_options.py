"""permessage-deflate on, off, and with your own settings."""

import asyncio

import tether
from tether.core.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)


async def echo(ws):
    async for message in ws:
        await ws.send(message)


def negotiated(ws):
    return ws.response.headers.get("Sec-WebSocket-Extensions") or "no compression"


async def main():
    # --8<-- [start:defaults]
    async with tether.serve(echo, "127.0.0.1", 0) as server:      # accepts permessage-deflate
        uri = f"ws://127.0.0.1:{server.port}/"

        async with tether.connect(uri) as ws:                     # offers permessage-deflate
            print("default:", negotiated(ws))

        async with tether.connect(uri, compression=None) as ws:   # no compression
            print("compression=None:", negotiated(ws))
    # --8<-- [end:defaults]

    # --8<-- [start:factories]
    # A server whose connections keep no compression state between messages.
    server_factory = ServerPerMessageDeflateFactory(
        server_no_context_takeover=True, client_no_context_takeover=True,
    )
    # A client that saves memory on both sides of the connection.
    client_factory = ClientPerMessageDeflateFactory(
        server_max_window_bits=10, client_max_window_bits=10,
        compress_settings={"memLevel": 4},
    )
    async with tether.serve(echo, "127.0.0.1", 0, extensions=[server_factory]) as server:
        uri = f"ws://127.0.0.1:{server.port}/"
        async with tether.connect(uri, extensions=[client_factory]) as ws:
            print("own settings:", negotiated(ws))
            await ws.send("secret=" + "x" * 2000, compress=False)    # this one uncompressed
            print("echoed", len(await ws.recv()), "characters")
    # --8<-- [end:factories]


asyncio.run(main())
