"""``Server.port`` and ``Server.unix_socket`` of the blocking server, on TCP and on a
Unix domain socket (real sockets)."""

from __future__ import annotations

import os
import socket
import tempfile
import threading

import pytest

from tether import UsageError
from tether.sync import ServerConnection, connect, serve, unix_connect

from . import WAIT


def echo(ws: ServerConnection) -> None:
    for message in ws:
        ws.send(message)


def test_a_tcp_server_has_a_port_and_no_unix_socket() -> None:
    server = serve(echo, "127.0.0.1", 0, ping_interval=None)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert server.port == server.socket.getsockname()[1] > 0
        assert server.unix_socket is None
        with connect(f"ws://127.0.0.1:{server.port}/", ping_interval=None) as ws:
            ws.send("tcp")
            assert ws.recv(timeout=WAIT) == "tcp"
    finally:
        server.shutdown()
        thread.join(WAIT)


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="no Unix sockets")
def test_a_unix_server_has_a_path_and_no_port() -> None:
    with tempfile.TemporaryDirectory(prefix="tt") as directory:
        path = os.path.join(directory, "ws.sock")
        server = serve(echo, unix_socket=path, ping_interval=None)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            assert server.unix_socket == path
            with pytest.raises(UsageError, match="Unix domain socket has no port") as info:
                server.port  # noqa: B018 - the property is what is tested
            assert path in str(info.value) and "unix_socket" in str(info.value)
            with unix_connect(path, ping_interval=None) as ws:
                ws.send("unix")
                assert ws.recv(timeout=WAIT) == "unix"
        finally:
            server.shutdown()
            thread.join(WAIT)
