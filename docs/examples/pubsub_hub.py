"""A hub, the JSON subscription protocol, and one subscriber."""

import asyncio

import tether
from tether.pubsub import Hub, Policy, protocol, serve_subscriptions


async def main():
    hub = Hub(policy=Policy.LATEST)          # or DROP, or CLOSE

    async def handler(ws):
        await serve_subscriptions(hub, ws)   # speaks the JSON protocol below

    async with hub, tether.serve(handler, "127.0.0.1", 0) as server:
        hub.publish("AAPL", protocol.message("AAPL", {"price": 189.52}), retain=True)

        # A subscriber: the acknowledgement, then the retained value, then each change.
        async with tether.connect(f"ws://127.0.0.1:{server.port}/") as ws:
            await ws.send(protocol.subscribe_request(["AAPL"], id=1))
            print(await ws.recv())
            print(await ws.recv())
            hub.publish("AAPL", protocol.message("AAPL", {"price": 189.60}))
            print(await ws.recv())
            print("subscribers of AAPL:", hub.subscribers("AAPL"))


asyncio.run(main())
