"""Reach a WebSocket server through a proxy.

    python3 proxy_client.py http://127.0.0.1:3128      # or socks5h://..., https://...
    python3 proxy_client.py env                         # the proxy that ws_proxy etc. name

The sample starts its own echo server on 127.0.0.1 (and, for the proxy to be
used at all, the address must not be in no_proxy).
"""

import asyncio
import sys

import tether


async def echo(ws):
    async for message in ws:
        await ws.send(message)


async def main(proxy):
    async with tether.serve(echo, "127.0.0.1", 0) as server:
        uri = f"ws://127.0.0.1:{server.port}/"
        # --8<-- [start:connect]
        async with tether.connect(uri, proxy=proxy) as ws:   # True: from the environment
            await ws.send("through the proxy")
            print("proxy:", await ws.recv())
        # --8<-- [end:connect]
        async with tether.connect(uri, proxy=None) as ws:    # None: connect directly
            await ws.send("no proxy")
            print("direct:", await ws.recv())


proxy = sys.argv[1] if len(sys.argv) > 1 else "env"
asyncio.run(main(True if proxy == "env" else proxy))
