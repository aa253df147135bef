"""HTTP poll bridge against a real local HTTP JSON server."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

import tether
from tether.bridge import HttpPoller, Router
from tether.bridge._http import HttpError, fetch
from tether.pubsub import Hub

from ..serving.helpers import GUARD, free_port, run, until
from .servers import JsonState, json_server


async def subscriber(port: int, path: str = "/prices") -> Any:
    return await tether.connect(f"ws://127.0.0.1:{port}{path}")


async def next_message(ws: Any) -> dict[str, Any]:
    while True:
        m = json.loads(await asyncio.wait_for(ws.recv(), GUARD))
        if m["op"] == "message":
            return m  # type: ignore[no-any-return]


def test_changes_are_pushed_and_etags_used() -> None:
    state = JsonState({"AAPL": 100})
    with json_server(state) as url:
        async def main() -> None:
            hub = Hub()
            router = Router()
            router.topic("/prices", hub, "prices")
            poller = HttpPoller(hub, "prices", url, every=0.02, timeout=5)
            async with tether.serve(router, "127.0.0.1", 0,
                                    process_request=router.process_request) as server:
                early = await subscriber(server.port)
                poller.start()
                first = await next_message(early)
                assert first == {"op": "message", "topic": "prices", "data": {"AAPL": 100}}
                # Unchanged: 304s, nothing published.
                await until(lambda: poller.not_modified >= 3, what="304 answers")
                assert poller.changes == 1
                assert state.requests[-1]["if-none-match"] == state.etag()
                # A late subscriber gets the current value at once (retained).
                late = await subscriber(server.port)
                assert (await next_message(late))["data"] == {"AAPL": 100}
                with state.lock:
                    state.value = {"AAPL": 101, "MSFT": 300}
                for ws in (early, late):
                    assert (await next_message(ws))["data"] == {"AAPL": 101, "MSFT": 300}
                # Without ETags, an equal body publishes nothing either.
                with state.lock:
                    state.etags = False
                n = poller.fetches
                await until(lambda: poller.fetches >= n + 3)
                assert poller.changes == 2
                await poller.stop()
                await early.close()
                await late.close()

        run(main())


def test_errors_back_off_and_recover() -> None:
    state = JsonState([1])
    with json_server(state) as url:
        async def main() -> None:
            hub = Hub()
            poller = HttpPoller(hub, "t", url, every=0.01, max_backoff=0.08, timeout=5)
            state.status = 500
            poller.start()
            await until(lambda: poller.consecutive_errors >= 5, what="failures")
            # Exponential, capped: 0.02, 0.04, 0.08, 0.08...
            assert poller.next_delay() == pytest.approx(0.08)
            assert poller.changes == 0 and "answered 500" in (poller.last_error or "")
            state.status = 200
            await until(lambda: poller.changes == 1, what="recovery")
            assert poller.consecutive_errors == 0 and poller.next_delay() == 0.01
            await poller.stop()
            # A 503 with Retry-After is honoured (up to max_backoff).
            p2 = HttpPoller(hub, "t", url, every=0.01, max_backoff=30)
            state.status, state.retry_after = 503, "7"
            with pytest.raises(HttpError):
                await p2.poll_once()
            p2.consecutive_errors = 1
            assert p2.next_delay() == 7

        run(main())


def test_timeouts_and_unreachable() -> None:
    state = JsonState({"slow": True})
    state.delay = 2
    with json_server(state) as url:
        async def main() -> None:
            with pytest.raises(HttpError, match="timed out"):
                await fetch(url, timeout=0.2)
            with pytest.raises(HttpError, match="can't connect"):
                await fetch(f"http://127.0.0.1:{free_port()}/", timeout=5)
            poller = HttpPoller(Hub(), "t", url, every=0.05, timeout=0.2)
            with pytest.raises(HttpError):
                await poller.poll_once()
            # Invalid JSON is an error, not a message.
            state.delay = 0
            state.raw = b"{not json"
            poller2 = HttpPoller(Hub(), "t", url, timeout=5)
            with pytest.raises(HttpError, match="invalid JSON"):
                await poller2.poll_once()
            assert poller2.changes == 0

        run(main())
