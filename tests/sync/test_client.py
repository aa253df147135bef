"""The blocking client: messages, timeouts, closing, pings, keepalive, TLS, proxies."""

from __future__ import annotations

import os
import socket
import ssl
import threading
from typing import Any

import pytest

from tests.support.certs import CertBundle, tls_certs  # noqa: F401 - fixture
from tests.support.proxies import (  # noqa: F401 - fixtures
    ProxyServer,
    http_proxy,
    http_proxy_auth,
    https_proxy,
    socks5_proxy,
    socks5_proxy_auth,
)
from tether import (
    ConcurrencyError,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidMessage,
    InvalidStatus,
    InvalidURI,
    NegotiationError,
    ProxyError,
    State,
    UsageError,
)
from tether.core.events import CloseReceived, Ping
from tether.sync import ServerConnection, connect

from . import WAIT, RawPeer, kinds, raw_server, running_server, uri


def echo(ws: ServerConnection) -> None:
    for message in ws:
        ws.send(message)


@pytest.fixture
def echo_server() -> Any:
    with running_server(echo) as server:
        yield server


# ---------------------------------------------------------------- messages


def test_echo_text_and_binary(echo_server: Any) -> None:
    with connect(uri(echo_server), proxy=None) as ws:
        assert ws.state is State.OPEN
        ws.send("hello ☃")
        assert ws.recv(timeout=WAIT) == "hello ☃"
        ws.send(b"\x00\xff\x80")
        assert ws.recv(timeout=WAIT) == b"\x00\xff\x80"
        ws.send(bytearray(b"ba"))
        assert ws.recv(timeout=WAIT) == b"ba"
        ws.send(memoryview(b"mv"))
        assert ws.recv(timeout=WAIT) == b"mv"
        ws.send("")
        assert ws.recv(timeout=WAIT) == ""
    assert ws.state is State.CLOSED
    assert ws.close_code == 1000


@pytest.mark.parametrize("compression", ["deflate", None])
def test_echo_large(echo_server: Any, compression: str | None) -> None:
    payload = os.urandom(900_000)
    with connect(uri(echo_server), proxy=None, compression=compression) as ws:
        ws.send(payload)
        assert ws.recv(timeout=WAIT) == payload
        text = "x" * 1_000_000  # compresses well when deflate is on
        ws.send(text)
        assert ws.recv(timeout=WAIT) == text


def test_send_fragmented(echo_server: Any) -> None:
    with connect(uri(echo_server), proxy=None) as ws:
        ws.send(["fra", "gmen", "ted ☃"])
        assert ws.recv(timeout=WAIT) == "fragmented ☃"
        ws.send(iter([b"a", bytearray(b"b"), memoryview(b"c")]))
        assert ws.recv(timeout=WAIT) == b"abc"
        ws.send([])  # nothing to send
        ws.send("after")
        assert ws.recv(timeout=WAIT) == "after"


def test_receive_fragmented() -> None:
    def handler(ws: ServerConnection) -> None:
        ws.send(f"part{i}" for i in range(5))
        ws.send([b"\x01", b"\x02"])
        ws.recv()

    with running_server(handler) as server, connect(uri(server), proxy=None) as ws:
        assert ws.recv(timeout=WAIT) == "part0part1part2part3part4"
        assert ws.recv(timeout=WAIT) == b"\x01\x02"


def test_send_rejects_other_types(echo_server: Any) -> None:
    with connect(uri(echo_server), proxy=None) as ws:
        with pytest.raises(TypeError, match="dict"):
            ws.send({"a": 1})  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            ws.send(42)  # type: ignore[arg-type]
        ws.send("still open")
        assert ws.recv(timeout=WAIT) == "still open"


def test_mixed_fragments_fail_the_connection(echo_server: Any) -> None:
    with connect(uri(echo_server), proxy=None) as ws:
        with pytest.raises(TypeError, match="all fragments"):
            ws.send(["text", b"bytes"])  # type: ignore[list-item]
        with pytest.raises(ConnectionClosedError) as info:
            ws.recv(timeout=WAIT)
        assert info.value.sent_code == 1011


def test_failing_fragment_source_fails_the_connection(echo_server: Any) -> None:
    def chunks() -> Any:
        yield "one"
        raise RuntimeError("source broke")

    with connect(uri(echo_server), proxy=None) as ws:
        with pytest.raises(RuntimeError, match="source broke"):
            ws.send(chunks())
        with pytest.raises(ConnectionClosedError) as info:
            ws.recv(timeout=WAIT)
        assert info.value.sent_code == 1011


def test_iteration_ends_on_clean_close() -> None:
    def handler(ws: ServerConnection) -> None:
        for i in range(3):
            ws.send(str(i))

    with running_server(handler) as server, connect(uri(server), proxy=None) as ws:
        assert list(ws) == ["0", "1", "2"]
        assert ws.close_code == 1000


# ---------------------------------------------------------------- recv


def test_recv_timeout(echo_server: Any) -> None:
    with connect(uri(echo_server), proxy=None) as ws:
        with pytest.raises(TimeoutError):
            ws.recv(timeout=0.05)
        with pytest.raises(TimeoutError):
            ws.recv(timeout=0)
        ws.send("late")  # the connection is still fine
        assert ws.recv(timeout=WAIT) == "late"


def test_concurrent_recv_is_an_error(echo_server: Any) -> None:
    with connect(uri(echo_server), proxy=None) as ws:
        started = threading.Event()
        result: list[Any] = []

        def reader() -> None:
            started.set()
            result.append(ws.recv(timeout=WAIT))

        thread = threading.Thread(target=reader)
        thread.start()
        started.wait()
        # Wait until the other thread is inside recv().
        while not ws._recv_active:
            threading.Event().wait(0.001)
        with pytest.raises(ConcurrencyError):
            ws.recv(timeout=WAIT)
        ws.send("for the reader")
        thread.join(WAIT)
        assert result == ["for the reader"]


def test_send_while_another_thread_receives(echo_server: Any) -> None:
    count = 200
    with connect(uri(echo_server), proxy=None) as ws:
        received: list[Any] = []

        def reader() -> None:
            for _ in range(count):
                received.append(ws.recv(timeout=WAIT))

        thread = threading.Thread(target=reader)
        thread.start()
        senders = [
            threading.Thread(target=lambda k=k: [ws.send(f"{k}:{i}") for i in range(count // 4)])
            for k in range(4)
        ]
        for s in senders:
            s.start()
        for s in senders:
            s.join(WAIT)
        thread.join(WAIT)
    assert sorted(received) == sorted(f"{k}:{i}" for k in range(4) for i in range(count // 4))
    for k in range(4):  # each thread's messages stay in its order
        mine = [m for m in received if m.startswith(f"{k}:")]
        assert mine == [f"{k}:{i}" for i in range(count // 4)]


def test_backpressure_stops_reading_and_resumes() -> None:
    count, size = 160, 256 * 1024  # 40 MiB: more than the kernel buffers can hold
    done = threading.Event()

    def handler(ws: ServerConnection) -> None:
        for i in range(count):
            ws.send(bytes([i]) * size)
        done.set()
        ws.recv()

    with running_server(handler, compression=None) as server, connect(
        uri(server), proxy=None, compression=None, max_queue=2
    ) as ws:
        while not ws._paused:
            threading.Event().wait(0.005)
        # The reader stopped: the server can't finish while nobody reads.
        assert not done.wait(0.3)
        for i in range(count):
            assert ws.recv(timeout=WAIT) == bytes([i]) * size
        assert done.wait(WAIT)


# ---------------------------------------------------------------- closing


def test_client_close_code_and_reason() -> None:
    seen: list[Any] = []

    def handler(ws: ServerConnection) -> None:
        with pytest.raises(ConnectionClosedError):
            ws.recv()
        seen.append((ws.close_code, ws.close_reason))

    with running_server(handler) as server:
        ws = connect(uri(server), proxy=None)
        ws.close(4000, "bye now")
        assert ws.state is State.CLOSED
        assert (ws.close_code, ws.close_reason) == (4000, "bye now")  # echoed
        ws.close()  # closing twice is fine
        with pytest.raises(ConnectionClosedError) as info:
            ws.send("too late")
        assert info.value.sent_code == 4000
    assert seen == [(4000, "bye now")]


def test_server_close_code_and_reason() -> None:
    def handler(ws: ServerConnection) -> None:
        ws.close(4001, "go away")

    with running_server(handler) as server, connect(uri(server), proxy=None) as ws:
        with pytest.raises(ConnectionClosedError) as info:
            ws.recv(timeout=WAIT)
        assert (info.value.rcvd_code, info.value.rcvd_reason) == (4001, "go away")
        assert info.value.rcvd_then_sent is True
        assert (ws.close_code, ws.close_reason) == (4001, "go away")
        with pytest.raises(ConnectionClosedError):
            ws.recv(timeout=WAIT)  # and again


def test_messages_before_close_are_delivered() -> None:
    def handler(ws: ServerConnection) -> None:
        ws.send("one")
        ws.send("two")

    with running_server(handler) as server, connect(uri(server), proxy=None) as ws:
        ws._closed.wait(WAIT)
        assert ws.recv() == "one"
        assert ws.recv() == "two"
        with pytest.raises(ConnectionClosedOK):
            ws.recv()


def test_invalid_close_code_is_refused(echo_server: Any) -> None:
    with connect(uri(echo_server), proxy=None) as ws:
        with pytest.raises(ValueError):
            ws.close(1006)
        ws.send("open")
        assert ws.recv(timeout=WAIT) == "open"


def test_close_timeout_when_the_server_never_answers() -> None:
    with raw_server() as (port, get_peer):
        ws = connect(uri(port), proxy=None, close_timeout=0.2, ping_interval=None)
        peer = get_peer()
        assert isinstance(peer, RawPeer)
        ws.close()  # the raw server never answers: dropped after close_timeout
        assert ws.state is State.CLOSED
        assert ws.close_code == 1006
        events = peer.events_until_eof()
        assert kinds(events) == ["CloseReceived"]
        peer.close()


def test_server_disappears() -> None:
    with raw_server() as (port, get_peer):
        ws = connect(uri(port), proxy=None, ping_interval=None)
        peer = get_peer()
        peer.close()
        with pytest.raises(ConnectionClosedError) as info:
            ws.recv(timeout=WAIT)
        assert info.value.rcvd_code is None
        assert ws.close_code == 1006


def blocked_sender(ws: Any) -> tuple[threading.Thread, list[BaseException]]:
    """A thread that sends more than the kernel buffers hold to a peer that doesn't read."""
    errors: list[BaseException] = []

    def send() -> None:
        try:
            ws.send(bytes(16 * 2**20))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=send)
    thread.start()
    while not ws._write_lock.locked():
        threading.Event().wait(0.001)
    return thread, errors


def test_close_while_a_send_is_blocked() -> None:
    with raw_server() as (port, get_peer):
        ws = connect(uri(port), proxy=None, ping_interval=None, close_timeout=0.1,
                     compression=None)
        peer = get_peer()
        thread, errors = blocked_sender(ws)
        ws.close()  # can't even write the close frame: dropped after close_timeout
        assert ws.state is State.CLOSED
        thread.join(WAIT)
        assert len(errors) == 1 and isinstance(errors[0], ConnectionClosedError)
        peer.close()


def test_keepalive_while_a_send_is_blocked() -> None:
    with raw_server() as (port, get_peer):
        ws = connect(uri(port), proxy=None, ping_interval=0.05, ping_timeout=0.1,
                     compression=None)
        peer = get_peer()
        thread, errors = blocked_sender(ws)
        thread.join(WAIT)  # the keepalive timeout drops the connection
        assert len(errors) == 1 and isinstance(errors[0], ConnectionClosedError)
        with pytest.raises(ConnectionClosedError):
            ws.recv(timeout=WAIT)
        assert ws.state is State.CLOSED
        peer.close()


# ---------------------------------------------------------------- pings and keepalive


def test_ping_returns_rtt(echo_server: Any) -> None:
    with connect(uri(echo_server), proxy=None) as ws:
        rtt = ws.ping(timeout=WAIT)
        assert rtt >= 0
        assert ws.latency == rtt
        assert ws.ping("payload", timeout=WAIT) >= 0
        assert ws.ping(b"\x01\x02", timeout=WAIT) >= 0
        ws.pong(b"unsolicited")
        ws.send("still fine")
        assert ws.recv(timeout=WAIT) == "still fine"


def test_ping_timeout_and_close() -> None:
    with raw_server() as (port, get_peer):
        ws = connect(uri(port), proxy=None, ping_interval=None, close_timeout=0.2)
        peer = get_peer()
        with pytest.raises(TimeoutError):
            ws.ping(b"x", timeout=0.05)
        ws.close()
        with pytest.raises(ConnectionClosedError):
            ws.ping()
        peer.close()


def test_ping_fails_when_the_connection_closes() -> None:
    with raw_server() as (port, get_peer):
        ws = connect(uri(port), proxy=None, ping_interval=None)
        peer = get_peer()
        result: list[BaseException] = []

        def pinger() -> None:
            try:
                ws.ping(timeout=WAIT)
            except BaseException as exc:
                result.append(exc)

        thread = threading.Thread(target=pinger)
        thread.start()
        assert isinstance(peer.next_event(), Ping)
        peer.close()
        thread.join(WAIT)
        assert len(result) == 1 and isinstance(result[0], ConnectionClosedError)


def test_keepalive_answered(echo_server: Any) -> None:
    with connect(uri(echo_server), proxy=None, ping_interval=0.02, ping_timeout=WAIT) as ws:
        while ws.latency == 0.0:
            threading.Event().wait(0.01)
        ws.send("alive")
        assert ws.recv(timeout=WAIT) == "alive"


def test_keepalive_timeout_against_a_silent_server() -> None:
    with raw_server() as (port, get_peer):
        ws = connect(uri(port), proxy=None, ping_interval=0.05, ping_timeout=0.1)
        peer = get_peer()
        assert isinstance(peer, RawPeer)
        with pytest.raises(ConnectionClosedError) as info:
            ws.recv(timeout=WAIT)
        assert info.value.sent_code == 1011
        assert info.value.sent_reason == "keepalive ping timeout"
        assert ws.close_code == 1006
        events = peer.events_until_eof()
        assert kinds(events) == ["Ping", "CloseReceived"]
        close = events[-1]
        assert isinstance(close, CloseReceived) and close.code == 1011
        peer.close()


# ---------------------------------------------------------------- handshake


def test_open_timeout() -> None:
    with raw_server(answer=False) as (port, get_peer):
        with pytest.raises(TimeoutError):
            connect(uri(port), proxy=None, open_timeout=0.1)
        get_peer().close()


def test_connection_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ConnectionRefusedError):
        connect(uri(port), proxy=None)


def test_server_closes_during_handshake() -> None:
    with raw_server(answer=False) as (port, get_peer):
        def read_request_and_close() -> None:
            sock = get_peer()
            data = b""
            while b"\r\n\r\n" not in data:
                data += sock.recv(65536)
            sock.close()

        thread = threading.Thread(target=read_request_and_close)
        thread.start()
        with pytest.raises(InvalidMessage, match="closed the connection during the handshake"):
            connect(uri(port), proxy=None)
        thread.join(WAIT)


def test_rejected_with_status() -> None:
    def process_request(conn: ServerConnection, request: Any) -> Any:
        return conn.respond(403, "nope")

    with running_server(echo, process_request=process_request) as server:
        with pytest.raises(InvalidStatus) as info:
            connect(uri(server), proxy=None)
        assert info.value.status == 403
        assert info.value.body == b"nope"


def test_handshake_request_and_response(echo_server: Any) -> None:
    with connect(
        uri(echo_server, "/path?q=1"), proxy=None, origin="http://example.com",
        additional_headers={"X-Test": "yes"}, user_agent_header="agent/1",
    ) as ws:
        assert ws.request is not None and ws.response is not None
        assert ws.path == "/path?q=1"
        assert ws.request.headers["Origin"] == "http://example.com"
        assert ws.request.headers["X-Test"] == "yes"
        assert ws.request.headers["User-Agent"] == "agent/1"
        assert ws.response.status == 101
        assert ws.response_headers is not None
        assert ws.request_headers is not None
        assert ws.local_address[0] == "127.0.0.1"
        assert ws.remote_address == ("127.0.0.1", echo_server.port)
        assert "OPEN" in repr(ws)


def test_subprotocol_negotiation() -> None:
    with running_server(echo, subprotocols=["superchat", "chat"]) as server:
        with connect(uri(server), proxy=None, subprotocols=["chat", "superchat"]) as ws:
            assert ws.subprotocol == "superchat"
        with connect(uri(server), proxy=None, subprotocols=["other"]) as ws:
            assert ws.subprotocol is None
        with connect(uri(server), proxy=None) as ws:
            assert ws.subprotocol is None


def test_bad_uri_and_options() -> None:
    with pytest.raises(InvalidURI):
        connect("http://example.com/")
    with pytest.raises(UsageError):
        connect("ws://127.0.0.1:1/", ssl=ssl.create_default_context())
    with pytest.raises(ValueError, match="compression"):
        connect("ws://127.0.0.1:1/", compression="gzip")


def test_unexpected_subprotocol_from_server() -> None:
    def process_response(conn: ServerConnection, request: Any, response: Any) -> Any:
        response.headers.set("Sec-WebSocket-Protocol", "unasked")
        return response

    with running_server(echo, process_response=process_response) as server, pytest.raises(
        NegotiationError
    ):
        connect(uri(server), proxy=None)


def test_max_size_on_the_client() -> None:
    def handler(ws: ServerConnection) -> None:
        ws.send("y" * 2000)
        with pytest.raises(ConnectionClosedError):
            ws.recv()
        closed.append(ws.close_code)

    closed: list[Any] = []
    with running_server(handler, compression=None) as server, connect(
        uri(server), proxy=None, max_size=1000
    ) as ws:
        with pytest.raises(ConnectionClosedError) as info:
            ws.recv(timeout=WAIT)
        assert info.value.sent_code == 1009
    assert closed == [1009]


# ---------------------------------------------------------------- TLS


@pytest.fixture
def tls_echo_server(tls_certs: CertBundle) -> Any:  # noqa: F811
    with running_server(echo, ssl=tls_certs.server_context()) as server:
        yield server


def test_wss(tls_echo_server: Any, tls_certs: CertBundle) -> None:  # noqa: F811
    with connect(uri(tls_echo_server, scheme="wss"), proxy=None,
                 ssl=tls_certs.client_context()) as ws:
        assert isinstance(ws.socket, ssl.SSLSocket)
        ws.send("secret")
        assert ws.recv(timeout=WAIT) == "secret"
        ws.send(os.urandom(300_000))
        assert len(ws.recv(timeout=WAIT)) == 300_000


def test_wss_untrusted_certificate(tls_echo_server: Any) -> None:
    with pytest.raises(ssl.SSLCertVerificationError, match="not trusted"):
        connect(uri(tls_echo_server, scheme="wss"), proxy=None)


def test_wss_to_a_plain_server(echo_server: Any, tls_certs: CertBundle) -> None:  # noqa: F811
    with pytest.raises(ssl.SSLError):
        connect(uri(echo_server, scheme="wss"), proxy=None, ssl=tls_certs.client_context())


# ---------------------------------------------------------------- proxies


def test_http_connect_proxy(echo_server: Any, http_proxy: ProxyServer) -> None:  # noqa: F811
    with connect(uri(echo_server), proxy=http_proxy.url) as ws:
        ws.send("via tinyproxy")
        assert ws.recv(timeout=WAIT) == "via tinyproxy"


def test_http_connect_proxy_from_the_environment(
    echo_server: Any, http_proxy: ProxyServer, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    for name in ("ws_proxy", "http_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("ws_proxy", http_proxy.url)
    with connect(uri(echo_server)) as ws:
        ws.send("via env")
        assert ws.recv(timeout=WAIT) == "via env"
    # A broken proxy URL proves the environment is read ... and no_proxy bypasses it.
    monkeypatch.setenv("ws_proxy", "http://127.0.0.1:1")
    with pytest.raises(ProxyError):
        connect(uri(echo_server))
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    with connect(uri(echo_server)) as ws:
        ws.send("direct")
        assert ws.recv(timeout=WAIT) == "direct"


def test_http_proxy_authentication(
    echo_server: Any, http_proxy_auth: ProxyServer  # noqa: F811
) -> None:
    with pytest.raises(ProxyError) as info:
        connect(uri(echo_server), proxy=http_proxy_auth.url)
    assert info.value.status == 407
    with connect(uri(echo_server), proxy=http_proxy_auth.auth_url) as ws:
        ws.send("authenticated")
        assert ws.recv(timeout=WAIT) == "authenticated"


@pytest.mark.parametrize("scheme", ["socks5", "socks5h"])
def test_socks5_proxy(echo_server: Any, socks5_proxy: ProxyServer, scheme: str) -> None:  # noqa: F811
    proxy = f"{scheme}://127.0.0.1:{socks5_proxy.port}"
    # A name, so that someone resolves it (us for socks5, the proxy for socks5h); but
    # the server listens on 127.0.0.1 only, so only where localhost means that first.
    first = socket.getaddrinfo("localhost", 80, type=socket.SOCK_STREAM)[0][4][0]
    host = "localhost" if first == "127.0.0.1" else "127.0.0.1"
    with connect(uri(echo_server).replace("127.0.0.1", host), proxy=proxy) as ws:
        ws.send(scheme)
        assert ws.recv(timeout=WAIT) == scheme


def test_socks5_proxy_authentication(
    echo_server: Any, socks5_proxy_auth: ProxyServer  # noqa: F811
) -> None:
    with pytest.raises(ProxyError, match="authentication"):
        connect(uri(echo_server), proxy=socks5_proxy_auth.url)
    with connect(uri(echo_server), proxy=socks5_proxy_auth.auth_url) as ws:
        ws.send("socks auth")
        assert ws.recv(timeout=WAIT) == "socks auth"


def test_wss_through_http_proxy(
    tls_echo_server: Any, http_proxy: ProxyServer, tls_certs: CertBundle  # noqa: F811
) -> None:
    with connect(uri(tls_echo_server, scheme="wss"), proxy=http_proxy.url,
                 ssl=tls_certs.client_context()) as ws:
        ws.send("tls in a tunnel")
        assert ws.recv(timeout=WAIT) == "tls in a tunnel"


def test_wss_through_https_proxy(
    tls_echo_server: Any, https_proxy: ProxyServer, tls_certs: CertBundle  # noqa: F811
) -> None:
    with connect(uri(tls_echo_server, scheme="wss"), proxy=https_proxy.url,
                 ssl=tls_certs.client_context(), proxy_ssl=tls_certs.client_context()) as ws:
        assert ws.socket.getpeercert() is not None  # type: ignore[union-attr]
        ws.send("tls in tls")
        assert ws.recv(timeout=WAIT) == "tls in tls"
        big = os.urandom(500_000)
        ws.send(big)
        assert ws.recv(timeout=WAIT) == big
        assert ws.ping(timeout=WAIT) >= 0


def test_ws_through_https_proxy(
    echo_server: Any, https_proxy: ProxyServer, tls_certs: CertBundle  # noqa: F811
) -> None:
    with connect(uri(echo_server), proxy=https_proxy.url,
                 proxy_ssl=tls_certs.client_context()) as ws:
        ws.send("plain in tls")
        assert ws.recv(timeout=WAIT) == "plain in tls"


def test_unreachable_proxy(echo_server: Any) -> None:
    with pytest.raises(ProxyError, match="could not reach the proxy"):
        connect(uri(echo_server), proxy="http://127.0.0.1:1")
