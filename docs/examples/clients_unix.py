"""Unix domain sockets: serve and connect on a path instead of a TCP port.

    python3 clients_unix.py
"""

import asyncio
import os
import tempfile

import tether


async def echo(ws):
    async for message in ws:
        await ws.send(message)


async def main(path):
    async with tether.unix_serve(echo, path):       # or serve(echo, unix_socket=path)
        # The URI still gives the Host header and the path of the request.
        async with tether.unix_connect(path, "ws://localhost/chat") as ws:
            await ws.send("over a unix socket")
            print("<", await ws.recv())
        async with tether.connect("ws://localhost/", unix_socket=path) as ws:
            await ws.send("again")
            print("<", await ws.recv())


with tempfile.TemporaryDirectory() as directory:
    asyncio.run(main(os.path.join(directory, "tether.sock")))
