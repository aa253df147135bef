"""``tether serve`` as a real process: PORT/HOST, SIGTERM drain, workers, JSON logs, help."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import time
from typing import Any

import pytest

import tether

from .helpers import (
    GUARD,
    banner_port,
    cli_output,
    free_port,
    http_get,
    read_line,
    run,
    stop,
    tether_cli,
    until,
)


def test_help_explains_every_cloud_flag() -> None:
    out = cli_output("serve", "--help")
    for flag in ("--host", "--port", "$PORT", "$HOST", "--workers", "SO_REUSEPORT", "--grace",
                 "1001", "--trusted-proxies", "--proxy-protocol", "--log-format",
                 "--max-connections", "--token", "--origin"):
        assert flag in out, flag


def test_port_and_host_from_environment() -> None:
    port = free_port()
    proc = tether_cli("serve", env={"PORT": str(port), "HOST": "127.0.0.1"})
    try:
        assert banner_port(read_line(proc)) == port

        async def main() -> None:
            async with tether.connect(f"ws://127.0.0.1:{port}/") as ws:
                await ws.send("hi")
                assert await ws.recv() == "hi"
            assert (await http_get(port, "/healthz"))[0] == 200
            assert (await http_get(port, "/readyz"))[0] == 200

        run(main())
    finally:
        code, _ = stop(proc)
    assert code == 0


async def _client(port: int, started: asyncio.Event,
                  n_started: list[int]) -> tuple[Any, list[int], int]:
    ws = await tether.connect(f"ws://127.0.0.1:{port}/", compression=None)
    received: list[int] = []

    async def reader() -> None:
        try:
            async for m in ws:
                received.append(int(m))
                if len(received) == 50:
                    n_started.append(1)
                    started.set()
        except tether.ConnectionClosedError:
            raise

    async def sender() -> None:
        i = 0
        try:
            while True:
                await ws.send(str(i))
                i += 1
                if i % 20 == 0:
                    await asyncio.sleep(0)
        except tether.ConnectionClosed:
            pass

    r = asyncio.ensure_future(reader())
    s = asyncio.ensure_future(sender())
    await r
    await s
    return ws, received, ws.local_address[1]


def test_sigterm_under_load_drains_with_1001_and_loses_nothing() -> None:
    proc = tether_cli("serve", "--port", "0", "--grace", "5s", "--log-format", "json")
    port = banner_port(read_line(proc))
    clients = 8

    async def main() -> tuple[list[Any], float]:
        started = asyncio.Event()
        n_started: list[int] = []
        tasks = [asyncio.ensure_future(_client(port, started, n_started))
                 for _ in range(clients)]
        await until(lambda: len(n_started) == clients, what="every client echoing")
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        results = await asyncio.wait_for(asyncio.gather(*tasks), GUARD)
        await asyncio.get_running_loop().run_in_executor(None, proc.wait, GUARD)
        return results, time.monotonic() - t0

    results, elapsed = run(main())
    code, err = stop(proc)
    assert code == 0
    assert elapsed < 5.0, f"drain took {elapsed:.1f}s, beyond the 5s grace period"
    closes = {}
    for line in err.splitlines():
        if line.startswith("{"):
            rec = json.loads(line)
            if rec.get("event") == "close":
                closes[int(rec["client"].rsplit(":", 1)[1])] = rec
    for ws, received, local_port in results:
        assert ws.close_code == 1001 and ws.close_reason == "server shutting down"
        # Echoes arrive in order with no gap...
        assert received == list(range(len(received))) and len(received) >= 50
        # ...and every message the server acknowledged (echoed) reached the client.
        rec = closes[local_port]
        assert rec["code"] == 1001
        assert rec["messages_out"] == len(received), rec
        assert rec["messages_in"] >= rec["messages_out"]


def test_sigterm_drops_stuck_clients_after_the_grace_period() -> None:
    proc = tether_cli("serve", "--port", "0", "--grace", "1s")
    port = banner_port(read_line(proc))
    # A client that completes the handshake and then never reads nor answers the close.
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                 b"Sec-WebSocket-Version: 13\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(4096)
    assert head.startswith(b"HTTP/1.1 101")
    t0 = time.monotonic()
    code, err = stop(proc)
    elapsed = time.monotonic() - t0
    sock.close()
    assert code == 0
    assert 1.0 <= elapsed < 1.0 + GUARD / 3
    assert "grace period of 1.0s over: dropping 1 connections" in err


def test_workers_share_the_port() -> None:
    proc = tether_cli("serve", "--port", "0", "--workers", "2")
    try:
        lines = [read_line(proc), read_line(proc)]
    except BaseException:
        stop(proc)
        raise
    ports = {banner_port(x) for x in lines}
    pids = {int(re.search(r"pid (\d+)", x).group(1)) for x in lines}  # type: ignore[union-attr]
    assert len(ports) == 1 and len(pids) == 2
    port = ports.pop()

    async def main() -> set[int]:
        seen = set()
        for _ in range(60):
            _, _, body = await http_get(port, "/metrics")
            m = re.search(r'tether_process_info\{pid="(\d+)"', body.decode())
            assert m
            seen.add(int(m.group(1)))
            async with tether.connect(f"ws://127.0.0.1:{port}/") as ws:
                await ws.send("x")
                assert await ws.recv() == "x"
            if seen == pids:
                break
        return seen

    try:
        assert run(main()) == pids
    finally:
        code, _ = stop(proc)
    assert code == 0
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_json_connection_logs() -> None:
    proc = tether_cli("serve", "--port", "0", "--log-format", "json")
    port = banner_port(read_line(proc))

    async def main() -> None:
        async with tether.connect(f"ws://127.0.0.1:{port}/path") as ws:
            await ws.send("x")
            await ws.recv()

    run(main())
    code, err = stop(proc)
    assert code == 0
    records = [json.loads(line) for line in err.splitlines() if line.strip()]
    events = [r for r in records if r.get("logger") == "tether.access"]
    assert [r["event"] for r in events] == ["open", "close"]
    assert events[0]["conn"] == events[1]["conn"] and events[0]["path"] == "/path"
    assert any(r.get("msg", "").startswith("SIGTERM: draining") for r in records)


def test_sigint_drains_like_sigterm() -> None:
    proc = tether_cli("serve", "--port", "0", "--grace", "5s")
    port = banner_port(read_line(proc))

    async def main() -> Any:
        ws = await tether.connect(f"ws://127.0.0.1:{port}/")
        await ws.send("before")
        assert await ws.recv() == "before"
        proc.send_signal(signal.SIGINT)
        with pytest.raises(tether.ConnectionClosedOK):
            await asyncio.wait_for(ws.recv(), GUARD)
        return ws

    ws = run(main())
    proc.wait(GUARD)  # it exits by itself after the drain
    code, err = stop(proc)
    assert code == 0, err
    assert ws.close_code == 1001
    assert "SIGINT: draining" in err
