"""Subscribe to a few symbols and print their prices as they change.

    python3 ticker_client.py ws://127.0.0.1:8000/ws AAPL MSFT [--count 10]
"""

import argparse
import asyncio

import tether
from tether.pubsub import protocol


async def main(url, symbols, count):
    async with tether.connect(url) as ws:
        await ws.send(protocol.subscribe_request(symbols, id=1))
        received = 0
        async for text in ws:
            msg = protocol.parse_server_message(text)
            if msg.op == "subscribed":
                print("subscribed to", ", ".join(msg.topics))
            elif msg.op == "message":
                print(f"{msg.topic} {msg.data['price']:.2f}", flush=True)
                received += 1
                if received == count:
                    break


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("symbols", nargs="+")
    parser.add_argument("--count", type=int, default=10, help="stop after this many prices")
    args = parser.parse_args()
    asyncio.run(main(args.url, args.symbols, args.count))
