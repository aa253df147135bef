"""The servers under test, one per process: ``python3 benchmarks/servers.py KIND PORT``.

Every server echoes each message back as it came (binary stays binary), broadcasts a
64-byte message to every open connection when it receives ``!broadcast``, and runs on
uvloop.  Kinds: ``raw`` (a TCP echo, no WebSocket), ``tether`` (``async for message in ws`` and
``await ws.send()``), ``tether-cb`` (the same server with a ``message_listener`` callback
that answers with ``try_send_prepared``: no coroutine switch per message, the way picows's
listener works), ``tether-pure`` (``tether`` with ``TETHER_NO_EXTENSIONS=1``, set by the
runner), ``websockets``, ``websockets-pure`` (without its C speedups module), ``aiohttp``,
``picows``.

A control channel on stdin/stdout lets the runner read the server's own CPU time
(``time.process_time()``: nanosecond resolution, where /proc's figures have 10 ms ticks):
the runner writes a line, the server answers ``cpu <seconds> rss <bytes>``.
Each server prints ``READY`` once it listens.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

import uvloop

# Measure this tree's tether (src/, with its in-place build), whatever else is installed.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

BROADCAST = b"!broadcast"
BROADCAST_PAYLOAD = b"b" * 64
MAX_SIZE = 2**21


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def _control(loop: asyncio.AbstractEventLoop) -> None:
    fd = sys.stdin.fileno()

    def on_line() -> None:
        line = os.read(fd, 4096)
        if not line:
            loop.stop()
            return
        if line.startswith(b"gc"):
            gc.collect()
        sys.stdout.write(f"cpu {time.process_time():.9f} rss {_rss()}\n")
        sys.stdout.flush()

    loop.add_reader(fd, on_line)


async def raw(port: int) -> None:
    class Echo(asyncio.Protocol):
        def connection_made(self, transport: Any) -> None:
            self.transport = transport

        def data_received(self, data: bytes) -> None:
            self.transport.write(data)

    await asyncio.get_running_loop().create_server(Echo, "127.0.0.1", port, backlog=4096)


async def tether_server(port: int) -> None:
    import tether
    from tether.core.protocol import prepare_frame

    clients: set[Any] = set()
    frame = prepare_frame(BROADCAST_PAYLOAD)

    async def handler(ws: Any) -> None:
        clients.add(ws)
        try:
            async for msg in ws:
                if msg == BROADCAST:
                    for c in clients:
                        c.try_send_prepared(frame)
                else:
                    await ws.send(msg)
        finally:
            clients.discard(ws)

    await tether.serve(handler, "127.0.0.1", port, ping_interval=None, max_size=MAX_SIZE,
                       backlog=4096)


async def tether_listener_server(port: int) -> None:
    """tether with callbacks instead of a recv() loop (as picows's listener works)."""
    import tether
    from tether.core.protocol import prepare_frame

    clients: set[Any] = set()
    frame = prepare_frame(BROADCAST_PAYLOAD)

    async def handler(ws: Any) -> None:
        def on_message(msg: Any) -> None:
            if msg == BROADCAST:
                for c in clients:
                    c.try_send_prepared(frame)
            else:
                ws.try_send_prepared(prepare_frame(msg))

        clients.add(ws)
        ws.message_listener = on_message
        while ws._messages:  # anything that arrived before the listener was set
            on_message(ws._messages.popleft())
        try:
            await ws.wait_closed()
        finally:
            clients.discard(ws)

    await tether.serve(handler, "127.0.0.1", port, ping_interval=None, max_size=MAX_SIZE,
                       backlog=4096)


async def websockets_server(port: int) -> None:
    import websockets
    from websockets.asyncio.server import serve

    async def handler(ws: Any) -> None:
        async for msg in ws:
            if msg == BROADCAST:
                websockets.broadcast(server.connections, BROADCAST_PAYLOAD)
            else:
                await ws.send(msg)

    server = await serve(handler, "127.0.0.1", port, ping_interval=None, max_size=MAX_SIZE,
                         backlog=4096)


async def aiohttp_server(port: int) -> None:
    from aiohttp import WSMsgType, web

    clients: set[Any] = set()

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=MAX_SIZE, autoping=True, compress=True)
        await ws.prepare(request)
        clients.add(ws)
        try:
            async for msg in ws:
                if msg.type == WSMsgType.BINARY:
                    if msg.data == BROADCAST:
                        for c in list(clients):
                            await c.send_bytes(BROADCAST_PAYLOAD)
                    else:
                        await ws.send_bytes(msg.data)
                elif msg.type == WSMsgType.TEXT:
                    await ws.send_str(msg.data)
        finally:
            clients.discard(ws)
        return ws

    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=4096).start()


async def picows_server(port: int) -> None:
    from picows import WSListener, WSMsgType, ws_create_server

    clients: set[Any] = set()

    class Listener(WSListener):  # type: ignore[misc]
        def on_ws_connected(self, transport: Any) -> None:
            clients.add(transport)

        def on_ws_disconnected(self, transport: Any) -> None:
            clients.discard(transport)

        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            t = frame.msg_type
            if t == WSMsgType.BINARY or t == WSMsgType.TEXT:
                payload = frame.get_payload_as_memoryview()
                if payload == BROADCAST:
                    for c in clients:
                        c.send(WSMsgType.BINARY, BROADCAST_PAYLOAD)
                else:
                    transport.send(t, payload)
            elif t == WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code(), frame.get_close_message())
                transport.disconnect()

    await ws_create_server(lambda request: Listener(), "127.0.0.1", port,
                           max_frame_size=MAX_SIZE, backlog=4096)


SERVERS = {
    "raw": raw,
    "tether": tether_server,
    "tether-pure": tether_server,
    "tether-cb": tether_listener_server,
    "websockets": websockets_server,
    "websockets-pure": websockets_server,
    "aiohttp": aiohttp_server,
    "picows": picows_server,
}


def main() -> None:
    kind, port = sys.argv[1], int(sys.argv[2])
    # The runner aborts thousands of connections at once: don't log a traceback for each.
    logging.disable(logging.CRITICAL)
    if kind == "tether-pure":
        os.environ["TETHER_NO_EXTENSIONS"] = "1"
    if kind == "websockets-pure":
        sys.modules["websockets.speedups"] = None  # type: ignore[assignment]  # no C mask
    uvloop.install()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.run_until_complete(SERVERS[kind](port))
    if kind.startswith("tether"):
        import tether._native

        loaded = tether._native.IMPLEMENTATION
        if loaded != ("python" if kind == "tether-pure" else "compiled"):
            raise SystemExit(f"{kind}: hot path is {loaded}")
    _control(loop)
    gc.collect()
    print("READY", flush=True)
    loop.run_forever()


if __name__ == "__main__":
    main()
