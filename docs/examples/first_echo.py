"""A server and a client in one program: the echo server answers "hello"."""

import asyncio

import tether


async def echo(ws):
    async for message in ws:          # str for text, bytes for binary
        await ws.send(message)


async def main():
    async with tether.serve(echo, "127.0.0.1", 0) as server:    # 0: any free port
        async with tether.connect(f"ws://127.0.0.1:{server.port}/") as ws:
            await ws.send("hello")
            print(await ws.recv())    # hello


asyncio.run(main())
