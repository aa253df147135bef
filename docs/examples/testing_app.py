"""Testing a tether server with pytest, over 127.0.0.1.

    python3 -m pytest docs/examples/testing_app.py

The application is ``shout``; the tests start it on a free port, as a real server,
and talk to it as real clients would.  No mocks, no pytest plugin needed.
"""

import asyncio
import threading

import pytest

import tether
import tether.sync


# --8<-- [start:app]
# The application under test (in real life: from myapp import shout).
async def shout(ws):
    async for message in ws:
        if message == "quit":
            await ws.close(4000, "bye")
            return
        await ws.send(message.upper())
# --8<-- [end:app]


# --8<-- [start:async-test]
def test_shout_async():
    async def scenario():
        async with tether.serve(shout, "127.0.0.1", 0) as server:    # 0: a free port
            async with tether.connect(f"ws://127.0.0.1:{server.port}/") as ws:
                await ws.send("hello")
                assert await asyncio.wait_for(ws.recv(), timeout=5) == "HELLO"

    asyncio.run(scenario())
# --8<-- [end:async-test]


# --8<-- [start:fixture]
@pytest.fixture
def server_url():
    """The app on a free port, on an event loop in a thread, for the whole test."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder = {}

    async def serve():
        async with tether.serve(shout, "127.0.0.1", 0) as server:
            holder["server"] = server
            started.set()
            await server.serve_forever()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert started.wait(5), "the server did not start"
    yield f"ws://127.0.0.1:{holder['server'].port}/"
    asyncio.run_coroutine_threadsafe(holder["server"].close(), loop).result(10)
    thread.join(10)
    loop.close()


def test_shout_blocking(server_url):
    with tether.sync.connect(server_url) as ws:
        ws.send("hello")
        assert ws.recv(timeout=5) == "HELLO"


def test_quit_closes_with_4000(server_url):
    with tether.sync.connect(server_url) as ws:
        ws.send("quit")
        with pytest.raises(tether.ConnectionClosedError) as closed:
            ws.recv(timeout=5)
    assert closed.value.rcvd_code == 4000
    assert closed.value.rcvd_reason == "bye"
# --8<-- [end:fixture]
