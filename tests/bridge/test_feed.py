"""Remote WebSocket feed: one upstream subscription fanned out to many local clients."""

from __future__ import annotations

import asyncio
from typing import Any

import tether
from tether.bridge import RemoteFeed, Router
from tether.pubsub import Hub

from ..serving.helpers import GUARD, run, until


def test_one_upstream_many_clients_and_reconnect() -> None:
    async def main() -> None:
        upstream_conns: list[Any] = []
        requests: list[str] = []
        go = asyncio.Queue[int]()

        async def upstream(ws: Any) -> None:
            upstream_conns.append(ws)
            requests.append(await ws.recv())
            while True:
                n = await go.get()
                if n < 0:
                    await ws.close(1001, "restarting")
                    return
                for i in range(n):
                    await ws.send(f"tick {i}")
                await ws.send(b"\x01binary too")

        async with tether.serve(upstream, "127.0.0.1", 0) as up:
            hub = Hub()
            router = Router()
            router.topic("/feed", hub, "feed", ack=False)
            feed = RemoteFeed(hub, "feed", f"ws://127.0.0.1:{up.port}/src",
                              subscribe=['{"subscribe": "all"}'], min_backoff=0.01)
            async with tether.serve(router, "127.0.0.1", 0,
                                    process_request=router.process_request) as local:
                clients = [await tether.connect(f"ws://127.0.0.1:{local.port}/feed")
                           for _ in range(5)]
                await until(lambda: hub.subscribers("feed") == 5)
                feed.start()
                await asyncio.wait_for(feed.connected.wait(), GUARD)
                await go.put(100)
                for ws in clients:
                    got = [await asyncio.wait_for(ws.recv(), GUARD) for _ in range(101)]
                    assert got == [f"tick {i}" for i in range(100)] + [b"\x01binary too"]
                assert len(upstream_conns) == 1 and requests == ['{"subscribe": "all"}']
                # The upstream goes away: the feed reconnects and subscribes again.
                await go.put(-1)
                await until(lambda: feed.connects == 2 and feed.connected.is_set())
                await go.put(3)
                for ws in clients:
                    got = [await asyncio.wait_for(ws.recv(), GUARD) for _ in range(4)]
                    assert got[:3] == ["tick 0", "tick 1", "tick 2"]
                assert len(upstream_conns) == 2 and len(requests) == 2
                assert feed.messages == 105
                await feed.stop()
                for ws in clients:
                    await ws.close()

    run(main())
