"""The topic hub: subscribe connections to topics, publish once, deliver to all.

A message is framed once (:func:`tether.core.protocol.prepare_frame`) and the same
bytes are written to every subscriber with :meth:`Connection.try_send_prepared`, which
never waits.  Each subscriber has a bounded outgoing buffer (``max_buffer`` bytes in
the transport); past it the hub's :class:`Policy` applies to that subscriber alone, so
a slow or stalled reader never delays the others and memory stays bounded:

- ``DROP``: the message is dropped for that subscriber (counted; ``on_drop`` hook).
- ``LATEST``: only the latest message per topic is kept for it, and sent when its
  buffer drains (conflation: right for prices).  Bounded by its number of topics.
- ``CLOSE``: the connection is closed (1013 "try again later" by default, or 1008).

Compression: a message is compressed once, without context, for the subscribers that
negotiated ``server_no_context_takeover`` (then one deflated frame is valid for all of
them); everyone else gets the uncompressed frame (RSV1 clear is always valid, and an
uncompressed message doesn't touch a connection's compression context).
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable, Iterable
from typing import Any

from ..asyncio.connection import Connection
from ..core.protocol import prepare_frame
from ..exceptions import ConnectionClosed
from . import protocol as proto
from .backplane import Backplane, Gap, MemoryBackplane, Message

__all__ = ["Hub", "Policy", "handle_request", "serve_subscriptions"]

logger = logging.getLogger("tether.pubsub")

#: Default per-subscriber limit on bytes waiting in the transport.  Above the engine's
#: default ``write_limit`` (32 KiB) so that the transport has paused writing, and will
#: tell us when it drains, whenever the policy applies.
DEFAULT_MAX_BUFFER = 64 * 1024
#: Messages shorter than this are not worth compressing (a price tick is ~80 bytes).
DEFAULT_COMPRESS_MIN_SIZE = 1024


class Policy(enum.Enum):
    """What happens to a subscriber whose outgoing buffer is full."""

    DROP = "drop"
    LATEST = "latest"
    CLOSE = "close"


class _Prepared:
    """A message framed once; the deflated variants are made on first need."""

    __slots__ = ("compress", "data", "deflated", "plain")

    def __init__(self, data: Message, compress: bool) -> None:
        self.data = data
        self.plain = prepare_frame(data)
        self.compress = compress
        self.deflated: dict[int, bytes] = {}

    def frame_for(self, wbits: int | None) -> bytes:
        if wbits is None or not self.compress:
            return self.plain
        frame = self.deflated.get(wbits)
        if frame is None:
            frame = self.deflated[wbits] = prepare_frame(self.data, compress_wbits=wbits)
        return frame


class _Subscriber:
    __slots__ = ("buffered", "closing", "conn", "delivered", "dropped", "listener", "pending",
                 "topics", "wbits")

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.topics: set[str] = set()
        self.pending: dict[str, _Prepared] = {}
        self.delivered = 0
        self.dropped = 0
        self.closing = False
        self.buffered = 0  # bytes in its transport after our last write
        self.listener: Callable[[], None] | None = None
        p = conn.protocol
        self.wbits = p.shared_compression() if p is not None else None


class Hub:
    """Topics, subscribers and delivery for one process; see the module docstring.

    ``async with Hub(...) as hub`` starts and stops the backplane; a hub with the
    default memory backplane also works without it.
    """

    def __init__(
        self,
        *,
        policy: Policy | str = Policy.LATEST,
        max_buffer: int = DEFAULT_MAX_BUFFER,
        close_code: int = 1013,
        backplane: Backplane | None = None,
        compression: bool = True,
        compress_min_size: int = DEFAULT_COMPRESS_MIN_SIZE,
        on_drop: Callable[[Connection, str | None, Message], None] | None = None,
        on_gap: Callable[[Gap], None] | None = None,
    ) -> None:
        self.policy = Policy(policy)
        if close_code not in (1008, 1013) and not 3000 <= close_code <= 4999:
            raise ValueError("close_code is 1008 (policy violation), 1013 (try again later) "
                             "or an application code 3000-4999")
        self.max_buffer = max_buffer
        self.close_code = close_code
        self.compression = compression
        self.compress_min_size = compress_min_size
        self.on_drop = on_drop
        self.on_gap = on_gap
        self.backplane = backplane if backplane is not None else MemoryBackplane()
        self.backplane.bind(self._from_backplane, self._gap)
        self._topics: dict[str, set[_Subscriber]] = {}
        self._subs: dict[Connection, _Subscriber] = {}
        self._retained: dict[str, _Prepared] = {}
        self._watchers: set[asyncio.Task[Any]] = set()
        #: Counters: messages written, dropped (DROP), replaced while held (LATEST),
        #: connections closed for being slow (CLOSE), gaps reported by the backplane.
        self.delivered = 0
        self.dropped = 0
        self.conflated = 0
        self.closed_slow = 0
        self.gaps: list[Gap] = []

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        await self.backplane.start()
        for topic in self._topics:
            self.backplane.subscribe(topic)

    async def close(self) -> None:
        await self.backplane.close()
        for task in list(self._watchers):
            task.cancel()

    async def __aenter__(self) -> Hub:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------ subscriptions

    def _subscriber(self, conn: Connection) -> _Subscriber:
        sub = self._subs.get(conn)
        if sub is None:
            sub = self._subs[conn] = _Subscriber(conn)
            sub.listener = lambda: self._drained(sub)
            conn.add_drain_listener(sub.listener)
            task = conn.loop.create_task(conn.wait_closed())
            self._watchers.add(task)
            task.add_done_callback(lambda t: self._closed(t, conn))
        return sub

    def _closed(self, task: asyncio.Task[Any], conn: Connection) -> None:
        self._watchers.discard(task)
        self.remove(conn)

    def subscribe(self, conn: Connection, *topics: str) -> list[str]:
        """Subscribe ``conn``; returns the topics it was not subscribed to before.

        A topic with a retained message (``publish(..., retain=True)``) sends it at once.
        """
        sub = self._subscriber(conn)
        added = []
        for topic in topics:
            if topic in sub.topics:
                continue
            sub.topics.add(topic)
            members = self._topics.get(topic)
            if members is None:
                members = self._topics[topic] = set()
                self.backplane.subscribe(topic)
            members.add(sub)
            added.append(topic)
            retained = self._retained.get(topic)
            if retained is not None:
                self._deliver(sub, topic, retained)
        return added

    def unsubscribe(self, conn: Connection, *topics: str) -> list[str]:
        """Unsubscribe ``conn`` from ``topics``; returns those it was subscribed to."""
        sub = self._subs.get(conn)
        if sub is None:
            return []
        removed = []
        for topic in topics:
            if topic not in sub.topics:
                continue
            sub.topics.discard(topic)
            sub.pending.pop(topic, None)
            members = self._topics.get(topic)
            if members is not None:
                members.discard(sub)
                if not members:
                    del self._topics[topic]
                    self.backplane.unsubscribe(topic)
            removed.append(topic)
        return removed

    def remove(self, conn: Connection) -> None:
        """Forget ``conn`` entirely (done by itself when the connection closes)."""
        sub = self._subs.get(conn)
        if sub is None:
            return
        self.unsubscribe(conn, *list(sub.topics))
        sub.pending.clear()
        del self._subs[conn]
        conn.remove_drain_listener(sub.listener)

    def subscriptions(self, conn: Connection) -> set[str]:
        sub = self._subs.get(conn)
        return set(sub.topics) if sub else set()

    def connections(self) -> list[Connection]:
        """Every connection the hub knows (subscribed now or before, not closed)."""
        return list(self._subs)

    def subscribers(self, topic: str) -> int:
        """How many local connections are subscribed to ``topic``."""
        return len(self._topics.get(topic, ()))

    def topics(self) -> dict[str, int]:
        """Every topic with local subscribers, and how many."""
        return {t: len(m) for t, m in self._topics.items()}

    def stats(self, conn: Connection) -> dict[str, int]:
        """Per-connection counters: delivered, dropped, pending (held by LATEST)."""
        sub = self._subs.get(conn)
        if sub is None:
            return {"delivered": 0, "dropped": 0, "pending": 0}
        return {"delivered": sub.delivered, "dropped": sub.dropped, "pending": len(sub.pending)}

    # ------------------------------------------------------------ publishing

    def publish(self, topic: str, data: Message, *, retain: bool = False) -> int:
        """Send ``data`` to every subscriber of ``topic`` here and, through the
        backplane, in other processes.  Never waits.  Returns the local subscriber count.

        ``retain=True`` keeps it as the topic's current value: a new subscriber gets
        it at once (a price, a status).
        """
        self.backplane.publish(topic, data, retain)
        return self._publish_local(topic, data, retain)

    def _publish_local(self, topic: str, data: Message, retain: bool) -> int:
        members = self._topics.get(topic)
        if not members and not retain:
            return 0
        prepared = self._prepare(data)
        if retain:
            self._retained[topic] = prepared
        if not members:
            return 0
        for sub in list(members):
            self._deliver(sub, topic, prepared)
        return len(members)

    def broadcast(self, connections: Iterable[Connection], data: Message) -> int:
        """Send ``data`` to each of ``connections`` (framed once, same slow-reader policy;
        with ``LATEST`` a held broadcast is replaced by the next one).  Returns how many
        it was written or held for."""
        prepared = self._prepare(data)
        n = 0
        for conn in connections:
            sub = self._subs.get(conn)
            if sub is None:
                if conn.protocol is None:
                    continue
                sub = self._subscriber(conn)
            if self._deliver(sub, None, prepared):
                n += 1
        return n

    def _prepare(self, data: Message) -> _Prepared:
        size = len(data)
        return _Prepared(data, self.compression and size >= self.compress_min_size)

    def _from_backplane(self, topic: str, data: Message, retain: bool) -> None:
        self._publish_local(topic, data, retain)

    def _gap(self, gap: Gap) -> None:
        self.gaps.append(gap)
        del self.gaps[:-100]
        logger.warning("backplane gap of %.1fs (%s): messages from other servers may be "
                       "missing; %d published here were not shared", gap.duration, gap.reason,
                       gap.lost_publishes)
        if self.on_gap is not None:
            self.on_gap(gap)

    # ------------------------------------------------------------ delivery

    def _deliver(self, sub: _Subscriber, topic: str | None, prepared: _Prepared) -> bool:
        if sub.closing:
            return False
        if sub.buffered > self.max_buffer:
            # It was full after our last write: look again (it may have drained since).
            sub.buffered = sub.conn.buffered_amount
            if sub.buffered > self.max_buffer:
                self._congested(sub, topic, prepared)
                return self.policy is Policy.LATEST
        if sub.pending:
            if topic is not None and sub.pending.pop(topic, None) is not None:
                self.conflated += 1  # this one is newer
            self._flush(sub)
            if sub.pending:
                # Still full: hold this one too, behind the others.
                self._congested(sub, topic, prepared)
                return True
        return self._write(sub, prepared)

    def _write(self, sub: _Subscriber, prepared: _Prepared) -> bool:
        frame = prepared.plain if sub.wbits is None else prepared.frame_for(sub.wbits)
        buffered = sub.conn.try_send_prepared(frame)
        if buffered < 0:
            if sub.conn.protocol is None or sub.conn.state.name != "OPEN":
                self.remove(sub.conn)
            return False
        sub.buffered = buffered
        sub.delivered += 1
        self.delivered += 1
        return True

    def _congested(self, sub: _Subscriber, topic: str | None, prepared: _Prepared) -> None:
        policy = self.policy
        if policy is Policy.LATEST:
            key = topic if topic is not None else ""
            if key in sub.pending:
                self.conflated += 1
                del sub.pending[key]  # re-insert at the end: newest last
            sub.pending[key] = prepared
        elif policy is Policy.DROP:
            sub.dropped += 1
            self.dropped += 1
            if self.on_drop is not None:
                self.on_drop(sub.conn, topic, prepared.data)
        else:
            self._close_slow(sub)

    def _close_slow(self, sub: _Subscriber) -> None:
        sub.closing = True
        self.closed_slow += 1
        conn = sub.conn
        conn.logger.info("closing slow subscriber %s: %d bytes waiting", conn.remote_address,
                         conn.buffered_amount)
        self.remove(conn)
        reason = "slow consumer" if self.close_code != 1008 else "slow consumer: buffer full"
        task = conn.loop.create_task(conn.close(self.close_code, reason))
        self._watchers.add(task)
        task.add_done_callback(self._watchers.discard)

    def _flush(self, sub: _Subscriber) -> None:
        """Write what LATEST held back, oldest first, while the buffer has room."""
        pending = sub.pending
        sub.buffered = sub.conn.buffered_amount
        while pending and sub.buffered <= self.max_buffer:
            key = next(iter(pending))
            prepared = pending.pop(key)
            if not self._write(sub, prepared):
                pending.clear()
                return

    def _drained(self, sub: _Subscriber) -> None:
        if sub.pending and not sub.closing:
            self._flush(sub)


async def serve_subscriptions(
    hub: Hub,
    conn: Connection,
    *,
    authorize: Callable[[Connection, str], bool] | None = None,
    allow_publish: bool = False,
    max_subscriptions: int = 1000,
) -> None:
    """A connection handler that speaks :mod:`tether.pubsub.protocol` with ``conn``.

    ``authorize(conn, topic)`` may refuse topics (they come back in an ``error``);
    ``allow_publish`` lets clients publish to topics they could subscribe to.
    Use it as the handler of :func:`tether.serve`, or call it from yours::

        async with tether.serve(lambda ws: serve_subscriptions(hub, ws), host, port): ...
    """
    try:
        async for text in conn:
            reply = handle_request(hub, conn, text, authorize=authorize,
                                   allow_publish=allow_publish,
                                   max_subscriptions=max_subscriptions)
            if reply:
                await conn.send(reply)
    except ConnectionClosed:
        pass
    finally:
        hub.remove(conn)


def handle_request(
    hub: Hub,
    conn: Connection,
    text: str | bytes,
    *,
    authorize: Callable[[Connection, str], bool] | None = None,
    allow_publish: bool = False,
    max_subscriptions: int = 1000,
) -> str:
    """Carry out one protocol request from ``conn``; returns the answer to send."""
    try:
        req = proto.parse_request(text)
    except proto.SubscriptionError as exc:
        return proto.error(str(exc), exc.id)
    topics = req.topics if req.topic is None else (req.topic,)
    refused = [t for t in topics if authorize is not None and not authorize(conn, t)]
    if req.op == "publish":
        assert req.topic is not None
        if not allow_publish:
            return proto.error("publishing is not allowed here", req.id, [req.topic])
        if refused:
            return proto.error(f"not allowed: {req.topic}", req.id, refused)
        hub.publish(req.topic, proto.message(req.topic, req.data))
        return proto.ack("published", id=req.id, topic=req.topic)
    if req.op == "unsubscribe":
        hub.unsubscribe(conn, *topics)
        return proto.ack("unsubscribed", topics, req.id)
    allowed = [t for t in topics if t not in refused]
    if len(hub.subscriptions(conn) | set(allowed)) > max_subscriptions:
        return proto.error(f"more than {max_subscriptions} subscriptions", req.id, allowed)
    # Acknowledge before the retained values go out, so a client sees the ack first.
    answer = proto.ack("subscribed", allowed, req.id)
    if conn.try_send_prepared(prepare_frame(answer)) < 0:
        return ""
    if refused:
        conn.try_send_prepared(prepare_frame(
            proto.error("unknown or forbidden topics: " + ", ".join(refused), req.id,
                        refused)))
    hub.subscribe(conn, *allowed)
    return ""

