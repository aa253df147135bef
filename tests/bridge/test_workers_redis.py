"""``tether bridge --workers 2 --redis URL``: one port, two processes, one upstream."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import tether
from tests.support.redis_server import RedisServer, redis_server

from ..serving.helpers import GUARD, banner_port, read_line, run, stop, tether_cli
from .servers import JsonState, json_server

__all__ = ["redis_server"]


def test_workers_share_one_feed_through_redis(redis_server: RedisServer) -> None:
    state = JsonState({"v": 1})

    async def main() -> tuple[list[int], int, str, int]:
        upstream_conns: list[Any] = []
        go = asyncio.Event()

        async def upstream(ws: Any) -> None:
            upstream_conns.append(ws)
            while not go.is_set():  # until every client saw one
                await ws.send("warmup")
                await asyncio.sleep(0.02)
            for i in range(50):
                await ws.send(f"tick {i}")
            await ws.wait_closed()

        loop = asyncio.get_running_loop()
        async with tether.serve(upstream, "127.0.0.1", 0) as up:
            with json_server(state) as url:
                proc = tether_cli(
                    "bridge", "--port", "0", "--workers", "2", "--redis", redis_server.url,
                    "--route", f"/feed=feed:ws://127.0.0.1:{up.port}/",
                    "--route", f"/prices=poll:{url}", "--every", "50ms",
                    "--log-format", "json")
                try:
                    port = banner_port(await loop.run_in_executor(None, read_line, proc))
                    await loop.run_in_executor(None, read_line, proc)
                    base = f"ws://127.0.0.1:{port}"
                    clients = [await tether.connect(f"{base}/feed") for _ in range(16)]
                    # A warmup reaching a client shows its worker gets the feed.
                    for ws in clients:
                        assert await asyncio.wait_for(ws.recv(), GUARD) == "warmup"
                    go.set()
                    for ws in clients:
                        ticks = []
                        while len(ticks) < 50:
                            m = await asyncio.wait_for(ws.recv(), GUARD)
                            if m != "warmup":
                                ticks.append(m)
                        assert ticks == [f"tick {i}" for i in range(50)]
                    # Polled values: every client, on either worker, gets the current one.
                    for _ in range(8):
                        async with tether.connect(f"{base}/prices") as ws:
                            first = [json.loads(await asyncio.wait_for(ws.recv(), GUARD))
                                     for _ in range(2)]
                            assert first[1]["data"] == {"v": 1}
                    ports = [ws.local_address[1] for ws in clients]
                    for ws in clients:
                        await ws.close()
                finally:
                    code, err = await loop.run_in_executor(None, stop, proc)
        return ports, code, err, len(upstream_conns)

    ports, code, err, upstreams = run(main())
    assert code == 0, err
    # Both workers served clients, and only one upstream connection was made.
    assert upstreams == 1
    pids = {}
    for line in err.splitlines():
        if line.startswith("{"):
            rec = json.loads(line)
            if rec.get("event") == "open":
                pids[int(rec["client"].rsplit(":", 1)[1])] = rec["pid"]
    assert len({pids[p] for p in ports}) == 2
