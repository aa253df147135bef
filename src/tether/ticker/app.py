"""The stock-ticker server: a price feed, a hub, a page, all on one port.

Clients speak :mod:`tether.pubsub.protocol`: they subscribe to symbols and receive
``{"op": "message", "topic": "AAPL", "data": {"symbol": "AAPL", "price": 189.52,
"change": 0.02, "open": 189.5, "time": ...}}`` for every change of those symbols only.
On connecting they get ``{"op": "welcome", "topics": [...symbols...], "server": ...}``.

``GET /`` is the ticker page, ``GET /echo`` the echo page (its WebSocket at ``/echo``
echoes), ``/healthz`` answers ``ok``.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.resources
import json
import logging
import os
from collections.abc import AsyncIterable, Iterable
from typing import Any, Protocol

from ..asyncio import Connection, ServerConnection, basic_http_response
from ..core.http11 import Request, Response
from ..pubsub import Gap, Hub, Policy, protocol, serve_subscriptions
from .feed import Tick

__all__ = ["TickerServer", "page"]

logger = logging.getLogger("tether.ticker")


class Feed(Protocol):
    @property
    def symbols(self) -> list[str]: ...

    def __aiter__(self) -> Any: ...


def page(name: str) -> bytes:
    """A page packaged with tether (``ticker.html``, ``demo.html``)."""
    return importlib.resources.files("tether.cli").joinpath(f"static/{name}").read_bytes()


class TickerServer:
    """Glue between a feed, a :class:`Hub` and connections.

    ``feed`` is None in a worker that only relays (prices come over the backplane).
    """

    def __init__(self, hub: Hub, symbols: Iterable[str], feed: Feed | None = None,
                 name: str | None = None) -> None:
        self.hub = hub
        self.symbols = list(symbols)
        self.feed = feed
        self.name = name or f"pid {os.getpid()}"
        self.opening: dict[str, float] = {}
        self.last: dict[str, float] = {}
        self.published = 0
        self._task: asyncio.Task[None] | None = None
        self._ticker_page = page("ticker.html")
        self._echo_page = page("demo.html")
        hub.on_gap = self._gap

    def _gap(self, gap: Gap) -> None:
        """Tell every client that prices from other servers may have been missed."""
        self.hub.broadcast(self.hub.connections(), protocol.gap(gap.started, gap.ended))

    # ------------------------------------------------------------ feed

    def start_feed(self) -> None:
        if self.feed is not None and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run_feed(self.feed))

    async def stop_feed(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run_feed(self, feed: AsyncIterable[Tick]) -> None:
        try:
            async for tick in feed:
                self.on_tick(tick)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("the price feed failed")

    def on_tick(self, tick: Tick) -> None:
        """Publish a tick if the price changed (retained: a new subscriber gets it)."""
        if self.last.get(tick.symbol) == tick.price:
            return
        if tick.symbol not in self.symbols:
            self.symbols.append(tick.symbol)
        opening = self.opening.setdefault(tick.symbol, tick.price)
        self.last[tick.symbol] = tick.price
        data = {"symbol": tick.symbol, "price": tick.price,
                "change": round(tick.price - opening, 2), "open": opening, "time": tick.time}
        self.hub.publish(tick.symbol, protocol.message(tick.symbol, data), retain=True)
        self.published += 1

    # ------------------------------------------------------------ connections

    def process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        path = request.target.split("?", 1)[0]
        if path in ("/healthz", "/readyz"):
            return basic_http_response(200, "ok\n")
        if "Upgrade" in request.headers:
            return None
        if path in ("/", "/index.html", "/ticker"):
            return basic_http_response(200, self._ticker_page, "text/html; charset=utf-8")
        if path == "/echo":
            return basic_http_response(200, self._echo_page, "text/html; charset=utf-8")
        if path == "/symbols":
            return basic_http_response(200, json.dumps(self.symbols), "application/json")
        return basic_http_response(404, "not found\n")

    async def handler(self, conn: ServerConnection) -> None:
        if conn.path.split("?", 1)[0] == "/echo":
            async for message in conn:
                await conn.send(message)
            return
        await conn.send(json.dumps({"op": "welcome", "topics": self.symbols,
                                    "server": self.name}))
        await serve_subscriptions(self.hub, conn, authorize=self._known)

    def _known(self, conn: Connection, topic: str) -> bool:
        return topic in self.symbols


def make_hub(redis_url: str | None = None) -> Hub:
    """The ticker's hub: keep the latest price per symbol for slow readers."""
    if redis_url:
        from ..pubsub.redis import RedisBackplane

        return Hub(policy=Policy.LATEST, backplane=RedisBackplane(redis_url))
    return Hub(policy=Policy.LATEST)
