"""WebSocketServer (QWebSocketServer) and its server-side WebSockets.

Clients are tether's blocking API (``tether.sync``) or raw sockets, in the test thread.
"""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import tether.sync
from tether import InvalidStatus
from tether.signals import (
    CloseCode,
    CorsAuthenticator,
    EventLoop,
    SocketError,
    SocketState,
    SslError,
    SslMode,
    WebSocket,
    WebSocketServer,
)
from tether.tls import client_ssl_context

from .conftest import GUARD, HOST, Recorder

SERVER_SIGNALS = ("new_connection", "accept_error", "server_error", "closed", "ssl_errors",
                  "peer_verify_error", "error_string_changed")


class Taker:
    """Takes every new connection, echoes on it, and records its signals."""

    def __init__(self, server: WebSocketServer, rec: Recorder, echo: bool = True) -> None:
        self.sockets: list[WebSocket] = []
        self.rec = rec
        self.echo = echo
        server.new_connection.connect(lambda: self.take(server))

    def take(self, server: WebSocketServer) -> None:
        ws = server.next_pending_connection()
        assert ws is not None
        self.sockets.append(ws)
        self.rec.watch(ws, "disconnected", "text_message_received", "pong", "error_occurred")
        if self.echo:
            ws.text_message_received.connect(ws.send_text_message)
            ws.binary_message_received.connect(ws.send_binary_message)


@pytest.fixture
def server(app: EventLoop, rec: Recorder) -> Iterator[WebSocketServer]:
    srv = WebSocketServer("Test Server", loop=app)
    rec.watch(srv, *SERVER_SIGNALS)
    assert srv.listen(HOST, 0), srv.error_string
    yield srv
    srv.close()


def connect(server: WebSocketServer, path: str = "/", **kwargs: Any) -> Any:
    kwargs.setdefault("open_timeout", GUARD)
    return tether.sync.connect(server.server_url + path, ping_interval=None, **kwargs)


def raw_request(port: int, request: bytes) -> bytes:
    """Send bytes, read until the server closes."""
    with socket.create_connection((HOST, port), timeout=GUARD) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(4096):
            chunks.append(chunk)
    return b"".join(chunks)


# ---------------------------------------------------------------- accepting


def test_listen_accept_echo(server: WebSocketServer, rec: Recorder) -> None:
    taker = Taker(server, rec)
    assert server.is_listening() and server.server_port > 0
    assert server.server_url == f"ws://{HOST}:{server.server_port}"
    assert server.server_address == HOST
    with connect(server, "/chat?room=1", origin="http://example.com",
                 additional_headers={"X-Test": "1"}) as client:
        client.send("hello")
        assert client.recv(GUARD) == "hello"
        client.send(b"\x01\x02")
        assert client.recv(GUARD) == b"\x01\x02"
        assert client.response_headers.get("Server") == "Test Server"
        (ws,) = taker.sockets
        assert ws.state is SocketState.CONNECTED and ws.is_valid()
        assert ws.request_url == f"{server.server_url}/chat?room=1"
        assert ws.resource_name == "/chat?room=1"
        assert ws.origin == "http://example.com"
        assert ws.request.header("x-test") == "1"
        assert ws.peer_address == HOST and ws.peer_port == client.local_address[1]
        assert ws.local_port == server.server_port
        assert not server.has_pending_connections()
        assert server.next_pending_connection() is None
        client.close(4100, "client done")
    rec.wait("disconnected")
    assert ws.close_code == 4100 and ws.close_reason == "client done"
    assert ws.state is SocketState.UNCONNECTED
    assert rec.count("new_connection") == 1 and rec.count("server_error") == 0


def test_server_side_close_ping_and_frames(server: WebSocketServer, rec: Recorder) -> None:
    taker = Taker(server, rec, echo=False)
    with connect(server) as client:
        rec.wait("new_connection")
        (ws,) = taker.sockets
        ws.ping(b"from server")
        assert rec.wait("pong")[1] == b"from server"
        ws.outgoing_frame_size = 3
        ws.send_text_message("fragmented by the server")
        assert client.recv(GUARD) == "fragmented by the server"
        ws.close(CloseCode.POLICY_VIOLATED, "go away")
        with pytest.raises(tether.ConnectionClosed) as info:
            client.recv(GUARD)
        assert info.value.rcvd_code == 1008 and info.value.rcvd_reason == "go away"
    rec.wait("disconnected")
    assert ws.close_code == 1008


def test_pending_connections_queue_up(server: WebSocketServer, rec: Recorder) -> None:
    with connect(server, "/a") as a, connect(server, "/b") as b:
        rec.wait("new_connection", 2)
        assert server.has_pending_connections()
        first, second = server.next_pending_connection(), server.next_pending_connection()
        assert first is not None and second is not None
        assert (first.resource_name, second.resource_name) == ("/a", "/b")
        assert server.next_pending_connection() is None
        second.send_text_message("to b")
        assert b.recv(GUARD) == "to b"
        a.close()
        b.close()


def test_max_pending_connections(server: WebSocketServer, rec: Recorder) -> None:
    server.max_pending_connections = 1
    with connect(server):
        rec.wait("new_connection")
        with pytest.raises(InvalidStatus) as info:
            connect(server)
        assert info.value.status == 503
        assert rec.wait("server_error") == (CloseCode.ABNORMAL_DISCONNECTION,)
        assert server.error_string == "Too many pending connections."
        assert server.error is CloseCode.ABNORMAL_DISCONNECTION
        server.next_pending_connection()
        with connect(server) as again:
            again.close()


def test_close_closes_pending_connections_only(server: WebSocketServer, rec: Recorder) -> None:
    url = server.server_url
    with connect(server, "/taken") as taken, connect(server, "/pending") as pending:
        rec.wait("new_connection", 2)
        kept = server.next_pending_connection()
        assert kept is not None
        server.close()
        rec.wait("closed")
        assert not server.is_listening() and server.server_url == ""
        with pytest.raises(tether.ConnectionClosedOK) as info:
            pending.recv(GUARD)
        assert (info.value.rcvd_code, info.value.rcvd_reason) == (1001, "Server closed.")
        kept.send_text_message("still open")
        assert taken.recv(GUARD) == "still open"
        taken.close()
    with pytest.raises(ConnectionRefusedError):
        tether.sync.connect(url, open_timeout=GUARD)


def test_pause_and_resume_accepting(server: WebSocketServer, rec: Recorder) -> None:
    server.pause_accepting()
    assert not server.accept
    result: list[Any] = []

    def client() -> None:
        with connect(server) as c:
            result.append(c.subprotocol)

    thread = threading.Thread(target=client)
    thread.start()
    time.sleep(0.1)  # (only lets a wrong accept show; no outcome depends on it)
    assert rec.count("new_connection") == 0
    server.resume_accepting()
    rec.wait("new_connection")
    thread.join(GUARD)
    assert result == [None]


# ---------------------------------------------------------------- the handshake


def test_origin_authentication(server: WebSocketServer, rec: Recorder) -> None:
    seen: list[str] = []

    @server.origin_authentication_required.connect
    def check(auth: CorsAuthenticator) -> None:
        seen.append(auth.origin)
        auth.allowed = auth.origin == "https://good.example"

    with connect(server, origin="https://good.example") as ok:
        ok.close()
    with pytest.raises(InvalidStatus) as info:
        connect(server, origin="https://evil.example")
    assert info.value.status == 403
    with pytest.raises(InvalidStatus):
        connect(server)  # no Origin at all: "" is not allowed either
    assert seen == ["https://good.example", "https://evil.example", ""]
    assert rec.wait("server_error") == (CloseCode.POLICY_VIOLATED,)
    assert server.error_string == "Access forbidden."


def test_supported_subprotocols(server: WebSocketServer, rec: Recorder) -> None:
    taker = Taker(server, rec)
    server.supported_subprotocols = ["beta", "alpha"]
    with connect(server, subprotocols=["alpha", "beta"]) as client:
        assert client.subprotocol == "beta"
        rec.wait("new_connection")
        assert taker.sockets[0].subprotocol == "beta"
        client.close()
    with connect(server, subprotocols=["gamma"]) as client:
        assert client.subprotocol is None
        client.close()


def test_a_bad_request_is_a_server_error(server: WebSocketServer, rec: Recorder) -> None:
    answer = raw_request(server.server_port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 426")
    assert rec.wait("server_error") == (CloseCode.PROTOCOL_ERROR,)
    assert server.error_string.startswith("Bad handshake request received")


def test_handshake_timeout(server: WebSocketServer, rec: Recorder) -> None:
    server.handshake_timeout_ms = 50
    assert server.handshake_timeout == 0.05
    assert raw_request(server.server_port, b"GET / HTTP/1.1\r\n") == b""
    assert rec.wait("server_error") == (CloseCode.ABNORMAL_DISCONNECTION,)
    assert server.error_string == "Handshake timed out."


def test_listen_errors(server: WebSocketServer, rec: Recorder, app: EventLoop) -> None:
    assert server.listen() is False  # already listening
    other = WebSocketServer(loop=app)
    rec.watch(other, "server_error")
    assert other.listen(HOST, server.server_port) is False
    assert "in use" in other.error_string
    assert rec.wait("server_error") == (CloseCode.ABNORMAL_DISCONNECTION,)
    assert not other.is_listening() and other.native_descriptor == -1


# ---------------------------------------------------------------- sockets from elsewhere


def test_handle_connection(app: EventLoop, rec: Recorder) -> None:
    srv = WebSocketServer(loop=app)  # not listening: it only serves what it's handed
    Taker(srv, rec)
    with socket.create_server((HOST, 0)) as listener:
        port = listener.getsockname()[1]
        result: list[Any] = []

        def client() -> None:
            with tether.sync.connect(f"ws://{HOST}:{port}", open_timeout=GUARD) as c:
                c.send("handed over")
                result.append(c.recv(GUARD))

        thread = threading.Thread(target=client)
        thread.start()
        sock, _ = listener.accept()
        srv.handle_connection(sock)
        thread.join(GUARD)
    assert result == ["handed over"]
    with pytest.raises(TypeError):
        srv.handle_connection(42)  # type: ignore[arg-type]


def test_set_native_descriptor(app: EventLoop, rec: Recorder) -> None:
    listener = socket.create_server((HOST, 0))
    port = listener.getsockname()[1]
    srv = WebSocketServer(loop=app)
    Taker(srv, rec)
    assert srv.set_native_descriptor(listener.detach())
    assert srv.server_port == port and srv.native_descriptor >= 0
    with tether.sync.connect(f"ws://{HOST}:{port}", open_timeout=GUARD) as c:
        c.send("fd")
        assert c.recv(GUARD) == "fd"
    srv.close()
    with socket.socket() as not_listening:
        assert not WebSocketServer(loop=app).set_native_descriptor(not_listening.fileno())


# ---------------------------------------------------------------- TLS


def test_secure_mode(app: EventLoop, rec: Recorder, tls_certs: Any) -> None:
    srv = WebSocketServer("Secure", SslMode.SECURE_MODE, loop=app)
    with pytest.raises(tether.UsageError):
        srv.listen(HOST, 0)  # no certificate yet
    srv.ssl_configuration = tls_certs.server_context()
    assert srv.listen(HOST, 0)
    assert srv.server_url.startswith("wss://")
    taker = Taker(srv, rec)
    with tether.sync.connect(srv.server_url, ssl=tls_certs.client_context(),
                             open_timeout=GUARD) as c:
        c.send("secret")
        assert c.recv(GUARD) == "secret"
        assert taker.sockets[0].request_url.startswith("wss://")
    srv.close()
    with pytest.raises(tether.UsageError):
        WebSocketServer(loop=app).ssl_configuration = tls_certs.server_context()


def test_tls_errors_on_the_server(app: EventLoop, rec: Recorder, tls_certs: Any) -> None:
    srv = WebSocketServer("Secure", SslMode.SECURE_MODE, loop=app,
                          ssl_configuration=tls_certs.server_context())
    rec.watch(srv, *SERVER_SIGNALS)
    assert srv.listen(HOST, 0)
    # A plain-text client on the TLS port.
    with pytest.raises(tether.TetherError):
        tether.sync.connect(f"ws://{HOST}:{srv.server_port}", open_timeout=GUARD)
    (errors,) = rec.wait("ssl_errors")
    assert "plain-text HTTP" in errors[0].error_string
    assert rec.count("peer_verify_error") == 0
    # Require client certificates; offer one from a CA the server doesn't trust.
    ctx = tls_certs.server_context()
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cafile=str(tls_certs.ca_file))
    srv.close()
    srv.ssl_configuration = ctx
    assert srv.listen(HOST, 0)
    client_ctx = client_ssl_context(ca_file=tls_certs.ca_file, certfile=tls_certs.untrusted.cert,
                                    keyfile=tls_certs.untrusted.key)
    with pytest.raises((ssl.SSLError, OSError, tether.TetherError)), \
            tether.sync.connect(srv.server_url, ssl=client_ctx, open_timeout=GUARD) as c:
        c.recv(GUARD)
    (error,) = rec.wait("peer_verify_error")
    assert isinstance(error, SslError)
    assert error.error is SslError.Kind.UNABLE_TO_GET_LOCAL_ISSUER_CERTIFICATE
    assert "client's TLS certificate" in error.error_string
    srv.close()


# ---------------------------------------------------------------- the QML flavour


def test_declared_like_qml(app: EventLoop, rec: Recorder) -> None:
    clients: list[WebSocket] = []

    def on_client(ws: WebSocket) -> None:
        clients.append(ws)
        ws.text_message_received.connect(lambda m: ws.send_text_message(f"Hello {m}!"))

    srv = WebSocketServer(loop=app, name="QML Server", host=HOST, port=0, listen=True,
                          accept=True, supported_subprotocols=["qml"],
                          on_client_connected=on_client)
    assert srv.listening and srv.port == srv.server_port and srv.url == srv.server_url
    assert srv.name == srv.server_name == "QML Server"
    with tether.sync.connect(srv.url, subprotocols=["qml"], open_timeout=GUARD) as c:
        c.send("Client")
        assert c.recv(GUARD) == "Hello Client!"
    assert len(clients) == 1 and not srv.has_pending_connections()
    srv.accept = False
    assert not srv.accept
    srv.close()


def test_a_client_dropping_tcp_is_an_error_on_the_server_side(
        server: WebSocketServer, rec: Recorder) -> None:
    taker = Taker(server, rec)
    client = connect(server)
    rec.wait("new_connection")
    client.socket.shutdown(socket.SHUT_RDWR)  # TCP goes, without a close frame
    assert rec.wait("error_occurred") == (SocketError.REMOTE_HOST_CLOSED_ERROR,)
    rec.wait("disconnected")
    assert taker.sockets[0].close_code == 1006
    client.close()


ACCEPT_ERROR_SCRIPT = """
import os, resource
from tether.signals import EventLoop, WebSocketServer

app = EventLoop()
server = WebSocketServer()
assert server.listen("127.0.0.1", 0)
server.accept_error.connect(lambda error: (print("accept_error", error.name, flush=True),
                                           app.quit()))
# Leave room for one more file descriptor: the second connection can't be accepted.
opened = len(os.listdir("/proc/self/fd"))
resource.setrlimit(resource.RLIMIT_NOFILE, (opened + 1, resource.getrlimit(
    resource.RLIMIT_NOFILE)[1]))
print("port", server.server_port, flush=True)
app.exec()
"""


def test_accept_error_when_out_of_file_descriptors() -> None:
    """In a subprocess whose file descriptors run out: accept() fails with EMFILE."""
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (src, os.environ.get("PYTHONPATH")) if p))
    proc = subprocess.Popen([sys.executable, "-c", ACCEPT_ERROR_SCRIPT], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    port = int(proc.stdout.readline().split()[1])
    clients = [socket.create_connection((HOST, port), timeout=GUARD) for _ in range(3)]
    try:
        out, err = proc.communicate(timeout=GUARD)
    finally:
        for c in clients:
            c.close()
    assert out == "accept_error SOCKET_RESOURCE_ERROR\n", err
    assert proc.returncode == 0
