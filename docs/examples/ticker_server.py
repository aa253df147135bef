"""A stock ticker: prices pushed to the browsers that picked those symbols.

    python3 ticker_server.py [--port 8000] [--redis redis://127.0.0.1:6379/0] [--no-feed]

GET / is the page (ticker.html beside this file); the WebSocket is at /ws.  With
--redis, several of these processes share their prices; --no-feed makes one that
only relays what another process publishes.
"""

import argparse
import asyncio
import contextlib
import random
from pathlib import Path

import tether
from tether.pubsub import Hub, Policy, protocol, serve_subscriptions

PAGE = (Path(__file__).parent / "ticker.html").read_bytes()
PRICES = {"AAPL": 190.0, "MSFT": 420.0, "NVDA": 130.0, "TSLA": 250.0}


# --8<-- [start:feed]
async def feed(hub, ticks_per_second=4.0):
    """A simulated market: a random walk per symbol, published when it changes."""
    prices = dict(PRICES)
    while True:
        symbol = random.choice(list(prices))
        prices[symbol] = round(prices[symbol] * random.uniform(0.995, 1.005), 2)
        hub.publish(symbol, protocol.message(symbol, {"price": prices[symbol]}), retain=True)
        await asyncio.sleep(1 / ticks_per_second / len(prices))
# --8<-- [end:feed]


# --8<-- [start:serve]
def page(connection, request):
    """Answer plain HTTP before the WebSocket handshake: the page at /."""
    if request.target == "/":
        return tether.basic_http_response(200, PAGE, content_type="text/html; charset=utf-8")
    return None                                   # go on with the handshake


def make_backplane(redis_url):
    if redis_url is None:
        return None                               # the in-memory default: one process
    from tether.pubsub.redis import RedisBackplane
    return RedisBackplane(redis_url)


async def main(port, redis_url, run_feed):
    hub = Hub(policy=Policy.LATEST, backplane=make_backplane(redis_url))

    async def handler(ws):
        await serve_subscriptions(hub, ws)        # the JSON subscription protocol

    async with hub, tether.serve(handler, "127.0.0.1", port, process_request=page) as server:
        print(f"serving on http://127.0.0.1:{server.port}/", flush=True)
        if run_feed:
            await asyncio.gather(feed(hub), server.serve_forever())
        else:
            await server.serve_forever()
# --8<-- [end:serve]


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--redis", default=None, help="redis://host:port/db to share prices")
    parser.add_argument("--no-feed", action="store_true", help="relay only (needs --redis)")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):                  # Ctrl-C
        asyncio.run(main(args.port, args.redis, not args.no_feed))
