"""Two hubs, as two server processes would have, sharing messages through Redis.

    python3 redis_two_hubs.py redis://127.0.0.1:6379/0
"""

import asyncio
import sys

import tether
from tether.pubsub import Hub, protocol, serve_subscriptions
from tether.pubsub.redis import RedisBackplane


async def main(redis_url):
    # --8<-- [start:hubs]
    hub_a = Hub(backplane=RedisBackplane(redis_url))    # in one process ...
    hub_b = Hub(backplane=RedisBackplane(redis_url))    # ... and in another

    async with hub_a, hub_b, tether.serve(
            lambda ws: serve_subscriptions(hub_b, ws), "127.0.0.1", 0) as server_b:
        async with tether.connect(f"ws://127.0.0.1:{server_b.port}/") as ws:
            await ws.send(protocol.subscribe_request(["news"]))
            print("B:", await ws.recv())                 # subscribed

            # Hub B subscribes to "news" in Redis in the background, and Redis keeps
            # no history: until it has, what A publishes reaches nobody in B.
            async def publish_on_a():
                while True:
                    hub_a.publish("news", protocol.message("news", "published on A"))
                    await asyncio.sleep(0.1)

            publisher = asyncio.create_task(publish_on_a())
            print("B:", await ws.recv())                 # it arrived through Redis
            publisher.cancel()
    # --8<-- [end:hubs]
    print("gaps:", len(hub_a.gaps) + len(hub_b.gaps))


asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "redis://127.0.0.1:6379/0"))
