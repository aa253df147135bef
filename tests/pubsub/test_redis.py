"""The Redis backplane against a real redis-server: in one process, then across
several tether server processes, with Redis restarting in the middle."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

import tether
from tests.support.redis_server import RedisServer, free_port
from tether.pubsub import Hub, protocol, serve_subscriptions
from tether.pubsub.redis import RedisBackplane

GUARD = 60.0  # a guard against hanging; no outcome depends on it
ROOT = Path(__file__).resolve().parents[2]
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join(
    p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH")) if p))


async def channels(url: str) -> set[str]:
    import redis.asyncio

    r = redis.asyncio.Redis.from_url(url)
    try:
        return {c.decode() for c in await r.pubsub_channels("tether:*")}
    finally:
        await r.aclose()


async def until(cond: Callable[[], Any], what: str = "") -> None:
    async def poll() -> None:
        while not await _maybe(cond()):
            await asyncio.sleep(0.02)

    try:
        await asyncio.wait_for(poll(), GUARD)
    except TimeoutError:
        pytest.fail(f"never happened: {what}")


async def _maybe(value: Any) -> Any:
    if asyncio.iscoroutine(value):
        return await value
    return value


async def recv(ws: Any) -> protocol.ServerMessage:
    return protocol.parse_server_message(await asyncio.wait_for(ws.recv(), GUARD))


async def hub_server(url: str) -> AsyncIterator[tuple[Hub, Any]]:
    hub = Hub(backplane=RedisBackplane(url, min_backoff=0.05, max_backoff=0.5))
    async with hub, tether.serve(lambda ws: serve_subscriptions(hub, ws), "127.0.0.1", 0) as srv:
        yield hub, srv


async def subscribed_client(server: Any, *topics: str) -> Any:
    ws = await tether.connect(f"ws://127.0.0.1:{server.port}/")
    await ws.send(protocol.subscribe_request(topics))
    assert (await recv(ws)).op == "subscribed"
    return ws


def test_messages_cross_hubs_and_only_needed_topics_are_subscribed(
        redis_server: RedisServer) -> None:
    async def main() -> None:
        url = redis_server.url
        gen1, gen2 = hub_server(url), hub_server(url)
        hub1, srv1 = await anext(gen1)
        hub2, srv2 = await anext(gen2)
        try:
            assert await channels(url) == {"tether:__hub__"}
            c1 = await subscribed_client(srv1, "AAPL")
            c2 = await subscribed_client(srv2, "AAPL", "MSFT")
            await until(lambda: _has(url, {"tether:AAPL", "tether:MSFT"}), "subscriptions")
            # Let both backplanes subscribe before publishing (pub/sub keeps no history).
            await until(lambda: hub1.backplane._subscribed == {"AAPL"}  # type: ignore
                        and hub2.backplane._subscribed == {"AAPL", "MSFT"},  # type: ignore
                        "backplanes subscribed")
            hub1.publish("AAPL", protocol.message("AAPL", 1))
            hub2.publish("MSFT", protocol.message("MSFT", 2))
            m = await recv(c1)
            assert (m.topic, m.data) == ("AAPL", 1)  # local, and not twice
            got = {((m := await recv(c2)).topic, m.data) for _ in range(2)}
            assert got == {("AAPL", 1), ("MSFT", 2)}  # through Redis, and local
            hub2.publish("AAPL", protocol.message("AAPL", 3))
            assert (await recv(c1)).data == 3
            assert (await recv(c2)).data == 3
            await c2.send(protocol.unsubscribe_request(["MSFT"]))
            assert (await recv(c2)).op == "unsubscribed"
            await until(lambda: _lacks(url, "tether:MSFT"), "MSFT unsubscribed in Redis")
            await c1.close()
            await c2.close()
        finally:
            await gen1.aclose()
            await gen2.aclose()
    asyncio.run(main())


async def _has(url: str, wanted: set[str]) -> bool:
    return wanted <= await channels(url)


async def _ready(url: str, topic: str, *hubs: Hub) -> bool:
    """Every hub's backplane is connected and subscribed to ``topic`` in Redis."""
    return (all(h.backplane.connected and topic in h.backplane._subscribed  # type: ignore
                for h in hubs)
            and f"tether:{topic}" in await channels(url))


async def _lacks(url: str, name: str) -> bool:
    return name not in await channels(url)


def test_redis_restart_local_delivery_continues_and_gap_reported(
        redis_server: RedisServer) -> None:
    async def main() -> None:
        url = redis_server.url
        gen1, gen2 = hub_server(url), hub_server(url)
        hub1, srv1 = await anext(gen1)
        hub2, srv2 = await anext(gen2)
        try:
            c1 = await subscribed_client(srv1, "T")
            c2 = await subscribed_client(srv2, "T")
            await until(lambda: _ready(url, "T", hub1, hub2), "subscribed")
            hub1.publish("T", protocol.message("T", "before"))
            assert (await recv(c1)).data == "before"
            assert (await recv(c2)).data == "before"

            redis_server.stop()
            await until(lambda: not hub1.backplane.connected
                        and not hub2.backplane.connected, "loss noticed")
            # Local delivery goes on while Redis is away; no exception anywhere.
            for i in range(5):
                hub1.publish("T", protocol.message("T", f"during{i}"))
                assert (await recv(c1)).data == f"during{i}"

            redis_server.start()
            await until(lambda: hub1.gaps and hub2.gaps, "gaps reported")
            assert hub1.gaps[0].duration > 0 and hub1.gaps[0].lost_publishes >= 5
            await until(lambda: _ready(url, "T", hub1, hub2), "resubscribed")
            hub1.publish("T", protocol.message("T", "after"))
            assert (await recv(c1)).data == "after"
            # c2 missed the "during" messages (reported as a gap) and gets "after".
            assert (await recv(c2)).data == "after"
            await c1.close()
            await c2.close()
        finally:
            await gen1.aclose()
            await gen2.aclose()
    asyncio.run(main())


# -- several server processes ---------------------------------------------------------


class Demo:
    """``tether demo`` in a subprocess."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tether.cli.main", "demo", *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV)
        assert self.proc.stdout is not None
        self.first_line = self.proc.stdout.readline()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()


async def ticker_client(port: int, *symbols: str) -> Any:
    ws = await tether.connect(f"ws://127.0.0.1:{port}/")
    welcome = json.loads(await asyncio.wait_for(ws.recv(), GUARD))
    assert welcome["op"] == "welcome"
    await ws.send(protocol.subscribe_request(symbols))
    return ws


async def next_price(ws: Any, skip_gap: bool = True) -> protocol.ServerMessage:
    while True:
        m = await recv(ws)
        if m.op == "message" or (m.op == "gap" and not skip_gap):
            return m


def test_three_server_processes_share_prices_through_a_restarting_redis(
        redis_server: RedisServer) -> None:
    ports = [free_port() for _ in range(3)]
    demos = [Demo("--port", str(ports[0]), "--redis", redis_server.url, "--worker-name", "w0",
                  "--ticks", "10")]
    demos += [Demo("--port", str(p), "--redis", redis_server.url, "--worker-name", f"w{i + 1}",
                   "--no-feed") for i, p in enumerate(ports[1:])]
    try:
        for d in demos:
            assert "ready on port" in d.first_line, d.first_line

        async def main() -> None:
            clients = [await ticker_client(p, "AAPL", "MSFT") for p in ports for _ in range(2)]
            # Prices come from w0's feed and reach the clients of every process.
            for ws in clients:
                seen = set()
                while len(seen) < 3:
                    m = await next_price(ws)
                    assert m.topic in ("AAPL", "MSFT")
                    seen.add(m.data["price"])

            redis_server.stop()
            # w0's own clients keep getting prices while Redis is down.
            for ws in clients[:2]:
                first = (await next_price(ws)).data["time"]
                while (await next_price(ws)).data["time"] == first:
                    pass
            redis_server.start()
            # Every client is told about the gap, then prices flow everywhere again.
            for ws in clients:
                while (await next_price(ws, skip_gap=False)).op != "gap":
                    pass
                for _ in range(3):
                    assert (await next_price(ws)).topic in ("AAPL", "MSFT")
            for ws in clients:
                await ws.close()

        asyncio.run(main())
        for d in demos:
            assert d.proc.poll() is None  # no process crashed
    finally:
        for d in demos:
            d.stop()


def test_demo_workers_share_one_port(redis_server: RedisServer) -> None:
    port = free_port()
    demo = Demo("--port", str(port), "--workers", "2", "--redis", redis_server.url)
    try:
        assert f":{port}/" in demo.first_line, demo.first_line

        async def main() -> None:
            # Workers start in the background: retry until the port answers.
            async def connect() -> Any:
                while True:
                    try:
                        return await ticker_client(port, "NVDA")
                    except OSError:
                        await asyncio.sleep(0.1)

            clients = [await asyncio.wait_for(connect(), GUARD) for _ in range(6)]
            for ws in clients:
                m = await next_price(ws)
                assert m.topic == "NVDA"
                first = m.data["time"]
                while (await next_price(ws)).data["time"] == first:
                    pass
            for ws in clients:
                await ws.close()

        asyncio.run(main())
    finally:
        demo.stop()
