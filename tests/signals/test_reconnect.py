"""WebSocket.reconnect (Qt-style): reopening after a loss, with backoff, against real servers.

The server is a tether.sync server on a fixed port of 127.0.0.1, stopped and started
again by the test thread; the socket lives on an EventLoop thread and the test waits for
the signals it records.  Assertions count signals and attempts, never time.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import tether.sync
from tether.core.handshake import reject
from tether.core.http11 import Request, Response
from tether.core.retry import Backoff
from tether.signals import Authenticator, EventLoop, SocketError, SocketState, WebSocket
from tether.sync import ServerConnection

from .conftest import GUARD, HOST, Recorder

ALL = ("connected", "disconnected", "error_occurred", "reconnecting", "text_message_received")


def commands(ws: ServerConnection) -> None:
    """Echo; "close <code>" closes with that code."""
    for message in ws:
        if isinstance(message, str) and message.startswith("close "):
            ws.close(int(message.split()[1]), "bye")
            return
        ws.send(message)


class Listening:
    """A tether.sync server on a fixed port that can be stopped and started again."""

    def __init__(self, handler: Callable[[ServerConnection], Any] = commands,
                 **options: Any) -> None:
        with socket.socket() as s:
            s.bind((HOST, 0))
            self.port = int(s.getsockname()[1])
        self.handler, self.options = handler, options
        self.server: Any = None
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"ws://{HOST}:{self.port}/"

    def start(self) -> None:
        self.server = tether.sync.serve(self.handler, HOST, self.port, ping_interval=None,
                                        **self.options)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        if self.thread is not None:
            self.server.shutdown()
            self.thread.join(GUARD)
            self.thread = None


@pytest.fixture
def listening() -> Any:
    server = Listening()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def barrier(app: EventLoop) -> None:
    """Wait until the loop thread finished what it was doing (signals emitted in a row)."""
    async def nothing() -> None:
        await asyncio.sleep(0)

    app.run_coroutine(nothing()).result(GUARD)


def reconnecting_socket(app: EventLoop, rec: Recorder, **props: Any) -> WebSocket:
    if not any(name.startswith("backoff") for name in props):
        props["backoff"] = Backoff(initial=0.02, max=0.1)
    ws = WebSocket(loop=app, reconnect=True, **props)
    rec.watch(ws, *ALL)
    return ws


def test_reopens_after_a_server_restart(app: EventLoop, rec: Recorder,
                                        listening: Listening) -> None:
    ws = reconnecting_socket(app, rec)
    ws.open(listening.url)
    rec.wait("connected")
    listening.stop()  # closes with 1001 going away
    rec.wait("disconnected")
    assert ws.close_code in (1001, 1006)  # going away, or dropped: both are retried
    rec.wait("reconnecting")
    listening.start()
    rec.wait("connected", 2)
    assert ws.state is SocketState.CONNECTED
    attempts = [a[0] for a in rec.args("reconnecting")]
    assert attempts == list(range(1, len(attempts) + 1))  # counted up, from 1
    assert all(a[1] > 0 for a in rec.args("reconnecting"))  # every attempt waited
    names = rec.names()
    assert names.index("disconnected") < names.index("reconnecting")
    assert names.index("reconnecting") < len(names) - 1 - names[::-1].index("connected")
    # a refused attempt while the server was down is an error, then another wait
    refused = [a for a in rec.args("error_occurred")
               if a[0] is SocketError.CONNECTION_REFUSED_ERROR]
    assert len(refused) == len(attempts) - 1
    ws.send_text_message("back")
    assert rec.wait("text_message_received") == ("back",)
    ws.close()
    rec.wait("disconnected", 2)
    barrier(app)
    assert rec.count("reconnecting") == len(attempts)  # the user closed: no more


@pytest.mark.parametrize("code, reconnects", [
    (1000, False), (1008, False), (1011, True), (1012, True), (1013, True),
])
def test_close_code_decides(app: EventLoop, rec: Recorder, listening: Listening,
                            code: int, reconnects: bool) -> None:
    ws = reconnecting_socket(app, rec)
    ws.open(listening.url)
    rec.wait("connected")
    ws.send_text_message(f"close {code}")
    rec.wait("disconnected")
    barrier(app)
    assert ws.close_code == code
    assert rec.count("reconnecting") == (1 if reconnects else 0)
    if reconnects:
        rec.wait("connected", 2)
        ws.close()
        rec.wait("disconnected", 2)


def test_retry_on_close_is_a_property(app: EventLoop, rec: Recorder,
                                      listening: Listening) -> None:
    ws = reconnecting_socket(app, rec, retry_on_close={1000})
    ws.open(listening.url)
    rec.wait("connected")
    ws.send_text_message("close 1000")
    rec.wait("connected", 2)
    ws.close()
    rec.wait("disconnected", 2)


def test_close_stops_a_pending_reconnection(app: EventLoop, rec: Recorder) -> None:
    server = Listening()  # never started: every attempt is refused
    ws = reconnecting_socket(app, rec, backoff=Backoff(initial=0.05, max=0.05))
    ws.open(server.url)
    rec.wait("reconnecting", 2)  # a refusal is retried while reconnect is on
    ws.close()
    barrier(app)
    assert ws._reconnect_timer is None  # nothing armed any more
    seen = rec.count("reconnecting")
    errors = rec.count("error_occurred")
    server.start()  # were a timer still armed, it would now connect
    try:
        ws2 = reconnecting_socket(app, rec)
        ws2.open(server.url)  # proves the server is up, in about the same time
        rec.wait("connected")
        barrier(app)
        assert rec.count("connected") == 1
        assert rec.count("reconnecting") == seen and rec.count("error_occurred") == errors
        assert ws.state is SocketState.UNCONNECTED
        ws2.close()
        rec.wait("disconnected")
    finally:
        server.stop()


def test_the_user_closing_with_a_retryable_code_does_not_reconnect(
        app: EventLoop, rec: Recorder, listening: Listening) -> None:
    ws = reconnecting_socket(app, rec)
    ws.open(listening.url)
    rec.wait("connected")
    ws.close(1001, "going away")
    rec.wait("disconnected")
    barrier(app)
    assert rec.count("reconnecting") == 0


def test_without_reconnect_nothing_happens(app: EventLoop, rec: Recorder,
                                           listening: Listening) -> None:
    ws = WebSocket(loop=app)
    rec.watch(ws, *ALL)
    assert ws.reconnect is False
    ws.open(listening.url)
    rec.wait("connected")
    ws.send_text_message("close 1012")
    rec.wait("disconnected")
    barrier(app)
    assert rec.count("reconnecting") == 0


def test_a_server_that_accepts_and_closes_at_once_is_not_hammered(
        app: EventLoop, rec: Recorder) -> None:
    def slam(ws: ServerConnection) -> None:
        ws.close(1011, "go away")

    server = Listening(slam)
    server.start()
    try:
        ws = reconnecting_socket(app, rec, backoff_initial=0.05, backoff_factor=2.0,
                                 backoff_max=10.0)
        assert ws.backoff.initial == 0.05 and ws.backoff_factor == 2.0
        ws.open(server.url)
        start = time.monotonic()
        while time.monotonic() - start < 1.0:
            rec.wait("connected", rec.count("connected") + 1)
        ws.close()
        barrier(app)
        assert 3 <= rec.count("connected") <= 8  # a tight loop would make hundreds
    finally:
        server.stop()


def test_redirects_are_followed_and_401_retries_with_the_authenticator(
        app: EventLoop, rec: Recorder) -> None:
    from tether.auth import basic_auth

    check = basic_auth({"alice": "pw"}, realm="qt")

    def hook(conn: Any, request: Request) -> Response | None:
        if request.target == "/old":
            return reject(302, "moved", headers={"Location": "/new"})
        return check(conn, request)  # type: ignore[return-value]

    server = Listening(process_request=hook)
    server.start()
    try:
        ws = WebSocket(loop=app)
        rec.watch(ws, *ALL)
        realms: list[str] = []

        @ws.authentication_required.connect
        def login(auth: Authenticator) -> None:
            realms.append(auth.realm)
            auth.user, auth.password = "alice", "pw"

        ws.open(server.url + "old")
        rec.wait("connected")
        assert realms == ["qt"]
        ws.close()
        rec.wait("disconnected")
        ws.max_redirects = 0
        ws.open(server.url + "old")
        rec.wait("error_occurred")
        assert "302" in ws.error_string
    finally:
        server.stop()
