"""``tether bridge`` as a real process: routes by path with the server's checks."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

import tether

from ..serving.helpers import (
    GUARD,
    banner_port,
    cli_output,
    free_port,
    http_get,
    metric,
    read_line,
    require_binary,
    run,
    stop,
    tether_cli,
)
from .servers import JsonState, json_server


def test_help_explains_every_bridge_flag() -> None:
    out = cli_output("bridge", "--help")
    for flag in ("--to", "--exec", "--poll", "--every", "--sse", "--feed", "--route",
                 "--path", "--raw", "--kill-timeout", "--timeout", "--max-backoff",
                 "--topic", "--redis", "--workers", "--grace", "--log-format",
                 "--trusted-proxies", "--proxy-protocol", "--token", "--origin"):
        assert flag in out, flag
    assert "bridge" in cli_output("--help")


def test_routes_with_token_and_metrics() -> None:
    require_binary("bc", "/usr/bin/bc")
    state = JsonState({"EURUSD": 1.08})
    with json_server(state) as url:
        async def main() -> None:
            async def echo(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
                while data := await r.read(65536):
                    w.write(data)
                    await w.drain()
                w.close()

            tcp = await asyncio.start_server(echo, "127.0.0.1", 0)
            tport = tcp.sockets[0].getsockname()[1]
            proc = tether_cli(
                "bridge", "--port", "0", "--token", "s3cret", "--every", "50ms",
                "--route", f"/vnc=tcp://127.0.0.1:{tport}", "--route", "/calc=exec:bc -q",
                "--route", f"/prices=poll:{url}")
            try:
                line = await asyncio.get_running_loop().run_in_executor(
                    None, read_line, proc)
                port = banner_port(line)
                base = f"ws://127.0.0.1:{port}"
                auth = {"Authorization": "Bearer s3cret"}
                with pytest.raises(tether.InvalidStatus) as info:
                    await tether.connect(f"{base}/vnc")
                assert info.value.status == 401
                with pytest.raises(tether.InvalidStatus) as info:
                    await tether.connect(f"{base}/nothing", additional_headers=auth)
                assert info.value.status == 404
                async with tether.connect(f"{base}/vnc", additional_headers=auth) as ws:
                    await ws.send(b"RFB 003.008\n")
                    assert await ws.recv() == b"RFB 003.008\n"
                async with tether.connect(f"{base}/calc?token=s3cret") as ws:
                    await ws.send("6 * 7")
                    assert await ws.recv() == "42"
                async with tether.connect(f"{base}/prices", additional_headers=auth) as ws:
                    msgs: list[Any] = [json.loads(await asyncio.wait_for(ws.recv(), GUARD))
                                       for _ in range(2)]
                    assert msgs[0] == {"op": "subscribed", "topics": ["prices"]}
                    assert msgs[1]["data"] == {"EURUSD": 1.08}
                    with state.lock:
                        state.value = {"EURUSD": 1.09}
                    m = json.loads(await asyncio.wait_for(ws.recv(), GUARD))
                    assert m == {"op": "message", "topic": "prices", "data": {"EURUSD": 1.09}}
                text = (await http_get(port, "/metrics"))[2].decode()
                assert metric(text, "tether_connections_opened_total") == 3
                assert metric(text, "tether_handshakes_total", '{status="401"}') == 1
                assert metric(text, "tether_handshakes_total", '{status="404"}') == 1
                assert metric(text, "tether_messages_received_total") == 2
                assert metric(text, "tether_messages_sent_total") >= 5
                assert "tether_messages_dropped_total 0" in text
            finally:
                code, err = await asyncio.get_running_loop().run_in_executor(
                    None, stop, proc)
                tcp.close()
            assert code == 0, err

        run(main())


def test_single_exec_bridge_from_port_env() -> None:
    port = free_port()
    proc = tether_cli("bridge", "--exec", "cat", env={"PORT": str(port)})
    try:
        assert banner_port(read_line(proc)) == port

        async def main() -> None:
            async with tether.connect(f"ws://127.0.0.1:{port}/") as ws:
                await ws.send("meow")
                assert await ws.recv() == "meow"

        run(main())
    finally:
        code, _ = stop(proc)
    assert code == 0


def test_usage_errors() -> None:
    for args in (["bridge"], ["bridge", "--to", "tcp://x:1", "--exec", "cat"],
                 ["bridge", "--route", "nopath"], ["bridge", "--route", "/x=ftp:y"]):
        proc = tether_cli(*args)
        assert proc.wait(GUARD) != 0, args
