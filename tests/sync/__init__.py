"""Tests of the blocking engine (tether.sync), and helpers they share.

Every test uses real sockets on 127.0.0.1.  Raw peers (a server that never answers
a ping, a client that never sends its request) are plain sockets driven by the
sans-I/O core, so that the engine under test meets a peer it can't steer.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

from tether.core.events import CloseReceived, Event, Message, Ping
from tether.core.handshake import ClientHandshake, ServerHandshake
from tether.core.http11 import build_request, build_response, parse_request, parse_response
from tether.core.protocol import Protocol, Role
from tether.core.uri import parse_uri
from tether.sync import Server, ServerConnection, serve

__all__ = [
    "RawPeer",
    "raw_client",
    "raw_server",
    "running_server",
    "uri",
]

#: Generous upper bound for anything that should happen "at once" (never a threshold
#: a passing run gets near: it only stops a broken run from hanging).
WAIT = 10.0


@contextlib.contextmanager
def running_server(handler: Callable[[ServerConnection], Any], **options: Any) -> Iterator[Server]:
    """A tether.sync server on 127.0.0.1 with serve_forever() in a thread."""
    options.setdefault("ping_interval", None)
    server = serve(handler, "127.0.0.1", 0, **options)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        thread.join(WAIT)
        assert not thread.is_alive()


def uri(server: Server | int, path: str = "/", scheme: str = "ws") -> str:
    port = server if isinstance(server, int) else server.port
    return f"{scheme}://127.0.0.1:{port}{path}"


class RawPeer:
    """One end of a WebSocket connection driven by hand: a socket and the core."""

    def __init__(self, sock: socket.socket, protocol: Protocol, leftover: bytes) -> None:
        self.sock = sock
        self.protocol = protocol
        self._backlog: list[Event] = []
        sock.settimeout(WAIT)
        if leftover:
            protocol.receive_data(leftover)

    def next_event(self) -> Event | None:
        """The next event from the peer; ``None`` at the end of the stream."""
        while True:
            if not self._backlog:
                self._backlog = self.protocol.events_received()
            if self._backlog:
                return self._backlog.pop(0)
            data = self.sock.recv(65536)
            if not data:
                return None
            self.protocol.receive_data(data)
            # Don't answer: a raw peer stays silent unless told to write.
            self.protocol.data_to_send()

    def events_until_eof(self) -> list[Event]:
        events = []
        while (event := self.next_event()) is not None:
            events.append(event)
        return events

    def send(self, data: str | bytes) -> None:
        self.protocol.send_message(data)
        for chunk in self.protocol.data_to_send():
            self.sock.sendall(chunk)

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close(self) -> None:
        self.sock.close()


def raw_client(port: int, path: str = "/") -> RawPeer:
    """Connect to a server and complete the opening handshake by hand."""
    handshake = ClientHandshake(parse_uri(uri(port, path)))
    sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
    sock.sendall(build_request(handshake.request))
    buf = b""
    while (parsed := parse_response(buf)) is None:
        chunk = sock.recv(65536)
        assert chunk, "server closed the connection during the handshake"
        buf += chunk
    response, used = parsed
    handshake.process_response(response)
    return RawPeer(sock, Protocol(Role.CLIENT), buf[used:])


@contextlib.contextmanager
def raw_server(answer: bool = True) -> Iterator[tuple[int, Callable[[], Any]]]:
    """A server socket that accepts one connection in a thread.

    Yields its port and ``peer()``, which returns a :class:`RawPeer` once the
    handshake was answered by hand (or, with ``answer=False``, the bare socket).
    """
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(WAIT)
    result: queue.Queue[Any] = queue.Queue()

    def accept() -> RawPeer | socket.socket:
        sock, _ = listener.accept()
        sock.settimeout(WAIT)
        if not answer:
            return sock
        buf = b""
        while (parsed := parse_request(buf)) is None:
            chunk = sock.recv(65536)
            assert chunk, "client closed the connection during the handshake"
            buf += chunk
        request, used = parsed
        response, _ = ServerHandshake().accept(request)
        sock.sendall(build_response(response))
        return RawPeer(sock, Protocol(Role.SERVER), buf[used:])

    def run() -> None:
        try:
            result.put(accept())
        except BaseException as exc:
            result.put(exc)

    def peer() -> Any:
        item = result.get(timeout=WAIT)
        if isinstance(item, BaseException):
            raise item
        return item

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], peer
    finally:
        listener.close()
        thread.join(WAIT)


def kinds(events: list[Event]) -> list[str]:
    """Event class names, for compact assertions."""
    return [type(e).__name__ for e in events]


__all__ += ["WAIT", "CloseReceived", "Message", "Ping", "kinds"]
