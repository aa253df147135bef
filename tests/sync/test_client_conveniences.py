"""The blocking client's conveniences: reconnection, redirects, authentication, Unix sockets.

Real tether.sync servers on 127.0.0.1 (started, stopped and restarted on one port),
redirects answered by their ``process_request`` hooks, credentials checked by
``tether.auth``.  Assertions count attempts and connections, never time.
"""

from __future__ import annotations

import base64
import os
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.certs import CertBundle, tls_certs  # noqa: F401 - fixture
from tether import ConnectionClosed, InvalidRedirect, InvalidStatus, State, UsageError
from tether.auth import basic_auth
from tether.core.handshake import reject
from tether.core.http11 import Request, Response
from tether.core.retry import process_exception
from tether.sync import ServerConnection, connect, serve, unix_connect

from . import WAIT, running_server, uri

FAST: dict[str, Any] = dict(backoff_initial=0.02, backoff_max=0.1, ping_interval=None,
                            proxy=None, open_timeout=WAIT)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Commands:
    """An echo handler that obeys "close <code>"; it records each connection's request."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.users: list[str | None] = []
        self.lock = threading.Lock()

    def __call__(self, ws: ServerConnection) -> None:
        with self.lock:
            assert ws.request is not None
            self.requests.append(ws.request)
            self.users.append(getattr(ws, "username", None))
        for message in ws:
            assert isinstance(message, str)
            if message.startswith("close "):
                ws.close(int(message.split()[1]), "bye")
                return
            ws.send(message)


def drain(ws: Any) -> None:
    try:
        for _ in ws:
            pass
    except ConnectionClosed:
        pass


class Listening:
    """A sync server on a fixed port that can be stopped and started again."""

    def __init__(self, handler: Callable[[ServerConnection], Any], port: int,
                 **options: Any) -> None:
        self.handler, self.port, self.options = handler, port, options
        self.server: Any = None
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        self.server = serve(self.handler, "127.0.0.1", self.port, ping_interval=None,
                            **self.options)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        assert self.thread is not None
        self.server.shutdown()
        self.thread.join(WAIT)


# ---------------------------------------------------------------- reconnection


def test_reconnects_after_a_server_restart() -> None:
    port = free_port()
    handler = Commands()
    server = Listening(handler, port)
    server.start()
    seen: list[Any] = []
    hooked: list[Any] = []

    def on_reconnect(ws: Any) -> None:
        hooked.append(ws)
        ws.send("resubscribe")
        assert ws.recv(timeout=WAIT) == "resubscribe"

    try:
        for ws in connect(uri(port), reconnect=True, on_reconnect=on_reconnect, **FAST):
            seen.append(ws)
            ws.send("hello")
            assert ws.recv(timeout=WAIT) == "hello"
            if len(seen) == 1:
                server.stop()  # closes with 1001, going away
                drain(ws)
                assert ws.close_code in (1001, 1006)  # going away, or dropped
                server.start()
            else:
                ws.send("close 1000")
                drain(ws)
    finally:
        server.stop()
    assert len(seen) == 2 and hooked == [seen[1]]


@pytest.mark.parametrize("code, reconnects", [
    (1000, False), (1008, False), (1001, True), (1011, True), (1012, True), (1013, True),
])
def test_close_code_decides(code: int, reconnects: bool) -> None:
    handler = Commands()
    with running_server(handler) as server:
        count = 0
        for ws in connect(uri(server), reconnect=True, **FAST):
            count += 1
            ws.send(f"close {code}" if count == 1 else "close 1000")
            drain(ws)
    assert count == (2 if reconnects else 1)


def test_retry_on_close_and_a_close_from_this_side() -> None:
    with running_server(Commands()) as server:
        count = 0
        for ws in connect(uri(server), reconnect=True, retry_on_close={1000}, **FAST):
            count += 1
            if count < 3:
                ws.send("close 1000")
                drain(ws)
            else:
                ws.close(1001)  # this side meant it: the iteration ends
        assert count == 3
        kept = list(connect(uri(server), reconnect=True, **FAST))  # body returns at once
        assert len(kept) == 1 and kept[0].state is State.CLOSED


def test_a_server_that_accepts_and_closes_at_once_is_not_hammered() -> None:
    accepted = 0

    def slam(ws: ServerConnection) -> None:
        nonlocal accepted
        accepted += 1
        ws.close(1011, "go away")

    with running_server(slam) as server:
        start = time.monotonic()
        count = 0
        for ws in connect(uri(server), reconnect=True, backoff_initial=0.05,
                          backoff_factor=2.0, backoff_max=10.0, ping_interval=None,
                          proxy=None):
            count += 1
            drain(ws)
            if time.monotonic() - start > 1.0:
                break
    assert 3 <= count <= 8  # a tight loop would make hundreds
    assert accepted == count


def test_refused_attempts_are_retried_until_the_server_comes() -> None:
    port = free_port()
    handler = Commands()
    server = Listening(handler, port)
    failures: list[Exception] = []

    def record(exc: Exception) -> Exception | None:
        failures.append(exc)
        if len(failures) == 2:
            server.start()
        return process_exception(exc)

    try:
        for ws in connect(uri(port), reconnect=True, process_exception=record, **FAST):
            ws.send("close 1000")
            drain(ws)
    finally:
        server.stop()
    assert len(failures) == 2
    assert all(isinstance(f, ConnectionRefusedError) for f in failures)
    assert len(handler.requests) == 1


def test_a_lasting_error_is_raised() -> None:
    with (running_server(Commands(), process_request=lambda c, r: reject(403, "no")) as server,
          pytest.raises(InvalidStatus) as info):
        for _ in connect(uri(server), reconnect=True, **FAST):
            raise AssertionError("never opened")
    assert info.value.status == 403


def test_reconnect_needs_to_open_connections_itself() -> None:
    with socket.socket() as s, pytest.raises(UsageError):
        connect("ws://127.0.0.1/", sock=s, reconnect=True)


# ---------------------------------------------------------------- redirects


def redirecting(table: dict[str, tuple[int, str]]) -> Callable[[Any, Request], Response | None]:
    def hook(conn: Any, request: Request) -> Response | None:
        if request.target in table:
            status, location = table[request.target]
            return reject(status, "moved", headers={"Location": location})
        return None

    return hook


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_same_origin_keep_credentials(status: int) -> None:
    handler = Commands()
    hook = redirecting({"/a/b": (status, "c"), "/a/c": (status, "/final")})
    with (running_server(handler, process_request=hook) as server,
          connect(f"ws://u:pw@127.0.0.1:{server.port}/a/b", **FAST) as ws):
        ws.send("x")
        assert ws.recv(timeout=WAIT) == "x"
    (request,) = handler.requests
    assert request.target == "/final"
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"u:pw").decode()


def test_credentials_are_dropped_when_the_origin_changes() -> None:
    handler = Commands()
    with running_server(handler) as target:
        hook = redirecting({"/": (302, f"http://localhost:{target.port}/there")})
        with (running_server(Commands(), process_request=hook) as origin,
              connect(uri(origin), auth=("alice", "pw"),
                      additional_headers={"Cookie": "a=b", "X-Keep": "1"}, **FAST) as ws):
            ws.send("x")
            assert ws.recv(timeout=WAIT) == "x"
    (request,) = handler.requests
    assert request.target == "/there"
    assert "Authorization" not in request.headers and "Cookie" not in request.headers
    assert request.headers["X-Keep"] == "1"


def test_too_many_redirects_and_none_followed() -> None:
    hook = redirecting({"/loop": (307, "/loop")})
    with running_server(Commands(), process_request=hook) as server:
        with pytest.raises(InvalidRedirect, match="too many redirects"):
            connect(uri(server, "/loop"), max_redirects=2, **FAST)
        with pytest.raises(InvalidStatus) as info:
            connect(uri(server, "/loop"), max_redirects=0, **FAST)
        assert info.value.status == 307


def test_a_wss_to_ws_downgrade_is_refused(tls_certs: CertBundle) -> None:  # noqa: F811
    hook = redirecting({"/": (301, "ws://127.0.0.1:1/")})
    with (running_server(Commands(), process_request=hook,
                         ssl=tls_certs.server_context()) as server,
          pytest.raises(InvalidRedirect, match="downgrade")):
        connect(uri(server, scheme="wss"), ssl=tls_certs.client_context(), **FAST)


# ---------------------------------------------------------------- authentication


def test_basic_auth_401_carries_the_challenge_then_credentials_work() -> None:
    handler = Commands()
    with running_server(handler, process_request=basic_auth({"alice": "pw"},
                                                            realm="sync")) as server:
        with pytest.raises(InvalidStatus) as info:
            connect(uri(server), **FAST)
        assert info.value.status == 401 and info.value.realm == "sync"
        assert (info.value.challenge or "").startswith("Basic ")
        with connect(uri(server), auth=("alice", "pw"), **FAST) as ws:
            ws.send("x")
            assert ws.recv(timeout=WAIT) == "x"
        with connect(f"ws://alice:pw@127.0.0.1:{server.port}/", **FAST) as ws:
            ws.send("y")
            assert ws.recv(timeout=WAIT) == "y"
    assert handler.users == ["alice", "alice"]


# ---------------------------------------------------------------- Unix sockets


@pytest.fixture
def sock_path() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="tt") as directory:
        yield os.path.join(directory, "ws.sock")


def test_unix_sockets_both_ways(sock_path: str) -> None:
    handler = Commands()
    server = serve(handler, unix_socket=sock_path, ping_interval=None)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with unix_connect(sock_path, "ws://example.com/room", ping_interval=None) as ws:
            ws.send("over unix")
            assert ws.recv(timeout=WAIT) == "over unix"
            assert not ws.remote_address or isinstance(ws.remote_address, str)
        with connect("ws://localhost/", unix_socket=sock_path, ping_interval=None) as ws:
            ws.send("again")
            assert ws.recv(timeout=WAIT) == "again"
    finally:
        server.shutdown()
        thread.join(WAIT)
    assert [r.target for r in handler.requests] == ["/room", "/"]
    assert handler.requests[0].headers["Host"] == "example.com"
    # A stale socket file left behind is replaced by the next server.
    assert os.path.exists(sock_path)
    server = serve(handler, unix_socket=sock_path, ping_interval=None)
    server.shutdown()


def test_unix_reconnection(sock_path: str) -> None:
    def closer(ws: ServerConnection) -> None:
        ws.close(int(ws.recv()), "bye")

    server = serve(closer, unix_socket=sock_path, ping_interval=None)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        count = 0
        for ws in connect("ws://localhost/", unix_socket=sock_path, reconnect=True, **FAST):
            count += 1
            ws.send("1012" if count == 1 else "1000")
            drain(ws)
    finally:
        server.shutdown()
        thread.join(WAIT)
    assert count == 2
