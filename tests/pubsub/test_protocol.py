"""The JSON subscription protocol: pure functions, then a real server speaking it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

import tether
import tether.sync
from tether.pubsub import Hub, protocol, serve_subscriptions
from tether.pubsub.protocol import SubscriptionError

GUARD = 30.0


def test_requests_round_trip() -> None:
    req = protocol.parse_request(protocol.subscribe_request(["A", "B", "A"], id=7))
    assert (req.op, req.topics, req.id) == ("subscribe", ("A", "B"), 7)
    req = protocol.parse_request(protocol.unsubscribe_request(["B"]))
    assert (req.op, req.topics, req.id) == ("unsubscribe", ("B",), None)
    req = protocol.parse_request(protocol.publish_request("chat", {"x": 1}, id="p"))
    assert (req.op, req.topic, req.data, req.id) == ("publish", "chat", {"x": 1}, "p")
    assert protocol.parse_request('{"op":"subscribe","topics":"solo"}').topics == ("solo",)


@pytest.mark.parametrize("text, fragment", [
    ("not json", "not JSON"),
    ("[1]", "JSON object"),
    ('{"op":"dance","id":3}', "unknown op"),
    ('{"op":"subscribe"}', "list of strings"),
    ('{"op":"subscribe","topics":[1]}', "non-empty string"),
    ('{"op":"subscribe","topics":[""]}', "non-empty string"),
    ('{"op":"subscribe","topics":["' + "x" * 201 + '"]}', "longer than"),
    ('{"op":"subscribe","topics":' + json.dumps(["t"] * 1001) + "}", "more than"),
])
def test_bad_requests(text: str, fragment: str) -> None:
    with pytest.raises(SubscriptionError, match=fragment):
        protocol.parse_request(text)


def test_server_messages() -> None:
    m = protocol.parse_server_message(protocol.message("AAPL", {"price": 1.5}))
    assert (m.op, m.topic, m.data) == ("message", "AAPL", {"price": 1.5})
    m = protocol.parse_server_message(protocol.ack("subscribed", ["A"], 1))
    assert (m.op, m.topics, m.id) == ("subscribed", ("A",), 1)
    m = protocol.parse_server_message(protocol.error("nope", 2, ["Z"]))
    assert (m.op, m.error, m.topics, m.id) == ("error", "nope", ("Z",), 2)
    m = protocol.parse_server_message(protocol.gap(1.0, 2.0))
    assert m.op == "gap" and m.raw["ended"] == 2.0
    with pytest.raises(SubscriptionError):
        protocol.parse_server_message('{"no":"op"}')


async def _server(hub: Hub, **kwargs: Any) -> Any:
    return await tether.serve(lambda ws: serve_subscriptions(hub, ws, **kwargs),
                              "127.0.0.1", 0)


async def _recv(ws: Any) -> protocol.ServerMessage:
    return protocol.parse_server_message(await asyncio.wait_for(ws.recv(), GUARD))


def test_over_a_real_server_asyncio() -> None:
    async def main() -> None:
        hub = Hub()
        server = await _server(hub, authorize=lambda c, t: t != "secret")
        url = f"ws://127.0.0.1:{server.port}/"
        hub.publish("AAPL", protocol.message("AAPL", 100), retain=True)
        async with tether.connect(url) as ws:
            await ws.send(protocol.subscribe_request(["AAPL", "secret"], id=1))
            ack = await _recv(ws)
            assert (ack.op, ack.topics, ack.id) == ("subscribed", ("AAPL",), 1)
            err = await _recv(ws)
            assert (err.op, err.topics, err.id) == ("error", ("secret",), 1)
            retained = await _recv(ws)
            assert (retained.op, retained.topic, retained.data) == ("message", "AAPL", 100)
            hub.publish("AAPL", protocol.message("AAPL", 101))
            assert (await _recv(ws)).data == 101
            await ws.send("{bad")
            assert (await _recv(ws)).op == "error"
            await ws.send(protocol.publish_request("AAPL", 5, id=9))
            err = await _recv(ws)
            assert err.op == "error" and "not allowed" in (err.error or "")
            await ws.send(protocol.unsubscribe_request(["AAPL"], id=2))
            assert (await _recv(ws)).op == "unsubscribed"
            assert hub.subscribers("AAPL") == 0
        await server.close()
    asyncio.run(main())


def test_clients_publish_when_allowed() -> None:
    async def main() -> None:
        hub = Hub()
        server = await _server(hub, allow_publish=True)
        url = f"ws://127.0.0.1:{server.port}/"
        async with tether.connect(url) as a, tether.connect(url) as b:
            for ws in (a, b):
                await ws.send(protocol.subscribe_request(["chat"]))
                assert (await _recv(ws)).op == "subscribed"
            await a.send(protocol.publish_request("chat", "hi", id=1))
            got = [await _recv(a), await _recv(a)]
            assert {m.op for m in got} == {"published", "message"}
            m = await _recv(b)
            assert (m.op, m.topic, m.data) == ("message", "chat", "hi")
        await server.close()
    asyncio.run(main())


def test_blocking_client_speaks_it() -> None:
    """The protocol is plain JSON text: the blocking API speaks it as well."""
    async def main() -> None:
        hub = Hub()
        server = await _server(hub)
        url = f"ws://127.0.0.1:{server.port}/"

        def client() -> list[protocol.ServerMessage]:
            with tether.sync.connect(url) as ws:
                ws.send(protocol.subscribe_request(["T"], id=1))
                out = [protocol.parse_server_message(ws.recv(timeout=GUARD))]
                while hub.subscribers("T") == 0:
                    pass
                out.append(protocol.parse_server_message(ws.recv(timeout=GUARD)))
                return out

        fut = asyncio.get_running_loop().run_in_executor(None, client)
        while hub.subscribers("T") == 0:
            await asyncio.sleep(0.01)
        hub.publish("T", protocol.message("T", "tick"))
        ack, msg = await asyncio.wait_for(fut, GUARD)
        assert ack.op == "subscribed" and (msg.op, msg.data) == ("message", "tick")
        await server.close()
    asyncio.run(main())
