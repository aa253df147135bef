"""The hub over real sockets: topics, counts, broadcast, framing once, slow readers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

import tether
from tether.asyncio import ClientConnection, ServerConnection
from tether.core.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from tether.core.protocol import prepare_frame
from tether.pubsub import Hub, MemoryBackplane, MemoryBus, Policy

GUARD = 30.0  # a guard against hanging; no outcome depends on it


class Served:
    """A server whose handler parks each connection until the test lets it go."""

    def __init__(self) -> None:
        self.conns: list[ServerConnection] = []
        self.arrived = asyncio.Condition()
        self.server: Any = None

    async def handler(self, ws: ServerConnection) -> None:
        async with self.arrived:
            self.conns.append(ws)
            self.arrived.notify_all()
        await ws.wait_closed()

    async def connect(self, **kwargs: Any) -> tuple[ClientConnection, ServerConnection]:
        n = len(self.conns)
        client = await tether.connect(f"ws://127.0.0.1:{self.server.port}/", **kwargs)
        async with self.arrived:
            await asyncio.wait_for(self.arrived.wait_for(lambda: len(self.conns) > n), GUARD)
        return client, self.conns[n]


@contextlib.asynccontextmanager
async def served(**kwargs: Any) -> AsyncIterator[Served]:
    s = Served()
    async with tether.serve(s.handler, "127.0.0.1", 0, **kwargs) as server:
        s.server = server
        yield s


async def recv(ws: ClientConnection) -> Any:
    return await asyncio.wait_for(ws.recv(), GUARD)


async def wait_until(cond: Callable[[], bool]) -> None:
    async def poll() -> None:
        while not cond():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), GUARD)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# -- topics --------------------------------------------------------------------------


def test_publish_reaches_only_subscribers_and_counts() -> None:
    async def main() -> None:
        async with served(compression=None) as s:
            hub = Hub()
            a, sa = await s.connect()
            b, sb = await s.connect()
            assert hub.subscribe(sa, "AAPL", "MSFT") == ["AAPL", "MSFT"]
            assert hub.subscribe(sb, "MSFT", "MSFT") == ["MSFT"]
            assert hub.subscribers("AAPL") == 1 and hub.subscribers("MSFT") == 2
            assert hub.topics() == {"AAPL": 1, "MSFT": 2}
            assert hub.publish("AAPL", "a1") == 1
            assert hub.publish("MSFT", b"m1") == 2
            assert hub.publish("NOBODY", "x") == 0
            assert await recv(a) == "a1"
            assert await recv(a) == b"m1"
            assert await recv(b) == b"m1"
            assert hub.unsubscribe(sa, "MSFT", "XXX") == ["MSFT"]
            hub.publish("MSFT", "m2")
            hub.publish("AAPL", "a2")
            assert await recv(a) == "a2"  # m2 never came
            assert await recv(b) == "m2"
            assert hub.subscriptions(sa) == {"AAPL"}
            await a.close()
            await wait_until(lambda: hub.subscribers("AAPL") == 0)
            assert "AAPL" not in hub.topics()
            await b.close()
    run(main())


def test_broadcast_and_retained_values() -> None:
    async def main() -> None:
        async with served(compression=None) as s:
            hub = Hub()
            pairs = [await s.connect() for _ in range(5)]
            assert hub.broadcast([sc for _, sc in pairs], "hello all") == 5
            for c, _ in pairs:
                assert await recv(c) == "hello all"
            hub.publish("price", "41", retain=True)
            hub.publish("price", "42", retain=True)
            c0, s0 = pairs[0]
            hub.subscribe(s0, "price")
            assert await recv(c0) == "42"  # the retained value, at once
            hub.publish("price", "43")
            assert await recv(c0) == "43"
            for c, _ in pairs:
                await c.close()
    run(main())


def test_prepared_frames_are_identical_bytes_for_every_receiver() -> None:
    assert prepare_frame("hi") == b"\x81\x02hi"
    assert prepare_frame(b"\x00" * 200)[:4] == b"\x82\x7e\x00\xc8"


@pytest.mark.parametrize("no_context_takeover", [True, False])
def test_compressed_once_only_where_valid(no_context_takeover: bool) -> None:
    """A large message is deflated once for the receivers that promised no context
    takeover; the others get it uncompressed; all read the same text."""
    async def main() -> None:
        async with served() as s:
            hub = Hub(compress_min_size=100)
            ext = ClientPerMessageDeflateFactory(
                server_no_context_takeover=no_context_takeover)
            clients = [await s.connect(extensions=[ext], compression=None) for _ in range(3)]
            text = "price update " * 500
            for _, sc in clients:
                hub.subscribe(sc, "t")
                assert (hub._subs[sc].wbits is not None) == no_context_takeover
            for i in range(3):
                hub.publish("t", f"{i}:{text}")
            for c, _ in clients:
                for i in range(3):
                    assert await recv(c) == f"{i}:{text}"
                await c.close()
    run(main())


def test_memory_backplane_bus() -> None:
    async def main() -> None:
        async with served(compression=None) as s:
            bus = MemoryBus()
            hub1 = Hub(backplane=MemoryBackplane(bus))
            hub2 = Hub(backplane=MemoryBackplane(bus))
            c1, s1 = await s.connect()
            c2, s2 = await s.connect()
            hub1.subscribe(s1, "news")
            hub2.subscribe(s2, "news")
            hub1.publish("news", "from hub1")
            assert await recv(c1) == "from hub1"
            assert await recv(c2) == "from hub1"
            await c1.close()
            await c2.close()
    run(main())


# -- slow consumers ------------------------------------------------------------------

BIG = "x" * 65536


async def _stalled_setup(s: Served, hub: Hub) -> tuple[
        ClientConnection, ServerConnection, ClientConnection, ServerConnection]:
    fast, sfast = await s.connect()
    slow, sslow = await s.connect()
    assert slow.transport is not None
    slow.transport.pause_reading()  # a stalled reader: the kernel buffers fill up
    hub.subscribe(sfast, "a", "b")
    hub.subscribe(sslow, "a", "b")
    return fast, sfast, slow, sslow


async def _publish_until(hub: Hub, fast: ClientConnection, cond: Callable[[], bool],
                         sent: list[str]) -> None:
    """Publish big messages on a and b until ``cond``; the fast client reads them all."""
    i = 0
    while not cond():
        for topic in ("a", "b"):
            msg = f"{topic}{i}:{BIG}"
            hub.publish(topic, msg)
            sent.append(msg)
            got = await recv(fast)
            assert got == msg  # the fast reader is never held up or skipped
        i += 1
        assert i < 5000, "the stalled subscriber never filled its buffer"


def test_policy_drop_counts_and_calls_hook() -> None:
    async def main() -> None:
        async with served(compression=None, write_limit=16384) as s:
            dropped: list[tuple[Any, str | None]] = []
            hub = Hub(policy=Policy.DROP, max_buffer=32768,
                      on_drop=lambda c, t, d: dropped.append((c, t)))
            fast, _, slow, sslow = await _stalled_setup(s, hub)
            sent: list[str] = []
            await _publish_until(hub, fast, lambda: hub.dropped >= 10, sent)
            assert hub.stats(sslow)["dropped"] == hub.dropped == len(dropped)
            assert all(c is sslow for c, _ in dropped)
            # Memory stays bounded: at most the limit plus one message waits for it.
            assert sslow.buffered_amount <= 32768 + len(BIG) + 16
            # Once it reads again it gets what was not dropped, in order, and can go on.
            assert slow.transport is not None
            slow.transport.resume_reading()
            received = [await recv(slow) for _ in range(len(sent) - hub.dropped)]
            assert received == [m for m in sent if m in set(received)]
            hub.publish("a", "after")
            assert await recv(slow) == "after"
            await fast.close()
            await slow.close()
    run(main())


def test_policy_latest_keeps_only_the_newest_per_topic() -> None:
    async def main() -> None:
        async with served(compression=None, write_limit=16384) as s:
            hub = Hub(policy=Policy.LATEST, max_buffer=32768)
            fast, _, slow, sslow = await _stalled_setup(s, hub)
            sent: list[str] = []
            await _publish_until(hub, fast, lambda: hub.conflated >= 10, sent)
            assert hub.stats(sslow)["pending"] <= 2  # one per topic, whatever was published
            hub.publish("a", "last-a")
            hub.publish("b", "last-b")
            assert await recv(fast) == "last-a"
            assert await recv(fast) == "last-b"
            assert slow.transport is not None
            slow.transport.resume_reading()
            got: list[str] = []
            while "last-a" not in got or "last-b" not in got:
                got.append(await recv(slow))
            assert len(got) < len(sent) + 2  # some were conflated away
            # Per topic, the order is kept and the newest came last.
            for topic in ("a", "b"):
                mine = [g for g in got if g.startswith(topic) or g == f"last-{topic}"]
                order = [m for m in [*sent, "last-a", "last-b"] if m in set(mine)]
                assert mine == order and mine[-1] == f"last-{topic}"
            await fast.close()
            await slow.close()
    run(main())


@pytest.mark.parametrize("code", [1013, 1008])
def test_policy_close_closes_only_the_slow_one(code: int) -> None:
    async def main() -> None:
        async with served(compression=None, write_limit=16384, close_timeout=2) as s:
            hub = Hub(policy=Policy.CLOSE, max_buffer=32768, close_code=code)
            fast, _, slow, _ = await _stalled_setup(s, hub)
            sent: list[str] = []
            await _publish_until(hub, fast, lambda: hub.closed_slow >= 1, sent)
            assert hub.subscribers("a") == 1  # the fast one only
            hub.publish("a", "still here")
            assert await recv(fast) == "still here"
            assert slow.transport is not None
            slow.transport.resume_reading()
            with pytest.raises(tether.ConnectionClosed) as info:
                while True:
                    await recv(slow)
            # The close frame comes after what was buffered, unless the server gave up
            # waiting (close_timeout) and dropped the connection first.
            assert info.value.rcvd_code in (None, code)
            await fast.close()
    run(main())


@pytest.mark.parametrize("wbits", [9, 12, 15])
def test_prepare_frame_compressed_once_inflates_without_context(wbits: int) -> None:
    from tether.core.extensions.permessage_deflate import PerMessageDeflate
    from tether.core.frames import Frame

    text = "tick " * 400
    frame = prepare_frame(text, compress_wbits=wbits)
    assert frame[0] == 0xC1  # FIN, RSV1, text
    # Two receivers that promised nothing about context each inflate it alone, twice.
    for _ in range(2):
        receiver = PerMessageDeflate(remote_no_context_takeover=True,
                                     remote_max_window_bits=wbits)
        length = frame[1] & 0x7F
        start = 2 if length < 126 else 4
        payload = frame[start:]
        for _ in range(2):
            out = receiver.decode(Frame(1, payload, True, True))
            assert out.payload.decode() == text
