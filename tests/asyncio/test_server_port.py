"""``Server.port`` and ``Server.unix_socket`` of the asyncio server, on TCP and on a
Unix domain socket (real sockets)."""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile

import pytest

import tether
from tether import UsageError
from tether.asyncio.server import ServerConnection


async def handler(ws: ServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


def test_a_tcp_server_has_a_port_and_no_unix_socket() -> None:
    async def main() -> None:
        async with tether.serve(handler, "127.0.0.1", 0) as server:
            assert server.port == server.sockets[0].getsockname()[1] > 0
            assert server.unix_socket is None
            async with tether.connect(f"ws://127.0.0.1:{server.port}/",
                                      ping_interval=None) as ws:
                await ws.send("tcp")
                assert await ws.recv() == "tcp"

    asyncio.run(main())


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="no Unix sockets")
@pytest.mark.parametrize("how", ["unix_serve", "serve(unix_socket=)"])
def test_a_unix_server_has_a_path_and_no_port(how: str) -> None:
    async def main(path: str) -> None:
        serving = (tether.unix_serve(handler, path) if how == "unix_serve"
                   else tether.serve(handler, unix_socket=path))
        async with serving as server:
            assert server.unix_socket == path
            with pytest.raises(UsageError, match="Unix domain socket has no port") as info:
                server.port  # noqa: B018 - the property is what is tested
            assert path in str(info.value) and "unix_socket" in str(info.value)
            async with tether.unix_connect(path, ping_interval=None) as ws:
                await ws.send("unix")
                assert await ws.recv() == "unix"

    with tempfile.TemporaryDirectory(prefix="tt") as directory:
        asyncio.run(main(os.path.join(directory, "ws.sock")))


def test_a_closed_server_has_no_port() -> None:
    async def main() -> None:
        server = await tether.serve(handler, "127.0.0.1", 0)
        await server.close()
        with pytest.raises(UsageError, match="no listening socket"):
            server.port  # noqa: B018
        assert server.unix_socket is None

    asyncio.run(main())
