"""The three APIs -- asyncio, Qt-style signals, blocking -- behave the same.

One set of behavioural scenarios (open, echo, fragments, ping, close codes both ways,
the message size limit, a refused connection, and the client conveniences of
docs/clients.md: reconnection, redirects, a 401 challenge, Unix sockets) runs through a
small driver per API, each a thin adapter that blocks the test thread until its API
reports what happened, against tether asyncio echo servers (tests/signals/echo.py).
What each driver returns is what its API tells the user; the scenarios hold all three
to one answer.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import json
import os
import queue
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

import tether
import tether.sync
from tests.signals.echo import GUARD, HOST, SUBPROTOCOLS, EchoServer
from tether.asyncio.server import ServerConnection
from tether.core.http11 import Request, Response
from tether.core.retry import Backoff
from tether.signals import Authenticator, EventLoop, HandshakeOptions, SocketError, WebSocket

Data = str | bytes
#: Short waits between reconnection attempts (the defaults start at 3 s).
FAST = Backoff(initial=0.02, max=0.1)


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

    def open(self, url: str, subprotocols: Sequence[str] = (), max_size: int = 2**20,
             unix_socket: str | None = None, auth: tuple[str, str] | None = None) -> None:
        self.ws = self._run(tether.connect(url, subprotocols=list(subprotocols) or None,
                                           max_size=max_size, ping_interval=None,
                                           unix_socket=unix_socket, auth=auth))

    def open_reconnecting(self, url: str) -> None:
        """``async for ws in tether.connect(url)``: the first connection."""
        self.connections = tether.connect(url, ping_interval=None, backoff=FAST).__aiter__()
        self.ws = self._run(self.connections.__anext__())
        self.pending: Any = None

    def start_reconnecting(self) -> None:
        """The body goes on to the next turn of the loop (without waiting for it)."""
        self.pending = asyncio.run_coroutine_threadsafe(
            self._anext(self.connections), self.loop)

    @staticmethod
    async def _anext(iterator: Any) -> Any:
        return await iterator.__anext__()

    def reconnected(self) -> None:
        self.ws = self.pending.result(GUARD)

    def challenge(self, url: str) -> tuple[int, str | None]:
        with pytest.raises(tether.InvalidStatus) as info:
            self.open(url)
        return info.value.status, info.value.realm

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
        connections = getattr(self, "connections", None)
        if connections is not None:
            self._run(connections.aclose())
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
                     "binary_message_received", "pong", "authentication_required"):
            getattr(self.ws, name).connect(
                lambda *args, name=name: self.events.put((name, args)))
        self.credentials: tuple[str, str] | None = None
        # Connected after the recorder: the authenticator is recorded before it is filled.
        self.ws.authentication_required.connect(self._authenticate)

    def _next(self, *names: str) -> tuple[str, Any]:
        while True:
            name, args = self.events.get(timeout=GUARD)
            if name in names:
                return name, args

    def open(self, url: str, subprotocols: Sequence[str] = (), max_size: int = 2**20,
             unix_socket: str | None = None, auth: tuple[str, str] | None = None) -> None:
        self.ws.max_allowed_incoming_message_size = max_size
        self.ws.unix_socket = unix_socket
        self.credentials = auth
        self.ws.open(url, HandshakeOptions(list(subprotocols)))
        name, args = self._next("connected", "error_occurred")
        if name == "error_occurred":
            assert args[0] is SocketError.CONNECTION_REFUSED_ERROR
            raise self.ws.exception or AssertionError(self.ws.error_string)

    def _authenticate(self, authenticator: Authenticator) -> None:
        # Qt's way: a slot of authentication_required fills in the credentials.
        if self.credentials is not None:
            authenticator.user, authenticator.password = self.credentials

    def open_reconnecting(self, url: str) -> None:
        self.ws.reconnect = True
        self.ws.backoff = FAST
        self.open(url)

    def start_reconnecting(self) -> None:
        pass  # the socket reconnects by itself

    def reconnected(self) -> None:
        self._next("connected")

    def challenge(self, url: str) -> tuple[int, str | None]:
        self.credentials = None
        self.ws.open(url)
        authenticator = self._next("authentication_required")[1][0]
        assert self._next("connected", "error_occurred")[0] == "error_occurred"
        assert self.ws.error is SocketError.CONNECTION_REFUSED_ERROR
        assert isinstance(self.ws.exception, tether.InvalidStatus)
        return self.ws.exception.status, authenticator.realm

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

    def open(self, url: str, subprotocols: Sequence[str] = (), max_size: int = 2**20,
             unix_socket: str | None = None, auth: tuple[str, str] | None = None) -> None:
        self.ws = tether.sync.connect(url, subprotocols=list(subprotocols) or None,
                                      max_size=max_size, ping_interval=None,
                                      open_timeout=GUARD, unix_socket=unix_socket, auth=auth)

    def open_reconnecting(self, url: str) -> None:
        """``for ws in tether.sync.connect(url, reconnect=True)``: the first connection."""
        self.connections = tether.sync.connect(url, reconnect=True, ping_interval=None,
                                               open_timeout=GUARD, backoff=FAST)
        self.ws = next(self.connections)
        self.pending: concurrent.futures.Future[Any] | None = None

    def start_reconnecting(self) -> None:
        """The loop goes on to its next turn, on a thread (it blocks until connected)."""
        pending: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self.pending = pending

        def turn() -> None:
            try:
                pending.set_result(next(self.connections))
            except BaseException as exc:
                pending.set_exception(exc)

        threading.Thread(target=turn, daemon=True).start()

    def reconnected(self) -> None:
        assert self.pending is not None
        self.ws = self.pending.result(GUARD)

    def challenge(self, url: str) -> tuple[int, str | None]:
        with pytest.raises(tether.InvalidStatus) as info:
            self.open(url)
        return info.value.status, info.value.realm

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
        connections = getattr(self, "connections", None)
        if connections is not None:
            connections.close()


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


# ---------------------------------------------------------------- client conveniences
# (docs/clients.md: reconnection, redirects, authentication, Unix sockets)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class Redirector(EchoServer):
    """Answers every request with ``301 Moved Permanently`` to ``target(path)``."""

    def __init__(self, target: Callable[[str], str]) -> None:
        super().__init__()
        self.target = target

    def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        return tether.basic_http_response(
            301, "moved", headers=[("Location", self.target(request.target))])


class UnixEchoServer(EchoServer):
    """The echo server on a Unix domain socket."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    async def _start(self) -> None:
        self._server = await tether.unix_serve(
            self._handler, self.path, subprotocols=SUBPROTOCOLS, ping_interval=None,
            process_request=self._process_request)


def echo_on(port: int) -> EchoServer:
    """The echo server on a given port (started by ``with``)."""
    return EchoServer(sock=socket.create_server((HOST, port)))


def whoami(client: Any) -> dict[str, Any]:
    client.send("whoami")
    answer = client.recv()
    assert isinstance(answer, str)
    return json.loads(answer)  # type: ignore[no-any-return]


def test_reconnects_after_a_server_restart(client: Any, path: str) -> None:
    port = free_port()
    with echo_on(port):
        client.open_reconnecting(f"ws://{HOST}:{port}{path}")
        client.send("before")
        assert client.recv() == "before"
    # The server went away (closing with 1001): the client's loop goes on and retries
    # until the server is back on the same port.
    assert client.wait_closed()[0] in (1001, 1006)
    client.start_reconnecting()
    with echo_on(port) as again:
        client.reconnected()
        client.send("after")
        assert client.recv() == "after"
        assert whoami(client)["path"] == path
        assert client.close(1000, "done") == (1000, "done")
        assert again.closed(path) == (1000, "done")


def test_a_redirect_to_another_port_and_path_is_followed(client: Any, echo: EchoServer,
                                                          path: str) -> None:
    with Redirector(lambda target: f"http://{HOST}:{echo.port}{target}/landed") as moved:
        client.open(f"ws://{HOST}:{moved.port}{path}")
        client.send("here?")
        assert client.recv() == "here?"
        assert whoami(client)["path"] == path + "/landed"
        assert client.close(1000, "") == (1000, "")
        assert echo.closed(path + "/landed") == (1000, "")


def test_a_401_reports_its_realm_and_credentials_get_in(client: Any, echo: EchoServer,
                                                        path: str) -> None:
    assert client.challenge(echo.url + "/auth" + path) == (401, "tests")
    client.open(echo.url + "/auth" + path, auth=("user", "pw"))
    token = base64.b64encode(b"user:pw").decode()
    assert whoami(client)["authorization"] == f"Basic {token}"


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="no Unix sockets")
def test_echo_over_a_unix_socket(client: Any, path: str) -> None:
    with tempfile.TemporaryDirectory(prefix="tt") as directory:
        sock_path = os.path.join(directory, "ws.sock")
        with UnixEchoServer(sock_path) as server:
            # The URL gives the Host header and the path; the socket is the way there.
            client.open(f"ws://localhost{path}", unix_socket=sock_path,
                        subprotocols=["superchat"])
            assert client.subprotocol == "superchat"
            client.send("héllo over unix")
            assert client.recv() == "héllo over unix"
            client.send(b"\x00\xff")
            assert client.recv() == b"\x00\xff"
            assert whoami(client)["path"] == path
            assert client.close(4003, "unix bye") == (4003, "unix bye")
            assert server.closed(path) == (4003, "unix bye")
