"""A :class:`~tether.pubsub.backplane.Backplane` on Redis pub/sub (``pip install tether[redis]``).

Every hub publishes what it publishes to Redis, and subscribes in Redis only to the
topics it has local subscribers for (channel ``<prefix><topic>``).  A message carries
the publishing hub's id, so a hub ignores its own messages coming back (it delivered
them locally already).

When Redis goes away the hub keeps delivering its own messages locally; the backplane
reconnects with exponential backoff (``min_backoff`` doubling up to ``max_backoff``),
subscribes again to the topics it needs, and reports the time it was cut off as a
:class:`~tether.pubsub.backplane.Gap` (the hub logs it and calls its ``on_gap``).
Nothing is replayed: Redis pub/sub keeps no history.

The ``redis`` package is imported when a backplane starts, not before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import Any

from .backplane import Backplane, Gap, Message

__all__ = ["RedisBackplane"]

logger = logging.getLogger("tether.pubsub.redis")

_TEXT = 1
_RETAIN = 2
#: Messages waiting to be published to Redis; past it (Redis slow or down) the oldest
#: are dropped and counted in the gap report.
MAX_OUTGOING = 10_000
#: Seconds between checks for subscription changes while no message arrives.
POLL_INTERVAL = 0.05


class RedisBackplane(Backplane):
    """Share a hub's messages with the hubs of other processes through Redis."""

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        prefix: str = "tether:",
        min_backoff: float = 0.1,
        max_backoff: float = 5.0,
    ) -> None:
        self.url = url
        self.prefix = prefix
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.origin = uuid.uuid4().bytes
        self.topics: set[str] = set()
        self._subscribed: set[str] = set()
        self._outgoing: asyncio.Queue[tuple[str, bytes]] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._connected = False
        self._ready: asyncio.Event | None = None
        self._down_since: float | None = None
        self._down_reason = ""
        self._lost = 0
        self._closing = False
        #: How many times the subscriber connection was (re)established.
        self.connections = 0

    @property
    def connected(self) -> bool:
        return self._connected

    async def start(self) -> None:
        """Start the reader and writer tasks and wait (up to 5 s) for the first connection.

        If Redis is not there yet the hub still starts; the backplane keeps trying.
        """
        try:
            import redis.asyncio  # noqa: F401
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ImportError("the Redis backplane needs the redis package: "
                              "pip install 'tether[redis]'") from exc
        self._outgoing = asyncio.Queue(MAX_OUTGOING)
        self._ready = asyncio.Event()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._reader()), loop.create_task(self._writer())]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), 5)

    async def close(self) -> None:
        self._closing = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await task
        self._tasks = []

    def subscribe(self, topic: str) -> None:
        self.topics.add(topic)

    def unsubscribe(self, topic: str) -> None:
        self.topics.discard(topic)

    def publish(self, topic: str, data: Message, retain: bool = False) -> None:
        q = self._outgoing
        if q is None:
            return
        if isinstance(data, str):
            flags, body = _TEXT, data.encode("utf-8")
        else:
            flags, body = 0, bytes(data)
        if retain:
            flags |= _RETAIN
        if not self._connected:
            # Cut off: the hub delivered it locally; other processes miss it (the gap).
            self._lost += 1
            return
        if q.full():
            q.get_nowait()
            self._lost += 1
        q.put_nowait((self.prefix + topic, self.origin + bytes([flags]) + body))

    # ------------------------------------------------------------ connection state

    def _client(self) -> Any:
        import redis.asyncio
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # No retries inside redis-py: we reconnect ourselves, so that a lost
        # connection is always seen (and reported as a gap).
        return redis.asyncio.Redis.from_url(
            self.url, retry=Retry(NoBackoff(), 0), socket_connect_timeout=2,
            health_check_interval=0)

    def _went_down(self, exc: BaseException) -> None:
        if self._connected or self._down_since is None:
            self._down_since = time.time()
            self._down_reason = f"{type(exc).__name__}: {exc}"
            logger.warning("lost Redis at %s (%s); local delivery continues, reconnecting",
                           self.url, self._down_reason)
        self._connected = False

    def _came_up(self) -> None:
        self._connected = True
        self.connections += 1
        if self._ready is not None:
            self._ready.set()
        if self._down_since is not None:
            gap = Gap(self._down_since, time.time(), self._lost, self._down_reason)
            self._down_since = None
            self._lost = 0
            if self._on_gap is not None:
                self._on_gap(gap)

    # ------------------------------------------------------------ tasks

    async def _reader(self) -> None:
        import redis.exceptions

        backoff = self.min_backoff
        while not self._closing:
            client = self._client()
            pubsub = client.pubsub()
            try:
                # A control channel keeps the connection subscribed (and watched)
                # while no topic has local subscribers.
                await pubsub.subscribe(self.prefix + "__hub__")
                self._subscribed = set()
                await self._sync(pubsub)
                self._came_up()
                backoff = self.min_backoff
                while True:
                    await self._sync(pubsub)
                    msg = await pubsub.get_message(ignore_subscribe_messages=True,
                                                   timeout=POLL_INTERVAL)
                    if msg is not None:
                        self._received(msg)
            except asyncio.CancelledError:
                raise
            except (redis.exceptions.RedisError, OSError) as exc:
                self._went_down(exc)
            finally:
                with contextlib.suppress(BaseException):
                    await pubsub.aclose()
                with contextlib.suppress(BaseException):
                    await client.aclose()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.max_backoff)

    async def _sync(self, pubsub: Any) -> None:
        """Make the Redis subscriptions match the topics with local subscribers."""
        wanted = self.topics
        if wanted == self._subscribed:
            return
        add = wanted - self._subscribed
        remove = self._subscribed - wanted
        if add:
            await pubsub.subscribe(*(self.prefix + t for t in add))
        if remove:
            await pubsub.unsubscribe(*(self.prefix + t for t in remove))
        self._subscribed = (self._subscribed | add) - remove

    def _received(self, msg: dict[str, Any]) -> None:
        if msg.get("type") != "message":
            return
        payload: bytes = msg["data"]
        if len(payload) < 17 or payload[:16] == self.origin:
            return
        channel = msg["channel"]
        if isinstance(channel, bytes):
            channel = channel.decode("utf-8", "replace")
        topic = channel[len(self.prefix):]
        flags = payload[16]
        body = payload[17:]
        data: Message = body.decode("utf-8") if flags & _TEXT else body
        if self._deliver is not None and topic in self.topics:
            self._deliver(topic, data, bool(flags & _RETAIN))

    async def _writer(self) -> None:
        import redis.exceptions

        q = self._outgoing
        assert q is not None
        client = self._client()
        try:
            while not self._closing:
                channel, payload = await q.get()
                # A connection made before Redis restarted fails once: retry the message
                # on a fresh one before counting it lost.  Whether Redis is down is the
                # reader's call (it reports the gap); the writer only counts.
                for attempt in (1, 2):
                    try:
                        await client.publish(channel, payload)
                        break
                    except (redis.exceptions.RedisError, OSError):
                        with contextlib.suppress(BaseException):
                            await client.aclose()
                        client = self._client()
                        if attempt == 2:
                            self._lost += 1
        finally:
            with contextlib.suppress(BaseException):
                await client.aclose()
