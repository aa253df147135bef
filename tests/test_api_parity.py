"""The three APIs -- asyncio, Qt-style signals, blocking -- behave the same.

One set of behavioural scenarios (open, echo, fragments, ping, close codes both ways,
the message size limit, a refused connection) runs through a small driver per API,
each a thin adapter that blocks the test thread until its API reports what happened,
against one tether asyncio echo server (tests/signals/echo.py).  What each driver
returns is what its API tells the user; the scenarios hold all three to one answer.
"""

from __future__ import annotations

import asyncio
import queue
import socket
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

import tether
import tether.sync
from tests.signals.echo import GUARD, HOST, EchoServer
from tether.signals import EventLoop, HandshakeOptions, SocketError, WebSocket

Data = str | bytes


def close_info(exc: tether.ConnectionClosed) -> tuple[int, str]:
    """The close that describes the end of a connection: the peer's close frame when
    the peer started the closing handshake, else ours (what Qt's closeCode() says)."""
    if exc.rcvd_then_sent or (exc.sent_code is None and exc.rcvd_code is not None):
        assert exc.rcvd_code is not None
        return exc.rcvd_code, exc.rcvd_reason
    if exc.sent_code is not None:
        return exc.sent_code, exc.sent_reason
    return 1006, ""


class AsyncioClient:
    """``tether.connect`` on an asyncio loop of its own (on a thread)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.ws: Any = None

    def _run(self, awaitable: Any) -> Any:
        async def wrap() -> Any:
            return await awaitable

        return asyncio.run_coroutine_threadsafe(wrap(), self.loop).result(GUARD)

    def open(self, url: str, subprotocols: Sequence[str] = (), max_size: int = 2**20) -> None:
        self.ws = self._run(tether.connect(url, subprotocols=list(subprotocols) or None,
                                           max_size=max_size, ping_interval=None))

    @property
    def subprotocol(self) -> str | None:
        return self.ws.subprotocol  # type: ignore[no-any-return]

    def send(self, message: Data) -> None:
        self._run(self.ws.send(message))

    def send_fragments(self, parts: list[str]) -> None:
        self._run(self.ws.send(parts))

    def recv(self) -> Data:
        return self._run(self.ws.recv())  # type: ignore[no-any-return]

    def ping(self, payload: bytes) -> bytes:
        self._run(self.ws.ping(payload))  # returns once the pong with that payload came
        return payload

    def close(self, code: int, reason: str) -> tuple[int, str]:
        self._run(self.ws.close(code, reason))
        return self.wait_closed()

    def wait_closed(self) -> tuple[int, str]:
        with pytest.raises(tether.ConnectionClosed) as info:
            while True:
                self.recv()
        return close_info(info.value)

    def finish(self) -> None:
        if self.ws is not None:
            self._run(self.ws.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(GUARD)
        self.loop.close()


class SignalsClient:
    """``tether.signals.WebSocket`` on an EventLoop thread; signals feed queues."""

    def __init__(self) -> None:
        self.app = EventLoop()
        self.app.start()
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.ws = WebSocket(loop=self.app)
        for name in ("connected", "disconnected", "error_occurred", "text_message_received",
                     "binary_message_received", "pong"):
            getattr(self.ws, name).connect(
                lambda *args, name=name: self.events.put((name, args)))

    def _next(self, *names: str) -> tuple[str, Any]:
        while True:
            name, args = self.events.get(timeout=GUARD)
            if name in names:
                return name, args

    def open(self, url: str, subprotocols: Sequence[str] = (), max_size: int = 2**20) -> None:
        self.ws.max_allowed_incoming_message_size = max_size
        self.ws.open(url, HandshakeOptions(list(subprotocols)))
        name, args = self._next("connected", "error_occurred")
        if name == "error_occurred":
            assert args[0] is SocketError.CONNECTION_REFUSED_ERROR
            raise self.ws.exception or AssertionError(self.ws.error_string)

    @property
    def subprotocol(self) -> str | None:
        return self.ws.subprotocol or None

    def send(self, message: Data) -> None:
        if isinstance(message, str):
            self.ws.send_text_message(message)
        else:
            self.ws.send_binary_message(message)

    def send_fragments(self, parts: list[str]) -> None:
        # Qt's way: the socket fragments what it sends at outgoing_frame_size.
        assert len({len(p) for p in parts}) == 1, "equal parts, for one frame size"
        self.ws.outgoing_frame_size = len(parts[0])
        self.ws.send_text_message("".join(parts))
        self.ws.outgoing_frame_size = None

    def recv(self) -> Data:
        name, args = self._next("text_message_received", "binary_message_received",
                                "disconnected")
        if name == "disconnected":
            raise AssertionError("disconnected")
        return args[0]  # type: ignore[no-any-return]

    def ping(self, payload: bytes) -> bytes:
        self.ws.ping(payload)
        return self._next("pong")[1][1]  # type: ignore[no-any-return]

    def close(self, code: int, reason: str) -> tuple[int, str]:
        self.ws.close(code, reason)
        return self.wait_closed()

    def wait_closed(self) -> tuple[int, str]:
        self._next("disconnected")
        return self.ws.close_code, self.ws.close_reason

    def finish(self) -> None:
        if self.ws.is_valid():
            self.ws.close()
            self._next("disconnected")
        self.app.close()


class SyncClient:
    """``tether.sync.connect``, blocking in the test thread."""

    def __init__(self) -> None:
        self.ws: Any = None

    def open(self, url: str, subprotocols: Sequence[str] = (), max_size: int = 2**20) -> None:
        self.ws = tether.sync.connect(url, subprotocols=list(subprotocols) or None,
                                      max_size=max_size, ping_interval=None,
                                      open_timeout=GUARD)

    @property
    def subprotocol(self) -> str | None:
        return self.ws.subprotocol  # type: ignore[no-any-return]

    def send(self, message: Data) -> None:
        self.ws.send(message)

    def send_fragments(self, parts: list[str]) -> None:
        self.ws.send(parts)

    def recv(self) -> Data:
        return self.ws.recv(GUARD)  # type: ignore[no-any-return]

    def ping(self, payload: bytes) -> bytes:
        self.ws.ping(payload, timeout=GUARD)
        return payload

    def close(self, code: int, reason: str) -> tuple[int, str]:
        self.ws.close(code, reason)
        return self.wait_closed()

    def wait_closed(self) -> tuple[int, str]:
        with pytest.raises(tether.ConnectionClosed) as info:
            while True:
                self.recv()
        return close_info(info.value)

    def finish(self) -> None:
        if self.ws is not None:
            self.ws.close()


APIS = {"asyncio": AsyncioClient, "signals": SignalsClient, "sync": SyncClient}


@pytest.fixture(scope="module")
def echo() -> Iterator[EchoServer]:
    with EchoServer() as server:
        yield server


@pytest.fixture(params=list(APIS))
def client(request: pytest.FixtureRequest) -> Iterator[Any]:
    driver = APIS[request.param]()
    try:
        yield driver
    finally:
        driver.finish()


@pytest.fixture
def path(request: pytest.FixtureRequest) -> str:
    """A request path unique to the test, to find its connection on the server."""
    return "/" + request.node.name.replace("[", "/").rstrip("]")


def test_open_negotiates_a_subprotocol(client: Any, echo: EchoServer, path: str) -> None:
    client.open(echo.url + path, subprotocols=["superchat"])
    assert client.subprotocol == "superchat"


def test_open_without_subprotocol(client: Any, echo: EchoServer, path: str) -> None:
    client.open(echo.url + path)
    assert client.subprotocol is None


def test_echo_text_and_binary(client: Any, echo: EchoServer, path: str) -> None:
    client.open(echo.url + path)
    client.send("héllo wörld")
    assert client.recv() == "héllo wörld"
    client.send(b"\x00\x01\xfe\xff")
    assert client.recv() == b"\x00\x01\xfe\xff"
    client.send("")
    assert client.recv() == ""


def test_fragmented_messages_both_ways(client: Any, echo: EchoServer, path: str) -> None:
    client.open(echo.url + path)
    client.send_fragments(["abc", "def", "ghi"])
    assert client.recv() == "abcdefghi"
    client.send("frames?")
    assert int(client.recv()) >= 3  # the server got it in (at least) three frames
    client.send("frag one two three")
    assert client.recv() == "onetwothree"


def test_ping_gets_its_pong(client: Any, echo: EchoServer, path: str) -> None:
    client.open(echo.url + path)
    assert client.ping(b"parity") == b"parity"
    client.send("ping from-server")  # the server pings; the client's engine answers
    assert client.recv() == "pong from-server"


def test_client_closes_with_code_and_reason(client: Any, echo: EchoServer, path: str) -> None:
    client.open(echo.url + path)
    assert client.close(4001, "client bye") == (4001, "client bye")
    assert echo.closed(path) == (4001, "client bye")


def test_server_closes_with_code_and_reason(client: Any, echo: EchoServer, path: str) -> None:
    client.open(echo.url + path)
    client.send("close 4002 server bye")
    assert client.wait_closed() == (4002, "server bye")
    assert echo.closed(path) == (4002, "server bye")


def test_a_message_over_the_size_limit_closes_with_1009(client: Any, echo: EchoServer,
                                                         path: str) -> None:
    client.open(echo.url + path, max_size=1000)
    client.send("big 1000")
    assert client.recv() == "x" * 1000
    client.send("big 1001")
    code, _ = client.wait_closed()
    assert code == 1009
    assert echo.closed(path)[0] == 1009


def test_connection_refused(client: Any) -> None:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port = s.getsockname()[1]
    with pytest.raises(ConnectionRefusedError):
        client.open(f"ws://{HOST}:{port}")
