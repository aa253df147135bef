"""Server-Sent Events bridge: the parser, and a real SSE server end to end."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import tether
from tether.bridge import Router, SseBridge, SseParser
from tether.bridge.sse import SseEvent
from tether.pubsub import Hub

from ..serving.helpers import GUARD, run, until
from .servers import SseState, sse_server


def parse_all(*chunks: bytes) -> tuple[list[SseEvent], SseParser]:
    p = SseParser()
    out: list[SseEvent] = []
    for c in chunks:
        out.extend(p.feed(c))
    return out, p


def test_parser_fields_line_ends_and_split_chunks() -> None:
    stream = (b"\xef\xbb\xbf: comment\r\ndata: one\r\n\r\n"
              b"event: tick\rid: 7\rdata: {\"a\":\rdata: 1}\r\r"
              b"retry: 1500\ndata:no-space\n\n"
              b"data: only at the end")
    events, p = parse_all(stream)
    assert events == [SseEvent("one"), SseEvent('{"a":\n1}', "tick", "7"),
                      SseEvent("no-space", "message", "7")]
    assert p.retry == 1.5 and p.last_id == "7"
    # Byte by byte (a CRLF and a UTF-8 character split between reads): same events.
    data = "data: é\r\n\r\nid\ndata: x\n\n".encode()
    one_by_one, _ = parse_all(*(data[i:i + 1] for i in range(len(data))))
    assert one_by_one == [SseEvent("é"), SseEvent("x", "message", "")]
    # A blank line with no data dispatches nothing; the event name resets.
    events, _ = parse_all(b"event: x\n\ndata: y\n\n")
    assert events == [SseEvent("y")]


def test_events_pushed_to_subscribers_and_reconnect_with_last_id() -> None:
    state = SseState()
    state.batches = [
        [b"retry: 50\n", b"id: 1\ndata: {\"price\": 1}\n\n",
         b"event: status\nid: 2\ndata: market open\n\n"],
        [b"id: 3\ndata: {\"price\": 3}\n\n"],
    ]
    with sse_server(state) as url:
        async def main() -> None:
            hub = Hub()
            router = Router()
            router.topic("/events", hub, "ticks")
            bridge = SseBridge(hub, "ticks", url, timeout=5)
            async with tether.serve(router, "127.0.0.1", 0,
                                    process_request=router.process_request) as server:
                clients = [await tether.connect(f"ws://127.0.0.1:{server.port}/events")
                           for _ in range(3)]
                # Each client's subscription is acknowledged before events flow.
                for ws in clients:
                    ack = json.loads(await asyncio.wait_for(ws.recv(), GUARD))
                    assert ack == {"op": "subscribed", "topics": ["ticks"]}
                await until(lambda: hub.subscribers("ticks") == 3)
                bridge.start()
                expected: list[dict[str, Any]] = [
                    {"op": "message", "topic": "ticks", "data": {"price": 1}},
                    {"op": "message", "topic": "ticks", "event": "status", "id": "2",
                     "data": "market open"},
                    {"op": "message", "topic": "ticks", "data": {"price": 3}},
                ]
                for ws in clients:
                    got = [json.loads(await asyncio.wait_for(ws.recv(), GUARD))
                           for _ in expected]
                    assert got == expected
                await until(lambda: len(state.requests) == 2)
                assert state.requests[0].get("accept") == "text/event-stream"
                assert "last-event-id" not in state.requests[0]
                assert state.requests[1]["last-event-id"] == "2"
                assert bridge.connects == 2 and bridge.retry == 0.05
                state.hold.set()
                await bridge.stop()
                for ws in clients:
                    await ws.close()

        run(main())


def test_not_an_event_stream_backs_off() -> None:
    from .servers import JsonState, json_server

    with json_server(JsonState({"x": 1})) as url:
        async def main() -> None:
            bridge = SseBridge(Hub(), "t", url, retry=0.01, max_backoff=0.04)
            bridge.start()
            await until(lambda: bridge.consecutive_errors >= 3)
            assert bridge.events == 0 and bridge.connects == 0
            await bridge.stop()

        run(main())
