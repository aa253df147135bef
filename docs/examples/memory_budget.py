"""A server sized for many connections: smaller limits, a bounded worst case."""

import asyncio

import tether
from tether.core.extensions.permessage_deflate import ServerPerMessageDeflateFactory


async def echo(ws):
    async for message in ws:
        await ws.send(message)


async def main():
    # --8<-- [start:budget]
    max_size = 64 * 1024          # the largest message the application needs
    max_queue = 4                 # messages received but not yet read
    write_limit = 32 * 1024       # the write buffer's high-water mark (the default)
    options = dict(
        max_size=max_size, max_queue=max_queue, write_limit=write_limit,
        max_connections=10_000, max_connections_per_ip=100,
        # Compress, but free the compressor after each message (no idle zlib state).
        extensions=[ServerPerMessageDeflateFactory(server_no_context_takeover=True)],
    )
    worst = max_queue * max_size + int(1.2 * max_size) + 256 * 1024 + write_limit
    print(f"worst case per connection: {worst // 1024} KiB")
    # --8<-- [end:budget]

    async with tether.serve(echo, "127.0.0.1", 0, **options) as server:
        async with tether.connect(f"ws://127.0.0.1:{server.port}/", max_size=None) as ws:
            await ws.send("x" * 1000)
            print("1000 characters:", len(await ws.recv()))
            await ws.send("x" * (max_size + 1))
            try:
                await ws.recv()
            except tether.ConnectionClosedError as exc:
                print("a larger message: closed with", exc.rcvd_code, exc.rcvd_reason)


asyncio.run(main())
