"""WebSocket (QWebSocket) as a client, against tether's asyncio echo server.

The socket lives on an EventLoop thread; the test thread calls its methods (so each
call crosses threads) and waits for the signals it records.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from typing import Any

import pytest

from tether import InvalidStatus
from tether.core.handshake import accept_key
from tether.core.http11 import parse_request
from tether.signals import (
    Authenticator,
    CloseCode,
    EventLoop,
    HandshakeOptions,
    MaskGenerator,
    NetworkRequest,
    SocketError,
    SocketState,
    SslError,
    Status,
    WebSocket,
)

from .conftest import GUARD, HOST, LOOP_FACTORIES, LOOP_IDS, Recorder
from .echo import EchoServer

ALL = ("state_changed", "status_changed", "connected", "disconnected", "about_to_close",
       "text_message_received", "binary_message_received", "error_occurred")


def open_socket(app: EventLoop, rec: Recorder, url: str | NetworkRequest,
                options: HandshakeOptions | None = None, **props: Any) -> WebSocket:
    ws = WebSocket(loop=app, **props)
    rec.watch(ws, *ALL)
    ws.open(url, options)
    rec.wait("connected")
    return ws


def roundtrip(ws: WebSocket, rec: Recorder, text: str) -> str:
    n = rec.count("text_message_received")
    ws.send_text_message(text)
    (reply,) = rec.wait("text_message_received", n + 1)
    assert isinstance(reply, str)
    return reply


# ---------------------------------------------------------------- open, echo, close


def test_open_echo_and_close(app: EventLoop, echo: EchoServer, rec: Recorder) -> None:
    ws = open_socket(app, rec, echo.url + "/basic")
    assert ws.state is SocketState.CONNECTED and ws.is_valid()
    assert ws.status is Status.OPEN
    assert ws.send_text_message("héllo") == 6
    assert rec.wait("text_message_received") == ("héllo",)
    assert ws.send_binary_message(b"\x00\xff") == 2
    assert rec.wait("binary_message_received") == (b"\x00\xff",)
    ws.close(4001, "client bye")
    rec.wait("disconnected")
    assert ws.close_code == 4001 and ws.close_reason == "client bye"
    assert echo.closed("/basic") == (4001, "client bye")
    assert [a[0] for a in rec.args("state_changed")] == [
        SocketState.CONNECTING, SocketState.CONNECTED, SocketState.CLOSING,
        SocketState.UNCONNECTED]
    assert [a[0] for a in rec.args("status_changed")] == [
        Status.CONNECTING, Status.OPEN, Status.CLOSING, Status.CLOSED]
    names = rec.names()
    assert names.index("connected") > names.index("state_changed")
    assert names.index("about_to_close") < names.index("disconnected")
    assert names[-1] == "disconnected"
    assert rec.count("error_occurred") == 0
    assert ws.state is SocketState.UNCONNECTED and not ws.is_valid()
    assert rec.threads == {"tether-loop"}  # every slot ran on the loop's thread


def test_server_closes_with_a_code_and_reason(app: EventLoop, echo: EchoServer,
                                              rec: Recorder) -> None:
    ws = open_socket(app, rec, echo.url + "/server-closes")
    ws.send_text_message("close 4002 server bye")
    rec.wait("disconnected")
    assert ws.close_code == 4002 and ws.close_reason == "server bye"
    assert rec.count("about_to_close") == 1
    assert rec.count("error_occurred") == 0
    assert ws.status is Status.CLOSED


def test_close_codes_are_checked_and_reasons_clipped(app: EventLoop, echo: EchoServer,
                                                     rec: Recorder) -> None:
    ws = open_socket(app, rec, echo.url + "/clip")
    with pytest.raises(ValueError):
        ws.close(1006)
    with pytest.raises(ValueError):
        ws.close(2999)
    ws.close(CloseCode.GOING_AWAY, "é" * 100)  # 200 bytes: clipped to 123 (61 chars)
    rec.wait("disconnected")
    assert ws.close_code == CloseCode.GOING_AWAY
    assert ws.close_reason == "é" * 61
    assert echo.closed("/clip") == (1001, "é" * 61)


# ---------------------------------------------------------------- fragments


def test_outgoing_frame_size_fragments_messages(app: EventLoop, echo: EchoServer,
                                                rec: Recorder) -> None:
    ws = open_socket(app, rec, echo.url + "/fragments", compression=None)
    ws.outgoing_frame_size = 4
    assert roundtrip(ws, rec, "abcdefghij") == "abcdefghij"
    ws.outgoing_frame_size = None
    assert roundtrip(ws, rec, "frames?") == "3"
    ws.outgoing_frame_size = 1000
    assert roundtrip(ws, rec, "x" * 1000) == "x" * 1000
    assert roundtrip(ws, rec, "frames?") == "1"
    ws.close()
    rec.wait("disconnected")


def test_fragmented_messages_arrive_frame_by_frame(app: EventLoop, echo: EchoServer,
                                                   rec: Recorder) -> None:
    ws = open_socket(app, rec, echo.url + "/frames")
    rec.watch(ws, "text_frame_received", "binary_frame_received")
    ws.send_text_message("frag ab cd ef")
    assert rec.wait("text_message_received") == ("abcdef",)
    assert rec.args("text_frame_received") == [
        ("ab", False), ("cd", False), ("ef", False), ("", True)]
    names = rec.names()
    assert names.index("text_message_received") > max(
        i for i, n in enumerate(names) if n == "text_frame_received")
    ws.send_text_message("fragb x yz")
    assert rec.wait("binary_message_received") == (b"xyz",)
    assert rec.args("binary_frame_received") == [(b"x", False), (b"yz", False), (b"", True)]
    # an unfragmented message is one last frame
    assert roundtrip(ws, rec, "whole") == "whole"
    assert rec.args("text_frame_received")[-1] == ("whole", True)
    ws.close()
    rec.wait("disconnected")


# ---------------------------------------------------------------- ping, pong, bytes


def test_ping_reports_the_pong(app: EventLoop, echo: EchoServer, rec: Recorder) -> None:
    ws = open_socket(app, rec, echo.url + "/ping")
    rec.watch(ws, "pong")
    ws.ping(b"hello")
    elapsed, payload = rec.wait("pong")
    assert payload == b"hello"
    assert isinstance(elapsed, int) and elapsed >= 0
    ws.ping("x" * 200)  # clipped to 125 bytes
    assert rec.wait("pong", 2)[1] == b"x" * 125
    # The server's pings are answered by the engine.
    assert roundtrip(ws, rec, "ping abc") == "pong abc"
    ws.close()
    rec.wait("disconnected")


def test_bytes_written_counts_frames_on_the_wire(app: EventLoop, echo: EchoServer,
                                                 rec: Recorder) -> None:
    ws = open_socket(app, rec, echo.url + "/bytes", compression=None)
    rec.watch(ws, "bytes_written")
    ws.send_text_message("hello")  # 2 header + 4 mask + 5 payload
    rec.wait("text_message_received")
    rec.wait("bytes_written")
    assert sum(a[0] for a in rec.args("bytes_written")) == 11
    assert ws.bytes_to_write == 0
    assert ws.flush() is True
    ws.close()
    rec.wait("disconnected")


def test_sending_while_not_connected_returns_zero(app: EventLoop) -> None:
    ws = WebSocket(loop=app)
    assert ws.send_text_message("nobody") == 0
    assert ws.send_binary_message(b"nobody") == 0
    with pytest.raises(TypeError):
        ws.send_text_message(b"bytes")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ws.send_binary_message("text")  # type: ignore[arg-type]


def test_sends_from_many_threads_all_arrive_in_order_per_thread(
        app: EventLoop, echo: EchoServer, rec: Recorder) -> None:
    ws = open_socket(app, rec, echo.url + "/threads")

    def sender(k: int) -> None:
        for i in range(50):
            ws.send_text_message(f"{k}:{i}")

    threads = [threading.Thread(target=sender, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rec.wait("text_message_received", 200)
    got = [a[0] for a in rec.args("text_message_received")]
    for k in range(4):
        assert [m for m in got if m.startswith(f"{k}:")] == [f"{k}:{i}" for i in range(50)]
    ws.close()
    rec.wait("disconnected")


# ---------------------------------------------------------------- limits


def test_max_message_size_closes_with_1009(app: EventLoop, echo: EchoServer,
                                           rec: Recorder) -> None:
    ws = open_socket(app, rec, echo.url + "/too-big")
    ws.max_allowed_incoming_message_size = 1000  # applies to the open connection
    assert roundtrip(ws, rec, "big 1000") == "x" * 1000
    ws.send_text_message("big 1001")
    rec.wait("disconnected")
    assert ws.close_code == CloseCode.TOO_MUCH_DATA
    assert rec.count("text_message_received") == 1
    assert rec.count("about_to_close") == 1
    assert rec.count("error_occurred") == 0
    assert echo.closed("/too-big")[0] == 1009


def test_max_frame_size_closes_with_1009(app: EventLoop, echo: EchoServer,
                                         rec: Recorder) -> None:
    ws = open_socket(app, rec, echo.url + "/frame-too-big",
                     max_allowed_incoming_frame_size=10)
    assert ws.max_allowed_incoming_frame_size == 10
    assert roundtrip(ws, rec, "frag 0123456789 0123456789") == "01234567890123456789"
    ws.send_text_message("big 11")
    rec.wait("disconnected")
    assert ws.close_code == 1009


# ---------------------------------------------------------------- errors


def test_connection_refused(app: EventLoop, rec: Recorder, free_port: int) -> None:
    ws = WebSocket(loop=app)
    rec.watch(ws, *ALL)
    ws.open(f"ws://{HOST}:{free_port}")
    assert rec.wait("error_occurred") == (SocketError.CONNECTION_REFUSED_ERROR,)
    rec.wait("state_changed", 2)
    assert ws.error is SocketError.CONNECTION_REFUSED_ERROR
    assert ws.error_string == "Connection refused"
    assert isinstance(ws.exception, ConnectionRefusedError)
    assert ws.state is SocketState.UNCONNECTED
    assert ws.status is Status.ERROR
    assert rec.count("connected") == 0 and rec.count("disconnected") == 0
    assert [a[0] for a in rec.args("status_changed")] == [Status.CONNECTING, Status.ERROR]


def test_invalid_url(app: EventLoop, rec: Recorder) -> None:
    ws = WebSocket(loop=app)
    rec.watch(ws, *ALL)
    ws.open("http://example.com/")
    assert rec.wait("error_occurred") == (SocketError.CONNECTION_REFUSED_ERROR,)
    assert "Invalid URL" in ws.error_string
    assert rec.count("state_changed") == 0


def test_a_refused_handshake_is_an_error(app: EventLoop, echo: EchoServer,
                                         rec: Recorder) -> None:
    ws = WebSocket(loop=app)
    rec.watch(ws, *ALL)
    ws.open(echo.url + "/status/403")
    assert rec.wait("error_occurred") == (SocketError.CONNECTION_REFUSED_ERROR,)
    assert "403" in ws.error_string
    assert isinstance(ws.exception, InvalidStatus) and ws.exception.status == 403


def test_authentication_required_retries_with_credentials(
        app: EventLoop, echo: EchoServer, rec: Recorder) -> None:
    ws = WebSocket(loop=app)
    rec.watch(ws, *ALL)

    @ws.authentication_required.connect
    def login(auth: Authenticator) -> None:
        rec._record("auth", auth.realm)
        auth.user, auth.password = "user", "pass"

    ws.open(echo.url + "/auth")
    rec.wait("connected")
    assert rec.args("auth") == [("tests",)]
    who = json.loads(roundtrip(ws, rec, "whoami"))
    assert who["authorization"] == "Basic dXNlcjpwYXNz"
    ws.close()
    rec.wait("disconnected")


def test_authentication_required_without_credentials_fails(
        app: EventLoop, echo: EchoServer, rec: Recorder) -> None:
    ws = WebSocket(loop=app)
    rec.watch(ws, *ALL, "authentication_required")
    ws.open(echo.url + "/auth")
    assert rec.wait("error_occurred") == (SocketError.CONNECTION_REFUSED_ERROR,)
    assert rec.count("authentication_required") == 1
    assert "401" in ws.error_string


def test_handshake_timeout(app: EventLoop, rec: Recorder) -> None:
    with socket.create_server((HOST, 0)) as silent:  # listens, never answers
        ws = WebSocket(loop=app, handshake_timeout=0.1)
        rec.watch(ws, *ALL)
        ws.open(f"ws://{HOST}:{silent.getsockname()[1]}")
        assert rec.wait("error_occurred") == (SocketError.SOCKET_TIMEOUT_ERROR,)
        assert ws.state is SocketState.UNCONNECTED


def test_close_or_abort_while_connecting(app: EventLoop, rec: Recorder) -> None:
    with socket.create_server((HOST, 0)) as silent:
        url = f"ws://{HOST}:{silent.getsockname()[1]}"
        for stop in ("close", "abort"):
            ws = WebSocket(loop=app)
            rec.watch(ws, *ALL)
            ws.open(url)
            n = rec.count("state_changed")
            getattr(ws, stop)()
            rec.wait("state_changed", n + 1)
            assert ws.state is SocketState.UNCONNECTED
        assert rec.count("error_occurred") == rec.count("connected") == 0


def test_abort_drops_the_connection(app: EventLoop, echo: EchoServer, rec: Recorder) -> None:
    ws = open_socket(app, rec, echo.url + "/abort")
    ws.abort()
    rec.wait("disconnected")
    assert ws.close_code == CloseCode.ABNORMAL_DISCONNECTION
    assert rec.count("error_occurred") == 0 and rec.count("about_to_close") == 0
    assert echo.closed("/abort")[0] == 1006


def test_open_again_replaces_the_connection(app: EventLoop, echo: EchoServer,
                                            rec: Recorder) -> None:
    ws = open_socket(app, rec, echo.url + "/first")
    ws.open(echo.url + "/second")
    rec.wait("connected", 2)
    assert rec.count("disconnected") == 1
    assert echo.closed("/first")[0] == 1006
    assert json.loads(roundtrip(ws, rec, "whoami"))["path"] == "/second"
    ws.close()
    rec.wait("disconnected", 2)


def test_the_peer_dropping_tcp_is_an_error(app: EventLoop, rec: Recorder) -> None:
    from tether.signals import WebSocketServer

    server = WebSocketServer(loop=app)
    assert server.listen(HOST, 0)
    server.new_connection.connect(lambda: server.next_pending_connection().abort())
    ws = WebSocket(loop=app)
    rec.watch(ws, *ALL)
    ws.open(server.server_url)
    assert rec.wait("error_occurred") == (SocketError.REMOTE_HOST_CLOSED_ERROR,)
    rec.wait("disconnected")
    assert ws.close_code == 1006
    assert ws.status is Status.ERROR
    server.close()


# ---------------------------------------------------------------- handshake details


def test_subprotocols_origin_and_request_headers(app: EventLoop, echo: EchoServer,
                                                 rec: Recorder) -> None:
    request = NetworkRequest(echo.url + "/who?x=1", {"X-Test": "yes"})
    ws = open_socket(app, rec, request, HandshakeOptions(["superchat", "chat"]),
                     origin="http://example.com")
    assert ws.subprotocol == "chat"  # the server's preference
    assert ws.handshake_options.subprotocols == ["superchat", "chat"]
    who = json.loads(roundtrip(ws, rec, "whoami"))
    assert who == {"origin": "http://example.com", "subprotocol": "chat",
                   "path": "/who?x=1", "x-test": "yes", "authorization": None}
    assert ws.origin == "http://example.com"
    assert ws.request is request and ws.request_url == echo.url + "/who?x=1"
    assert ws.resource_name == "/who?x=1"
    assert ws.peer_name == HOST and ws.peer_address == HOST and ws.peer_port == echo.port
    assert ws.local_address == HOST and ws.local_port > 0
    assert ws.version == 13
    ws.close()
    rec.wait("disconnected")


def test_no_subprotocol_is_an_empty_string(app: EventLoop, echo: EchoServer,
                                           rec: Recorder) -> None:
    ws = open_socket(app, rec, echo.url + "/nosub")
    assert ws.subprotocol == ""
    assert json.loads(roundtrip(ws, rec, "whoami"))["origin"] is None
    ws.close()
    rec.wait("disconnected")


class FixedMask(MaskGenerator):
    def __init__(self) -> None:
        self.seeded = False

    def seed(self) -> bool:
        self.seeded = True
        return True

    def next_mask(self) -> int:
        return 0x0A0B0C0D


@pytest.mark.parametrize("generator", [lambda: b"\x01\x02\x03\x04", FixedMask()],
                         ids=["callable", "MaskGenerator"])
def test_mask_generator_provides_the_masking_keys(app: EventLoop, rec: Recorder,
                                                  generator: Any) -> None:
    """A raw peer on a plain socket reads the masking key of the client's frame."""
    keys: list[bytes] = []
    with socket.create_server((HOST, 0)) as listener:

        def peer() -> None:
            conn, _ = listener.accept()
            with conn:
                buf = b""
                while b"\r\n\r\n" not in buf:
                    buf += conn.recv(4096)
                parsed = parse_request(buf)
                assert parsed is not None
                key = parsed[0].headers.get("Sec-WebSocket-Key")
                assert key is not None
                conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                             b"Connection: Upgrade\r\nSec-WebSocket-Accept: "
                             + accept_key(key).encode() + b"\r\n\r\n")
                frame = b""
                while len(frame) < 6:
                    frame += conn.recv(4096)
                keys.append(frame[2:6])

        thread = threading.Thread(target=peer)
        thread.start()
        ws = WebSocket(loop=app, mask_generator=generator, compression=None)
        rec.watch(ws, *ALL)
        ws.open(f"ws://{HOST}:{listener.getsockname()[1]}")
        rec.wait("connected")
        ws.send_text_message("masked")
        thread.join(GUARD)
    expected = b"\x01\x02\x03\x04" if not isinstance(generator, FixedMask) else b"\x0a\x0b\x0c\x0d"
    assert keys == [expected]
    if isinstance(generator, FixedMask):
        assert generator.seeded
    rec.wait("disconnected")


# ---------------------------------------------------------------- the QML flavour


def test_declared_like_qml(app: EventLoop, echo: EchoServer, rec: Recorder) -> None:
    statuses: list[Status] = []
    ws = WebSocket(loop=app, url=echo.url + "/qml", requested_subprotocols=["superchat"],
                   on_status_changed=statuses.append,
                   on_text_message_received=rec.slot("text"), active=True)
    assert ws.active
    rec.watch(ws, "status_changed", "url_changed", "active_changed")
    while ws.status is not Status.OPEN:
        rec.wait("status_changed", rec.count("status_changed") + 1)
    assert ws.negotiated_subprotocol == "superchat"
    ws.send_text_message("hi")
    assert rec.wait("text") == ("hi",)
    # a new url reconnects
    ws.url = echo.url + "/qml2"
    rec.wait("url_changed")
    assert echo.closed("/qml")[0] in (1000, 1006)
    while ws.status is not Status.OPEN or ws.request_url != echo.url + "/qml2":
        rec.wait("status_changed", rec.count("status_changed") + 1)
    ws.active = False
    n = 1
    while rec.wait("active_changed", n) != (False,):  # (True,) may be seen first
        n += 1
    while ws.status is not Status.CLOSED:
        rec.wait("status_changed", rec.count("status_changed") + 1)
    assert statuses[0] is Status.CONNECTING and statuses[-1] is Status.CLOSED
    assert Status.OPEN in statuses and WebSocket.Status.OPEN is Status.OPEN


def test_declaring_unknown_or_read_only_properties_fails(app: EventLoop) -> None:
    with pytest.raises(TypeError, match="unexpected keyword 'colour'"):
        WebSocket(loop=app, colour="blue")
    with pytest.raises(TypeError, match="read-only"):
        WebSocket(loop=app, state=SocketState.CONNECTED)
    with pytest.raises(TypeError, match="unexpected keyword 'on_nothing'"):
        WebSocket(loop=app, on_nothing=print)


def test_active_without_url_does_nothing(app: EventLoop, rec: Recorder) -> None:
    ws = WebSocket(loop=app, active=True)
    rec.watch(ws, *ALL)
    assert ws.active and ws.state is SocketState.UNCONNECTED


# ---------------------------------------------------------------- inside asyncio


@pytest.mark.parametrize("loop_factory", LOOP_FACTORIES, ids=LOOP_IDS)
def test_inside_a_running_asyncio_loop(echo: EchoServer, loop_factory: Any) -> None:
    """Objects made in async code run on that loop; coroutine slots become tasks."""

    async def main() -> list[Any]:
        loop = asyncio.get_running_loop()
        got: list[Any] = []
        done = loop.create_future()
        ws = WebSocket()

        async def on_text(message: str) -> None:
            await asyncio.sleep(0)
            got.append((message, threading.current_thread() is threading.main_thread()))
            ws.close()

        ws.connected.connect(lambda: ws.send_text_message("from asyncio"))
        ws.text_message_received.connect(on_text)
        ws.disconnected.connect(lambda: done.set_result(ws.close_code))
        ws.open(echo.url + "/in-asyncio")
        got.append(await asyncio.wait_for(done, GUARD))
        return got

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        assert runner.run(main()) == [("from asyncio", True), 1000]


# ---------------------------------------------------------------- TLS


def test_wss_with_a_trusted_ca(app: EventLoop, rec: Recorder, tls_certs: Any) -> None:
    with EchoServer(ssl=tls_certs.server_context()) as server:
        ws = open_socket(app, rec, server.url + "/tls",
                         ssl_configuration=tls_certs.client_context())
        assert roundtrip(ws, rec, "secure") == "secure"
        ws.close()
        rec.wait("disconnected")


def test_ssl_errors_fail_the_connection(app: EventLoop, rec: Recorder, tls_certs: Any) -> None:
    with EchoServer(ssl=tls_certs.server_context()) as server:
        ws = WebSocket(loop=app)  # the system's CAs don't know the test CA
        rec.watch(ws, *ALL, "ssl_errors", "peer_verify_error")
        ws.open(server.url)
        assert rec.wait("error_occurred") == (SocketError.SSL_HANDSHAKE_FAILED_ERROR,)
        (errors,) = rec.wait("ssl_errors")
        assert [e.error for e in errors] == [
            SslError.Kind.UNABLE_TO_GET_LOCAL_ISSUER_CERTIFICATE]
        assert "not trusted" in ws.error_string
        assert rec.wait("peer_verify_error") == (errors[0],)


def test_ignore_ssl_errors_from_the_slot(app: EventLoop, rec: Recorder, tls_certs: Any) -> None:
    with EchoServer(ssl=tls_certs.server_context("wrong_name")) as server:
        ws = WebSocket(loop=app, ssl_configuration=tls_certs.client_context())
        rec.watch(ws, *ALL)

        @ws.ssl_errors.connect
        def on_ssl_errors(errors: list[SslError]) -> None:
            rec._record("ssl", [e.error for e in errors])
            ws.ignore_ssl_errors()

        ws.open(server.url)
        rec.wait("connected")
        assert rec.args("ssl") == [([SslError.Kind.HOST_NAME_MISMATCH],)]
        assert roundtrip(ws, rec, "anyway") == "anyway"
        ws.close()
        rec.wait("disconnected")


def test_ignore_listed_ssl_errors_only(app: EventLoop, rec: Recorder, tls_certs: Any) -> None:
    with EchoServer(ssl=tls_certs.server_context("untrusted")) as server:
        ws = WebSocket(loop=app, ssl_configuration=tls_certs.client_context())
        rec.watch(ws, *ALL)
        ws.ssl_errors.connect(lambda errors: ws.ignore_ssl_errors(
            [SslError(SslError.Kind.HOST_NAME_MISMATCH, "")]))
        ws.open(server.url)
        assert rec.wait("error_occurred") == (SocketError.SSL_HANDSHAKE_FAILED_ERROR,)


# ---------------------------------------------------------------- proxies


def test_through_an_http_proxy(app: EventLoop, echo: EchoServer, rec: Recorder,
                               http_proxy: Any) -> None:
    ws = open_socket(app, rec, echo.url + "/proxied", proxy=http_proxy.url)
    assert roundtrip(ws, rec, "via proxy") == "via proxy"
    assert ws.proxy == http_proxy.url
    ws.close()
    rec.wait("disconnected")


def test_proxy_authentication_required(app: EventLoop, echo: EchoServer, rec: Recorder,
                                       http_proxy_auth: Any) -> None:
    ws = WebSocket(loop=app, proxy=http_proxy_auth.url)
    rec.watch(ws, *ALL)

    @ws.proxy_authentication_required.connect
    def login(proxy: str, auth: Authenticator) -> None:
        rec._record("proxy-auth", proxy)
        auth.user, auth.password = http_proxy_auth.username, http_proxy_auth.password

    ws.open(echo.url + "/proxy-auth")
    rec.wait("connected")
    assert rec.args("proxy-auth") == [(http_proxy_auth.url,)]
    ws.close()
    rec.wait("disconnected")


def test_proxy_authentication_refused(app: EventLoop, echo: EchoServer, rec: Recorder,
                                      http_proxy_auth: Any) -> None:
    ws = WebSocket(loop=app, proxy=http_proxy_auth.url)
    rec.watch(ws, *ALL)
    ws.open(echo.url)
    assert rec.wait("error_occurred") == (SocketError.PROXY_AUTHENTICATION_REQUIRED_ERROR,)
