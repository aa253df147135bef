"""Stay connected: a new connection each time the previous one is lost.

    python3 clients_reconnect.py ws://127.0.0.1:8765/
"""

import asyncio
import sys

import tether


def reconnected(ws):
    print("reconnected")                         # sync or async; after each REconnection


async def main(url):
    async for ws in tether.connect(url, on_reconnect=reconnected,
                                   backoff_initial=0.5, backoff_max=30):
        await ws.send("subscribe prices")        # on every connection
        try:
            async for message in ws:
                print("<", message)
        except tether.ConnectionClosed:
            pass
        print("closed with", ws.close_code)
    # The loop ends after a close the server meant (1000, 1008, ...) or ws.close().


asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:8765/"))
