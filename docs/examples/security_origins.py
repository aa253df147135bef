"""An origin allow-list against cross-site WebSocket hijacking."""

import asyncio

import tether


async def handler(ws):
    await ws.send(f"hello, page from {ws.request.headers.get('Origin')}")


async def try_origin(port, origin):
    try:
        async with tether.connect(f"ws://127.0.0.1:{port}/", origin=origin) as ws:
            print(f"{origin}: accepted:", await ws.recv())
    except tether.InvalidStatus as exc:
        print(f"{origin}: refused with {exc.status}")


async def main():
    # --8<-- [start:origins]
    async with tether.serve(handler, "127.0.0.1", 0,
                            origins=["https://app.example", "https://admin.app.example"]
                            ) as server:
        # --8<-- [end:origins]
        for origin in ["https://app.example", "https://app.example.evil.com",
                       "http://app.example", "null", None]:
            await try_origin(server.port, origin)


asyncio.run(main())
