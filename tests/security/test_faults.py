"""Shutdown and faults: resets, half-open peers, a killed server, event-loop stalls."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
import tracemalloc
from collections.abc import Iterator

import tether

from ..asyncio.conftest import client_frame, raw_client, read_frame, run
from .conftest import HOST, MEMORY_BUDGET, ServerProcess, server_process, watched


@contextlib.contextmanager
def traced(name: str, budget: int = MEMORY_BUDGET) -> Iterator[None]:
    """In-process memory check: the peak Python allocation during the block."""
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        yield
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    print(f"\n[{name}] took {(time.perf_counter() - t0) * 1000:.1f} ms; "
          f"peak traced memory {peak / 2**20:.2f} MiB")
    assert peak < budget


def reset(writer: asyncio.StreamWriter) -> None:
    """Close with SO_LINGER 0: the kernel sends RST instead of FIN."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def test_tcp_reset_mid_message_is_1006_for_the_application() -> None:
    seen: asyncio.Queue[BaseException] = asyncio.Queue()

    async def handler(ws: tether.ServerConnection) -> None:
        try:
            async for _ in ws:
                pass
        except tether.ConnectionClosed as exc:
            seen.put_nowait(exc)

    async def main() -> None:
        async with tether.serve(handler, HOST, 0) as server:
            _, writer = await raw_client(server.port)
            frame = client_frame(0x2, bytes(500_000))
            writer.write(frame[:200_000])  # half a message, then RST
            await writer.drain()
            await asyncio.sleep(0.05)
            reset(writer)
            exc = await seen.get()
            assert isinstance(exc, tether.ConnectionClosedError)
            assert exc.code == 1006 and exc.rcvd_code is None

    with traced("faults:reset_mid_message"):
        run(main)


def test_half_open_peer_is_found_by_keepalive() -> None:
    """A peer that stays connected but never answers: the keepalive ping times out (1011)."""
    seen: asyncio.Queue[BaseException] = asyncio.Queue()

    async def handler(ws: tether.ServerConnection) -> None:
        try:
            await ws.recv()
        except tether.ConnectionClosed as exc:
            seen.put_nowait(exc)

    async def main() -> None:
        async with tether.serve(handler, HOST, 0, ping_interval=0.2,
                                ping_timeout=0.3) as server:
            _, writer = await raw_client(server.port)  # then silent: no pong ever
            t0 = time.perf_counter()
            exc = await seen.get()
            print(f"half-open peer found after {time.perf_counter() - t0:.2f}s "
                  "(ping_interval 0.2 + ping_timeout 0.3)")
            assert isinstance(exc, tether.ConnectionClosedError)
            assert exc.sent_code == 1011
            writer.close()

    with traced("faults:half_open_server_side"):
        run(main)


def test_client_keepalive_finds_a_half_open_server() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        key = next(ln.split(b": ")[1] for ln in head.split(b"\r\n")
                   if ln.lower().startswith(b"sec-websocket-key")).decode()
        from tether.core.handshake import accept_key

        writer.write((f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept_key(key)}\r\n\r\n")
                     .encode())
        await asyncio.sleep(30)  # never answers a ping

    async def main() -> None:
        server = await asyncio.start_server(silent, HOST, 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            ws = await tether.connect(f"ws://{HOST}:{port}/", proxy=None, ping_interval=0.2,
                                      ping_timeout=0.3, close_timeout=0.2)
            t0 = time.perf_counter()
            try:
                await ws.recv()
            except tether.ConnectionClosedError as exc:
                assert exc.sent_code == 1011
            print(f"half-open server found after {time.perf_counter() - t0:.2f}s")
            server.close()

    with traced("faults:half_open_client_side"):
        run(main)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def test_server_killed_and_restarted_clients_reconnect() -> None:
    port = free_port()
    server = ServerProcess(port=port).start()
    lost: list[int] = []
    reconnected: list[float] = []
    async def client(i: int) -> None:
        attempts = 0
        ws = await tether.connect(f"ws://{HOST}:{port}/", proxy=None)
        await ws.send(f"hello {i}")
        assert await ws.recv() == f"hello {i}"
        try:
            await ws.recv()
        except tether.ConnectionClosed as exc:
            lost.append(exc.code)
        t0 = time.perf_counter()
        while True:  # the reconnect loop: back off and retry until the server is back
            try:
                ws = await tether.connect(f"ws://{HOST}:{port}/", proxy=None, open_timeout=1)
                break
            except OSError:
                attempts += 1
                await asyncio.sleep(min(0.02 * 2 ** min(attempts, 4), 0.2))
        reconnected.append(time.perf_counter() - t0)
        await ws.send(f"again {i}")
        assert await ws.recv() == f"again {i}"
        await ws.close()

    async def main() -> None:
        nonlocal server
        clients = [asyncio.ensure_future(client(i)) for i in range(20)]
        await asyncio.sleep(0.3)
        server.stop()  # SIGKILL: no close frames
        await asyncio.sleep(0.3)
        server = ServerProcess(port=port).start()
        await asyncio.gather(*clients)

    try:
        run(main)
    finally:
        server.stop()
    print(f"\n[faults:kill_restart] 20 clients lost {set(lost)}, all reconnected; "
          f"reconnect took up to {max(reconnected):.2f}s")
    assert lost == [1006] * 20 and len(reconnected) == 20


def test_event_loop_stall_drops_no_healthy_connection() -> None:
    """A handler blocks the server's loop for 0.5 s, longer than ping_timeout: pongs
    that arrived meanwhile are read before the keepalive timers fire."""
    with server_process(handler="stall", ping_interval=0.1, ping_timeout=0.2) as server:
        async def main() -> None:
            async with watched(server, "faults:loop_stall") as w:
                url = f"ws://{HOST}:{server.port}/"
                conns = [await tether.connect(url, proxy=None) for _ in range(20)]
                await conns[0].send("stall")
                await asyncio.sleep(0.05)
                t0 = time.perf_counter()
                for i, ws in enumerate(conns[1:]):
                    await ws.send(f"m{i}")
                for i, ws in enumerate(conns[1:]):
                    assert await ws.recv() == f"m{i}"
                print(f"echo through the stall took {time.perf_counter() - t0:.2f}s")
                assert await conns[0].recv() == "stall"
                await asyncio.sleep(0.5)  # a few keepalive rounds after the stall
                for ws in conns:
                    await ws.send("alive")
                    assert await ws.recv() == "alive"
                    await ws.close()
            assert max(w.rtts) > 0

        run(main)


def test_server_shutdown_closes_clients_with_1001() -> None:
    async def handler(ws: tether.ServerConnection) -> None:
        await ws.wait_closed()

    async def main() -> None:
        server = await tether.serve(handler, HOST, 0)
        conns = [await tether.connect(f"ws://{HOST}:{server.port}/", proxy=None)
                 for _ in range(10)]
        await server.close()
        for ws in conns:
            try:
                await ws.recv()
            except tether.ConnectionClosedOK as exc:
                assert exc.code == 1001

    with traced("faults:shutdown"):
        run(main)


def test_peer_vanishes_during_the_closing_handshake() -> None:
    """We sent a close; the peer never answers: close_timeout ends it."""
    async def handler(ws: tether.ServerConnection) -> None:
        await ws.close()

    async def main() -> None:
        async with tether.serve(handler, HOST, 0, close_timeout=0.3) as server:
            reader, writer = await raw_client(server.port)
            b0, _ = await read_frame(reader)
            assert b0 == 0x88
            t0 = time.perf_counter()
            assert await reader.read() == b""  # the server dropped us
            print(f"dropped {time.perf_counter() - t0:.2f}s after its close frame")
            writer.close()

    with traced("faults:close_timeout"):
        run(main)
