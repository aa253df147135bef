"""Send a few messages to an echo server and print the answers.

    python3 first_client.py ws://127.0.0.1:8765/
"""

import asyncio
import sys

import tether


async def main(url):
    async with tether.connect(url) as ws:
        for text in ["hello", "how are you?"]:
            await ws.send(text)
            print("<", await ws.recv())
        await ws.send(b"\x00\x01\x02")                  # bytes: a binary message
        print("<", await ws.recv())
        print("round trip:", "%.1f ms" % (1000 * await ws.ping()))
    print("closed with", ws.close_code)                 # 1000: a clean close


asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:8765/"))
