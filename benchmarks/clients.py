"""The clients under test, one per process:  python3 benchmarks/clients.py KIND PORT SIZE SECONDS

Each client connects to ``ws://127.0.0.1:PORT/`` (without compression), sends a binary
message of SIZE bytes, waits for the echo, and again, for SECONDS after a short warm-up;
then it prints one JSON line: ``{"ops": ..., "cpu": ..., "wall": ...}`` where ``cpu`` is
its own CPU time (``time.process_time()``) over the measured window.  Kinds: ``tether``,
``tether-pure`` (the runner sets ``TETHER_NO_EXTENSIONS=1``), ``websockets``, ``aiohttp``,
``picows``; all on uvloop, each with its everyday API.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import uvloop

# Measure this tree's tether (src/, with its in-place build), whatever else is installed.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

MAX_SIZE = 2**21
WARMUP = 20


async def _loop(send: Any, recv: Any, msg: bytes, seconds: float) -> tuple[int, float, float]:
    for _ in range(WARMUP):
        await send(msg)
        await recv()
    n = 0
    cpu0, t0 = time.process_time(), time.perf_counter()
    end = t0 + seconds
    while True:
        await send(msg)
        await recv()
        n += 1
        if not n & 7 and time.perf_counter() >= end:
            break
    return n, time.process_time() - cpu0, time.perf_counter() - t0


async def tether_client(uri: str, msg: bytes, seconds: float) -> tuple[int, float, float]:
    import tether

    async with tether.connect(uri, compression=None, ping_interval=None,
                              max_size=MAX_SIZE) as ws:
        return await _loop(ws.send, ws.recv, msg, seconds)


async def websockets_client(uri: str, msg: bytes, seconds: float) -> tuple[int, float, float]:
    from websockets.asyncio.client import connect

    async with connect(uri, compression=None, ping_interval=None, max_size=MAX_SIZE) as ws:
        return await _loop(ws.send, ws.recv, msg, seconds)


async def aiohttp_client(uri: str, msg: bytes, seconds: float) -> tuple[int, float, float]:
    import aiohttp

    async with aiohttp.ClientSession() as session, session.ws_connect(
            uri, max_msg_size=MAX_SIZE, compress=0, autoping=True) as ws:
        return await _loop(ws.send_bytes, ws.receive, msg, seconds)


async def picows_client(uri: str, msg: bytes, seconds: float) -> tuple[int, float, float]:
    from picows import WSListener, WSMsgType, ws_connect

    loop = asyncio.get_running_loop()
    state: dict[str, Any] = {"n": 0, "measuring": False, "end": 0.0}
    done: asyncio.Future[tuple[int, float, float]] = loop.create_future()
    start: dict[str, float] = {}

    class Listener(WSListener):  # type: ignore[misc]
        def on_ws_connected(self, transport: Any) -> None:
            self.transport = transport
            transport.send(WSMsgType.BINARY, msg)

        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            if frame.msg_type != WSMsgType.BINARY:
                return
            frame.get_payload_as_bytes()  # what an application would take from the frame
            state["n"] += 1
            if not state["measuring"]:
                if state["n"] >= WARMUP:
                    state["measuring"], state["n"] = True, 0
                    start["cpu"], start["t"] = time.process_time(), time.perf_counter()
                    state["end"] = start["t"] + seconds
            elif not state["n"] & 7 and time.perf_counter() >= state["end"]:
                done.set_result((state["n"], time.process_time() - start["cpu"],
                                 time.perf_counter() - start["t"]))
                return
            transport.send(WSMsgType.BINARY, msg)

    transport, _ = await ws_connect(Listener, uri, max_frame_size=MAX_SIZE)
    try:
        return await done
    finally:
        transport.disconnect()


CLIENTS = {
    "tether": tether_client,
    "tether-pure": tether_client,
    "websockets": websockets_client,
    "aiohttp": aiohttp_client,
    "picows": picows_client,
}


def main() -> None:
    kind, port, size, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    if kind == "tether-pure":
        os.environ["TETHER_NO_EXTENSIONS"] = "1"
    uvloop.install()
    msg = os.urandom(size)
    n, cpu, wall = asyncio.run(CLIENTS[kind](f"ws://127.0.0.1:{port}/", msg, seconds))
    print(json.dumps({"ops": n, "cpu": cpu, "wall": wall}), flush=True)


if __name__ == "__main__":
    main()
