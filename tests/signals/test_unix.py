"""Unix domain sockets in the Qt-style API: ``WebSocket.unix_socket`` and
``WebSocketServer.listen_unix``, against real Unix sockets in a temporary directory.

The peers are the Qt-style objects themselves and tether's blocking API
(``tether.sync``) on a thread.  Assertions count signals and compare values, never time.
"""

from __future__ import annotations

import os
import pathlib
import socket
import tempfile
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import tether.sync
from tether.core.handshake import reject
from tether.core.http11 import Request, Response
from tether.core.retry import Backoff
from tether.signals import (
    EventLoop,
    SocketError,
    SocketState,
    WebSocket,
    WebSocketServer,
)
from tether.sync import ServerConnection

from .conftest import GUARD, Recorder

pytestmark = pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="no Unix sockets")

CLIENT_SIGNALS = ("connected", "disconnected", "error_occurred", "reconnecting",
                  "text_message_received")


@pytest.fixture
def sock_path() -> Iterator[str]:
    # A short path: AF_UNIX paths are limited to about 100 bytes.
    with tempfile.TemporaryDirectory(prefix="tt") as directory:
        yield os.path.join(directory, "ws.sock")


def echo(ws: ServerConnection) -> None:
    """Echo; "path?" answers the request path; "close <code>" closes with that code."""
    for message in ws:
        if message == "path?":
            ws.send(ws.path)
        elif isinstance(message, str) and message.startswith("close "):
            ws.close(int(message.split()[1]), "bye")
            return
        else:
            ws.send(message)


class SyncUnixServer:
    """A tether.sync server on a Unix socket that can be stopped and started again."""

    def __init__(self, path: str, **options: Any) -> None:
        self.path = path
        self.options = options
        self.server: Any = None
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        self.server = tether.sync.serve(echo, unix_socket=self.path, ping_interval=None,
                                        **self.options)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        if self.thread is not None:
            self.server.shutdown()
            self.thread.join(GUARD)
            self.thread = None


@pytest.fixture
def sync_server(sock_path: str) -> Iterator[SyncUnixServer]:
    server = SyncUnixServer(sock_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def client(app: EventLoop, rec: Recorder, path: str | os.PathLike[str] | None,
           **props: Any) -> WebSocket:
    ws = WebSocket(loop=app, unix_socket=path, **props)
    rec.watch(ws, *CLIENT_SIGNALS)
    return ws


# ---------------------------------------------------------------- the client


def test_unix_socket_property(app: EventLoop, sock_path: str) -> None:
    ws = WebSocket(loop=app)
    assert ws.unix_socket is None
    ws.unix_socket = pathlib.Path(sock_path)  # os.PathLike is taken, kept as str
    assert ws.unix_socket == sock_path
    ws.unix_socket = None
    assert ws.unix_socket is None
    with pytest.raises(TypeError):
        ws.unix_socket = 42  # type: ignore[assignment]
    with pytest.raises(TypeError):
        ws.unix_socket = ""


def test_client_over_a_unix_socket(app: EventLoop, rec: Recorder,
                                   sync_server: SyncUnixServer) -> None:
    ws = client(app, rec, sync_server.path)
    # The host of the URL is only the Host header: nothing resolves "example.invalid".
    ws.open("ws://example.invalid/room?x=1")
    rec.wait("connected")
    ws.send_text_message("over unix")
    assert rec.wait("text_message_received") == ("over unix",)
    ws.send_text_message("path?")
    assert rec.wait("text_message_received", 2) == ("/room?x=1",)
    assert (ws.peer_address, ws.peer_port) == (sync_server.path, 0)
    assert (ws.local_address, ws.local_port) == ("", 0)  # a client's end is unnamed
    assert ws.peer_name == "example.invalid"
    ws.close()
    rec.wait("disconnected")
    assert ws.close_code == 1000


def test_a_missing_unix_socket_is_host_not_found(app: EventLoop, rec: Recorder,
                                                 sock_path: str) -> None:
    ws = client(app, rec, sock_path)
    ws.open("ws://localhost/")
    assert rec.wait("error_occurred") == (SocketError.HOST_NOT_FOUND_ERROR,)
    assert sock_path in ws.error_string
    assert isinstance(ws.exception, FileNotFoundError)
    assert ws.state is SocketState.UNCONNECTED
    assert rec.count("connected") == 0


def test_a_socket_file_nobody_listens_on_is_refused(app: EventLoop, rec: Recorder,
                                                    sock_path: str) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.bind(sock_path)  # bound, never listening
        ws = client(app, rec, sock_path)
        ws.open("ws://localhost/")
        assert rec.wait("error_occurred") == (SocketError.CONNECTION_REFUSED_ERROR,)


def test_reconnects_over_the_unix_socket(app: EventLoop, rec: Recorder,
                                         sync_server: SyncUnixServer) -> None:
    ws = client(app, rec, sync_server.path, reconnect=True,
                backoff=Backoff(initial=0.02, max=0.1))
    ws.open("ws://localhost/")
    rec.wait("connected")
    ws.send_text_message("close 1012")  # service restart: reconnected
    rec.wait("disconnected")
    rec.wait("connected", 2)
    ws.send_text_message("again")
    assert rec.wait("text_message_received") == ("again",)
    # The server goes away and comes back on the same path.
    sync_server.stop()
    rec.wait("disconnected", 2)
    rec.wait("reconnecting", 2)
    sync_server.start()
    rec.wait("connected", 3)
    ws.send_text_message("back")
    assert rec.wait("text_message_received", 2) == ("back",)
    assert ws.peer_address == sync_server.path
    ws.close()
    rec.wait("disconnected", 3)
    attempts = [a[0] for a in rec.args("reconnecting")]
    assert attempts[0] == 1 and len(attempts) >= 2


def test_a_redirect_stays_on_the_unix_socket(app: EventLoop, rec: Recorder,
                                            sock_path: str) -> None:
    def hook(conn: Any, request: Request) -> Response | None:
        if request.target == "/old":
            return reject(301, "moved", headers={"Location": "http://elsewhere.invalid/new"})
        return None

    server = SyncUnixServer(sock_path, process_request=hook)
    server.start()
    try:
        ws = client(app, rec, sock_path)
        ws.open("ws://localhost/old")
        rec.wait("connected")
        ws.send_text_message("path?")
        assert rec.wait("text_message_received") == ("/new",)
        ws.close()
        rec.wait("disconnected")
    finally:
        server.stop()


# ---------------------------------------------------------------- the server


@pytest.fixture
def unix_server(app: EventLoop, rec: Recorder, sock_path: str) -> Iterator[WebSocketServer]:
    server = WebSocketServer("Unix Server", loop=app)
    rec.watch(server, "new_connection", "server_error", "closed")

    @server.new_connection.connect
    def take() -> None:
        ws = server.next_pending_connection()
        assert ws is not None
        taken.append(ws)
        rec.watch(ws, "disconnected")
        ws.text_message_received.connect(ws.send_text_message)

    taken: list[WebSocket] = []
    server.taken = taken  # type: ignore[attr-defined]
    assert server.listen_unix(sock_path), server.error_string
    yield server
    server.close()


def test_listen_unix_with_a_sync_client(unix_server: WebSocketServer, rec: Recorder,
                                        sock_path: str) -> None:
    assert unix_server.is_listening() and unix_server.listening
    assert unix_server.unix_socket == sock_path
    assert unix_server.server_address == sock_path
    assert unix_server.server_port == 0 and unix_server.port == 0
    assert unix_server.server_url == "ws://localhost"
    assert sock_path in repr(unix_server)
    with tether.sync.unix_connect(sock_path, "ws://localhost/chat?room=1",
                                  ping_interval=None, open_timeout=GUARD) as ws:
        ws.send("hello")
        assert ws.recv(GUARD) == "hello"
        (taken,) = unix_server.taken  # type: ignore[attr-defined]
        assert taken.request_url == "ws://localhost/chat?room=1"
        assert (taken.peer_address, taken.peer_port) == ("", 0)  # the client is unnamed
        assert (taken.local_address, taken.local_port) == (sock_path, 0)
    rec.wait("disconnected")


def test_qt_style_client_and_server_over_a_unix_socket(
        app: EventLoop, rec: Recorder, unix_server: WebSocketServer) -> None:
    ws = client(app, rec, unix_server.unix_socket)
    ws.open(unix_server.server_url + "/qt")
    rec.wait("connected")
    ws.send_text_message("both Qt-style")
    assert rec.wait("text_message_received") == ("both Qt-style",)
    assert ws.peer_address == unix_server.unix_socket
    ws.close(4001, "done")
    rec.wait("disconnected", 2)  # ours and the server side's
    (taken,) = unix_server.taken  # type: ignore[attr-defined]
    assert taken.close_code == 4001 and taken.close_reason == "done"


def test_close_removes_the_socket_file(app: EventLoop, rec: Recorder, sock_path: str) -> None:
    server = WebSocketServer(loop=app)
    rec.watch(server, "closed")
    assert server.listen_unix(sock_path), server.error_string
    assert os.path.exists(sock_path)
    server.close()
    rec.wait("closed")
    assert not os.path.exists(sock_path)
    assert not server.is_listening() and server.unix_socket is None
    assert server.server_url == "" and server.server_address == "" and server.server_port == 0


def test_listen_unix_replaces_a_stale_socket_file(app: EventLoop, rec: Recorder,
                                                  sock_path: str) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as stale:
        stale.bind(sock_path)  # what a crashed server leaves behind
    server = WebSocketServer(loop=app)
    try:
        assert server.listen_unix(sock_path), server.error_string
        with tether.sync.unix_connect(sock_path, ping_interval=None,
                                      open_timeout=GUARD) as ws:
            assert ws.protocol is not None
    finally:
        server.close()


def test_listen_unix_errors(app: EventLoop, rec: Recorder, sock_path: str) -> None:
    server = WebSocketServer(loop=app)
    rec.watch(server, "server_error")
    # A file that is not a socket is never replaced.
    pathlib.Path(sock_path).write_text("keep me")
    assert not server.listen_unix(sock_path)
    assert sock_path in server.error_string
    assert pathlib.Path(sock_path).read_text() == "keep me"
    rec.wait("server_error")
    # A directory that does not exist.
    missing = os.path.join(os.path.dirname(sock_path), "no", "such.sock")
    assert not server.listen_unix(missing)
    assert missing in server.error_string
    assert not server.is_listening()
    # Already listening (on TCP here).
    assert server.listen("127.0.0.1", 0)
    try:
        other = os.path.join(os.path.dirname(sock_path), "other.sock")
        assert not server.listen_unix(other)
        assert server.error_string == "The server is already listening."
        assert not os.path.exists(other)
        assert server.unix_socket is None and server.server_port > 0
    finally:
        server.close()


def test_close_leaves_a_socket_file_that_replaced_its_own(app: EventLoop, rec: Recorder,
                                                          sock_path: str) -> None:
    first = WebSocketServer(loop=app)
    second = WebSocketServer(loop=app)
    rec.watch(first, "closed")
    assert first.listen_unix(sock_path), first.error_string
    assert second.listen_unix(sock_path), second.error_string  # took the path over
    try:
        first.close()
        rec.wait("closed")
        assert os.path.exists(sock_path)
        with tether.sync.unix_connect(sock_path, ping_interval=None,
                                      open_timeout=GUARD) as ws:
            assert ws.protocol is not None  # the second server still answers
    finally:
        second.close()


def test_set_native_descriptor_with_a_unix_socket(app: EventLoop, rec: Recorder,
                                                  sock_path: str) -> None:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(sock_path)
    listener.listen()
    server = WebSocketServer(loop=app)
    try:
        assert server.set_native_descriptor(listener.detach())
        assert server.unix_socket == sock_path and server.server_port == 0
        with tether.sync.unix_connect(sock_path, ping_interval=None,
                                      open_timeout=GUARD) as ws:
            assert ws.protocol is not None
    finally:
        server.close()


def test_handle_connection_with_a_unix_socket(app: EventLoop, rec: Recorder) -> None:
    server = WebSocketServer(loop=app)
    rec.watch(server, "new_connection")
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    server.handle_connection(theirs)
    with tether.sync.connect("ws://localhost/pair", sock=ours, ping_interval=None,
                             open_timeout=GUARD) as ws:
        rec.wait("new_connection")
        taken = server.next_pending_connection()
        assert taken is not None and taken.resource_name == "/pair"
        assert (taken.peer_address, taken.peer_port) == ("", 0)  # a pair has no names
        assert (taken.local_address, taken.local_port) == ("", 0)
        taken.send_text_message("from the server")
        assert ws.recv(GUARD) == "from the server"
    server.close()
