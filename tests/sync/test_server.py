"""The blocking server: handlers, shutdown, HTTP answers, limits, deadlines, TLS."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import ssl
import threading
from typing import Any

import pytest

from tests.support.certs import CertBundle, tls_certs  # noqa: F401 - fixture
from tether import (
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidMessage,
    InvalidStatus,
    Request,
    Response,
    State,
    UsageError,
)
from tether.core.events import CloseReceived, Message
from tether.sync import ServerConnection, connect, serve

from . import WAIT, kinds, raw_client, running_server, uri


def echo(ws: ServerConnection) -> None:
    for message in ws:
        ws.send(message)


def http_get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes,
                                                                                   Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read(), response.headers
    finally:
        conn.close()


# ---------------------------------------------------------------- handlers


def test_handler_sees_the_connection() -> None:
    seen: dict[str, Any] = {}

    def handler(ws: ServerConnection) -> None:
        seen["path"] = ws.path
        seen["state"] = ws.state
        seen["remote"] = ws.remote_address
        seen["request"] = ws.request_headers
        seen["in_connections"] = ws in ws.server.connections
        ws.send("hi")
        ws.recv()

    with running_server(handler) as server, connect(uri(server, "/room?x=1"), proxy=None) as ws:
        assert ws.recv(timeout=WAIT) == "hi"
        assert seen["path"] == "/room?x=1"
        assert seen["state"] is State.OPEN
        assert seen["remote"] == ws.local_address
        assert seen["request"]["Host"] == f"127.0.0.1:{server.port}"
        assert seen["in_connections"]


def test_handler_return_closes_with_1000() -> None:
    with running_server(lambda ws: None) as server, connect(uri(server), proxy=None) as ws:
        with pytest.raises(ConnectionClosedOK):
            ws.recv(timeout=WAIT)
        assert ws.close_code == 1000


def test_handler_exception_closes_with_1011(caplog: pytest.LogCaptureFixture) -> None:
    def handler(ws: ServerConnection) -> None:
        raise RuntimeError("boom")

    with running_server(handler) as server, connect(uri(server), proxy=None) as ws:
        with pytest.raises(ConnectionClosedError) as info:
            ws.recv(timeout=WAIT)
        assert (info.value.rcvd_code, info.value.rcvd_reason) == (1011, "internal error")
    assert any("connection handler failed" in r.message for r in caplog.records)


def test_many_clients_at_once() -> None:
    with running_server(echo) as server:
        clients = [connect(uri(server), proxy=None) for _ in range(20)]
        for i, ws in enumerate(clients):
            ws.send(f"client {i}")
        for i, ws in enumerate(clients):
            assert ws.recv(timeout=WAIT) == f"client {i}"
        assert len(server.connections) == 20
        for ws in clients:
            ws.close()


def test_handler_sends_from_another_thread_while_receiving() -> None:
    def handler(ws: ServerConnection) -> None:
        def ticker() -> None:
            for i in range(50):
                ws.send(f"tick {i}")

        thread = threading.Thread(target=ticker)
        thread.start()
        for message in ws:
            ws.send(f"echo {message}")
        thread.join()

    with running_server(handler) as server, connect(uri(server), proxy=None) as ws:
        for i in range(50):
            ws.send(str(i))
        got = [ws.recv(timeout=WAIT) for _ in range(100)]
        assert [m for m in got if m.startswith("tick")] == [f"tick {i}" for i in range(50)]
        assert [m for m in got if m.startswith("echo")] == [f"echo {i}" for i in range(50)]


# ---------------------------------------------------------------- shutdown


def test_shutdown_closes_with_1001_and_joins_handlers() -> None:
    finished = threading.Event()

    def handler(ws: ServerConnection) -> None:
        try:
            for message in ws:
                ws.send(message)
        finally:
            finished.set()

    server = serve(handler, "127.0.0.1", 0, ping_interval=None)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    ws = connect(uri(server), proxy=None)
    ws.send("before")
    assert ws.recv(timeout=WAIT) == "before"
    server.shutdown()
    assert finished.is_set()  # shutdown() waited for the handler
    thread.join(WAIT)
    assert not thread.is_alive()
    with pytest.raises(ConnectionClosedOK) as info:
        ws.recv(timeout=WAIT)
    assert (info.value.rcvd_code, info.value.rcvd_reason) == (1001, "server shutting down")
    assert ws.close_code == 1001
    with pytest.raises(OSError):
        connect(uri(server), proxy=None, open_timeout=1)
    server.shutdown()  # twice is fine
    server.serve_forever()  # returns at once after shutdown


def test_shutdown_drops_clients_that_never_answer() -> None:
    server = serve(echo, "127.0.0.1", 0, ping_interval=None, close_timeout=0.1)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    peer = raw_client(server.port)
    peer.send("hello")
    message = peer.next_event()
    assert isinstance(message, Message) and message.data == "hello"
    server.shutdown()  # the raw client never answers the close frame
    thread.join(WAIT)
    events = peer.events_until_eof()
    assert kinds(events) == ["CloseReceived"]
    assert isinstance(events[0], CloseReceived) and events[0].code == 1001
    peer.close()


def test_shutdown_from_a_handler() -> None:
    def handler(ws: ServerConnection) -> None:
        if ws.recv() == "stop":
            ws.server.shutdown()

    server = serve(handler, "127.0.0.1", 0, ping_interval=None)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    with connect(uri(server), proxy=None) as ws:
        ws.send("stop")
        with pytest.raises(ConnectionClosedOK):
            ws.recv(timeout=WAIT)
        assert ws.close_code == 1001
    thread.join(WAIT)
    assert not thread.is_alive()


def test_shutdown_from_a_signal_handler() -> None:
    server = serve(echo, "127.0.0.1", 0, ping_interval=None)
    clients: list[Any] = []

    def client() -> None:
        ws = connect(uri(server), proxy=None)
        ws.send("x")
        assert ws.recv(timeout=WAIT) == "x"
        clients.append(ws)
        os.kill(os.getpid(), signal.SIGUSR1)

    previous = signal.signal(signal.SIGUSR1, lambda signum, frame: server.shutdown())
    try:
        thread = threading.Thread(target=client)
        thread.start()
        server.serve_forever()  # in the main thread, which gets the signal
        thread.join(WAIT)
    finally:
        signal.signal(signal.SIGUSR1, previous)
    with pytest.raises(ConnectionClosedOK):
        clients[0].recv(timeout=WAIT)
    assert clients[0].close_code == 1001


def test_server_as_context_manager() -> None:
    with serve(echo, "127.0.0.1", 0, ping_interval=None) as server:
        thread = threading.Thread(target=server.serve_forever)
        thread.start()
        with pytest.raises(UsageError):
            # Wait until the first serve_forever() runs, then try a second one.
            while not server._serving:
                threading.Event().wait(0.001)
            server.serve_forever()
        with connect(uri(server), proxy=None) as ws:
            ws.send("x")
            assert ws.recv(timeout=WAIT) == "x"
    thread.join(WAIT)
    assert not thread.is_alive()


def test_serve_on_a_given_socket() -> None:
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    with running_server(echo, sock=sock) as server:
        assert server.port == port
        with connect(uri(port), proxy=None) as ws:
            ws.send("on my socket")
            assert ws.recv(timeout=WAIT) == "on my socket"


# ---------------------------------------------------------------- the opening handshake


def test_process_request_answers_plain_http() -> None:
    def process_request(conn: ServerConnection, request: Request) -> Response | None:
        if request.target == "/health":
            return conn.respond(200, "OK\n")
        return None

    with running_server(echo, process_request=process_request) as server:
        status, body, _ = http_get(server.port, "/health")
        assert (status, body) == (200, b"OK\n")
        with connect(uri(server, "/ws"), proxy=None) as ws:  # other paths upgrade
            ws.send("upgraded")
            assert ws.recv(timeout=WAIT) == "upgraded"


def test_plain_http_without_upgrade_gets_426() -> None:
    with running_server(echo) as server:
        status, body, headers = http_get(server.port, "/")
        assert status == 426
        assert headers["Sec-WebSocket-Version"] == "13"
        assert b"Failed to open a WebSocket connection" in body


def test_process_request_exception_gives_500() -> None:
    def process_request(conn: ServerConnection, request: Request) -> Response | None:
        raise RuntimeError("hook bug")

    with running_server(echo, process_request=process_request) as server:
        with pytest.raises(InvalidStatus) as info:
            connect(uri(server), proxy=None)
        assert info.value.status == 500


def test_process_response_and_additional_headers() -> None:
    def process_response(conn: ServerConnection, request: Request,
                         response: Response) -> Response | None:
        response.headers.set("X-Hook", request.target)
        return None

    with running_server(echo, process_response=process_response,
                        additional_headers={"X-Extra": "1"}, server_header="test/1") as server, \
            connect(uri(server, "/p"), proxy=None) as ws:
        assert ws.response is not None
        assert ws.response.headers["X-Hook"] == "/p"
        assert ws.response.headers["X-Extra"] == "1"
        assert ws.response.headers["Server"] == "test/1"


def test_process_response_may_refuse() -> None:
    def process_response(conn: ServerConnection, request: Request,
                         response: Response) -> Response | None:
        return conn.respond(401, "who are you?")

    with running_server(echo, process_response=process_response) as server:
        with pytest.raises(InvalidStatus) as info:
            connect(uri(server), proxy=None)
        assert (info.value.status, info.value.body) == (401, b"who are you?")


def test_origins() -> None:
    with running_server(echo, origins=["https://good.example", None]) as server:
        with pytest.raises(InvalidStatus) as info:
            connect(uri(server), proxy=None, origin="https://evil.example")
        assert info.value.status == 403
        with connect(uri(server), proxy=None, origin="https://good.example") as ws:
            ws.send("ok")
            assert ws.recv(timeout=WAIT) == "ok"
        with connect(uri(server), proxy=None) as ws:  # None: no Origin header is allowed
            ws.send("ok")
            assert ws.recv(timeout=WAIT) == "ok"


def test_select_subprotocol() -> None:
    def select(offered: Any) -> str | None:
        return offered[-1] if offered else None

    with running_server(echo, select_subprotocol=select) as server, connect(
        uri(server), proxy=None, subprotocols=["a", "b"]
    ) as ws:
        assert ws.subprotocol == "b"


def test_invalid_request_gets_400() -> None:
    with running_server(echo) as server, socket.create_connection(
        ("127.0.0.1", server.port), timeout=WAIT
    ) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nBad Header\r\n\r\n")
        answer = sock.makefile("rb").read()
        assert answer.startswith(b"HTTP/1.1 400 ")


def test_tls_on_a_plain_port_gets_400(tls_certs: CertBundle) -> None:  # noqa: F811
    with running_server(echo) as server, pytest.raises(ssl.SSLError):
        connect(uri(server, scheme="wss"), proxy=None, ssl=tls_certs.client_context())


def test_open_timeout_drops_silent_clients() -> None:
    with running_server(echo, open_timeout=0.1) as server, socket.create_connection(
        ("127.0.0.1", server.port), timeout=WAIT
    ) as sock:
        assert sock.recv(1) == b""  # dropped without an answer


def test_shutdown_during_a_handshake() -> None:
    server = serve(echo, "127.0.0.1", 0, ping_interval=None)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    with socket.create_connection(("127.0.0.1", server.port), timeout=WAIT) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\n")  # and never the rest
        while not server._connections:
            threading.Event().wait(0.001)
        server.shutdown()
        assert sock.recv(1) == b""
    thread.join(WAIT)


# ---------------------------------------------------------------- limits and keepalive


def test_max_size_closes_with_1009() -> None:
    with running_server(echo, max_size=1000, compression=None) as server, connect(
        uri(server), proxy=None
    ) as ws:
        ws.send("x" * 1000)
        assert ws.recv(timeout=WAIT) == "x" * 1000
        ws.send("x" * 1001)
        with pytest.raises(ConnectionClosedError) as info:
            ws.recv(timeout=WAIT)
        assert info.value.rcvd_code == 1009


def test_max_size_with_compression() -> None:
    with running_server(echo, max_size=1000) as server, connect(uri(server), proxy=None) as ws:
        ws.send("x" * 100_000)  # a few hundred bytes on the wire, too big inflated
        with pytest.raises(ConnectionClosedError) as info:
            ws.recv(timeout=WAIT)
        assert info.value.rcvd_code == 1009


def test_keepalive_timeout_against_a_silent_client() -> None:
    with running_server(echo, ping_interval=0.05, ping_timeout=0.1) as server:
        peer = raw_client(server.port)
        events = peer.events_until_eof()
        assert kinds(events) == ["Ping", "CloseReceived"]
        close = events[-1]
        assert isinstance(close, CloseReceived)
        assert (close.code, close.reason) == (1011, "keepalive ping timeout")
        peer.close()


def test_keepalive_answered_by_a_client() -> None:
    latencies: list[float] = []

    def handler(ws: ServerConnection) -> None:
        while ws.latency == 0.0:
            threading.Event().wait(0.01)
        latencies.append(ws.latency)

    with running_server(handler, ping_interval=0.02, ping_timeout=WAIT) as server, connect(
        uri(server), proxy=None
    ) as ws, pytest.raises(ConnectionClosedOK):
        ws.recv(timeout=WAIT)
    assert len(latencies) == 1 and latencies[0] > 0


def test_client_data_right_after_the_handshake() -> None:
    """Bytes that arrive with the request reach the connection."""
    with running_server(echo) as server:
        peer = raw_client(server.port)
        peer.send("one")
        peer.send("two")
        got = [peer.next_event(), peer.next_event()]
        assert [e.data for e in got if isinstance(e, Message)] == ["one", "two"]
        peer.close()


# ---------------------------------------------------------------- TLS


def test_wss_server(tls_certs: CertBundle) -> None:  # noqa: F811
    with running_server(echo, ssl=tls_certs.server_context()) as server, connect(
        uri(server, scheme="wss"), proxy=None, ssl=tls_certs.client_context()
    ) as ws:
        ws.send("secure")
        assert ws.recv(timeout=WAIT) == "secure"
        assert isinstance(ws.socket, ssl.SSLSocket)
        assert ws.socket.version() in ("TLSv1.2", "TLSv1.3")


def test_plain_client_on_a_tls_port(tls_certs: CertBundle) -> None:  # noqa: F811
    with running_server(echo, ssl=tls_certs.server_context(), open_timeout=WAIT) as server:
        with pytest.raises((InvalidMessage, OSError)):  # the server drops the connection
            connect(uri(server), proxy=None)
        # The server is still fine.
        with connect(uri(server, scheme="wss"), proxy=None,
                     ssl=tls_certs.client_context()) as ws:
            ws.send("fine")
            assert ws.recv(timeout=WAIT) == "fine"


def test_serve_rejects_bad_arguments() -> None:
    with pytest.raises(TypeError):
        serve(None, "127.0.0.1", 0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        serve(echo, "127.0.0.1", 0, ssl=True)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        serve(echo, "127.0.0.1", 0, compression="brotli")
