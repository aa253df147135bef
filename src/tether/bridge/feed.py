"""A remote WebSocket feed, fanned out: one upstream connection, many local clients.

:class:`RemoteFeed` connects once to ``url`` (sending ``subscribe`` messages after
each connect, if the upstream wants to be told what to send), and publishes every
message it receives, unchanged, to ``topic`` on a :class:`tether.pubsub.Hub`: the
hub frames it once and writes it to every local subscriber, with its slow-reader
policy.  When the upstream connection drops it reconnects with exponential backoff.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from ..asyncio.client import connect
from ..exceptions import ConnectionClosed, TetherError
from ..pubsub import Hub
from ._background import Background

__all__ = ["RemoteFeed"]

logger = logging.getLogger("tether.bridge")


class RemoteFeed(Background):
    """Subscribe once to ``url`` and publish what arrives to ``topic`` on ``hub``."""

    def __init__(self, hub: Hub, topic: str, url: str, *, subscribe: Sequence[str] = (),
                 retain: bool = False, min_backoff: float = 0.5, max_backoff: float = 30.0,
                 connect_options: dict[str, Any] | None = None) -> None:
        self.hub = hub
        self.topic = topic
        self.url = url
        self.subscribe = list(subscribe)
        self.retain = retain
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.connect_options = dict(connect_options or {})
        self.connect_options.setdefault("proxy", None)
        self.connects = 0
        self.messages = 0
        self.errors = 0
        self.connected = asyncio.Event()

    async def read_upstream(self) -> None:
        async with connect(self.url, **self.connect_options) as ws:
            self.connects += 1
            for request in self.subscribe:
                await ws.send(request)
            self.connected.set()
            logger.info("feed %s connected", self.url)
            try:
                async for message in ws:
                    self.messages += 1
                    self.hub.publish(self.topic, message, retain=self.retain)
            finally:
                self.connected.clear()

    async def run(self) -> None:
        delay = self.min_backoff
        while True:
            try:
                await self.read_upstream()
                delay = self.min_backoff
                logger.info("feed %s closed; reconnecting in %.1fs", self.url, delay)
            except (OSError, TetherError, TimeoutError) as exc:
                self.errors += 1
                if isinstance(exc, ConnectionClosed):
                    delay = self.min_backoff
                logger.warning("feed %s failed: %s; reconnecting in %.1fs", self.url, exc,
                               delay)
            await asyncio.sleep(delay)
            delay = min(self.max_backoff, delay * 2)

