"""WebSocket <-> program bridge with real programs: cat, bc, sh."""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

import pytest

import tether
from tether.bridge import bridge_process

from ..serving.helpers import GUARD, require_binary, run, until


async def serving(command: str, **kwargs: Any) -> Any:
    return await tether.serve(lambda ws: bridge_process(ws, command, **kwargs),
                              "127.0.0.1", 0)


def test_cat_lines_and_raw() -> None:
    require_binary("cat", "/usr/bin/cat", "/bin/cat")

    async def main() -> None:
        server = await serving("cat")
        async with tether.connect(f"ws://127.0.0.1:{server.port}/") as ws:
            for line in ("hello", "wörld", "", "last line\n"):
                await ws.send(line)
                assert await ws.recv() == line.rstrip("\n")
            await ws.send(b"bytes are lines too")
            assert await ws.recv() == "bytes are lines too"
        await server.close()
        raw = await serving("cat", mode="raw")
        async with tether.connect(f"ws://127.0.0.1:{raw.port}/") as ws:
            payload = bytes(range(256)) * 64
            await ws.send(payload)
            got = b""
            while len(got) < len(payload):
                m = await asyncio.wait_for(ws.recv(), GUARD)
                assert isinstance(m, bytes)
                got += m
            assert got == payload
        await raw.close()

    run(main())


def test_bc_calculator() -> None:
    require_binary("bc", "/usr/bin/bc")

    async def main() -> None:
        server = await serving("bc -q")
        async with tether.connect(f"ws://127.0.0.1:{server.port}/") as ws:
            await ws.send("2 + 3")
            assert await ws.recv() == "5"
            await ws.send("scale=3; 10 / 4")
            assert await ws.recv() == "2.500"
            await ws.send("2 ^ 100")
            assert await ws.recv() == str(2**100)
            await ws.send("quit")  # bc exits 0: the socket closes with 1000
            with pytest.raises(tether.ConnectionClosedOK):
                await ws.recv()
            assert ws.close_code == 1000
        await server.close()

    run(main())


def test_exit_status_and_output_before_exit() -> None:
    async def main() -> None:
        server = await serving(["sh", "-c", "echo one; echo two; exit 3"])
        ws = await tether.connect(f"ws://127.0.0.1:{server.port}/")
        assert [await ws.recv(), await ws.recv()] == ["one", "two"]
        with pytest.raises(tether.ConnectionClosedError):
            await ws.recv()
        assert (ws.close_code, ws.close_reason) == (1011, "exit status 3")
        await server.close()
        server = await serving(["sh", "-c", "kill -9 $$"])
        ws = await tether.connect(f"ws://127.0.0.1:{server.port}/")
        with pytest.raises(tether.ConnectionClosedError):
            await ws.recv()
        assert (ws.close_code, ws.close_reason) == (1011, "killed by signal 9")
        await server.close()

    run(main())


def test_process_ended_when_socket_closes(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        # A program that ignores stdin EOF and would run for ten minutes.
        server = await serving(["sh", "-c", "echo oops >&2; echo $$; exec sleep 600"],
                               kill_timeout=5)
        ws = await tether.connect(f"ws://127.0.0.1:{server.port}/")
        pid = int(await ws.recv())
        os.kill(pid, 0)  # running
        await ws.close()

        def gone() -> bool:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            # A zombie until reaped: check its state (it may be reaped meanwhile).
            try:
                with open(f"/proc/{pid}/stat") as f:
                    return f.read().split(") ", 1)[1][0] == "Z"
            except (FileNotFoundError, ProcessLookupError):
                return True

        await until(gone, what=f"process {pid} to end")
        await server.close()
        # One that ignores SIGTERM is killed after kill_timeout.
        server = await serving(["sh", "-c", "trap '' TERM; echo $$; while :; do sleep 0.1; done"],
                               kill_timeout=0.5)
        ws = await tether.connect(f"ws://127.0.0.1:{server.port}/")
        pid = int(await ws.recv())
        await ws.close()
        await until(gone, what=f"process {pid} to be killed")
        await server.close()

    with caplog.at_level(logging.INFO, logger="tether"):
        run(main())
    assert any("stderr: oops" in r.getMessage() for r in caplog.records)


def test_environment_tells_the_client_address() -> None:
    async def main() -> None:
        server = await serving(["sh", "-c", 'echo "$REMOTE_ADDR $REQUEST_URI"'])
        async with tether.connect(f"ws://127.0.0.1:{server.port}/x?y=1") as ws:
            assert await ws.recv() == "127.0.0.1 /x?y=1"
        await server.close()

    run(main())
