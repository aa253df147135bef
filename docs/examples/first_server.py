"""An echo server that runs until Ctrl-C:  python3 first_server.py [PORT]"""

import asyncio
import sys

import tether


async def echo(ws):
    print("open", ws.remote_address, ws.path, flush=True)
    async for message in ws:
        await ws.send(message)
    print("closed", ws.close_code, flush=True)


async def main(port):
    async with tether.serve(echo, "127.0.0.1", port) as server:
        print(f"serving on ws://127.0.0.1:{server.port}/", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 8765))
    except KeyboardInterrupt:
        print("stopped", flush=True)
