"""The blocking WebSocket server: :func:`serve`, :class:`Server` and the server side of a
connection.

:meth:`Server.serve_forever` accepts connections and runs each one in its own
thread: the TLS and opening handshakes, then the handler.  With the reader thread
(and the keepalive thread when ``ping_interval`` is set) that makes two or three
threads per open connection.  Threads suit hundreds of connections; for tens of
thousands use the asyncio engine (:func:`tether.serve`).
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import ssl as ssl_module
import threading
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

from ..core.extensions.base import ServerExtensionFactory
from ..core.extensions.compression import server_extensions
from ..core.handshake import (
    HeadersLike,
    SelectSubprotocol,
    ServerHandshake,
    http_response,
    reject,
)
from ..core.http11 import Request, Response, build_response, parse_request
from ..core.protocol import DEFAULT_MAX_SIZE, Protocol, Role, State
from ..core.proxy import looks_like_tls_client_hello
from ..exceptions import InvalidHandshake, InvalidMessage, UsageError
from ..tls import clarify_tls_error
from ..unix import listen_unix
from ..version import __version__
from .connection import Connection, Socket, shutdown_socket
from .proxy import remaining

__all__ = ["Server", "ServerConnection", "serve"]

logger = logging.getLogger("tether.sync.server")

Handler = Callable[["ServerConnection"], Any]
ProcessRequest = Callable[["ServerConnection", Request], "Response | None"]
ProcessResponse = Callable[["ServerConnection", Request, Response], "Response | None"]




class ServerConnection(Connection):
    """The server side of a WebSocket connection, as handed to the handler."""

    def __init__(self, server: Server, sock: Socket, **options: Any) -> None:
        super().__init__(sock, **options)
        self.server = server

    def respond(self, status: int, text: str, headers: HeadersLike | None = None) -> Response:
        """A plain-text HTTP answer, for ``process_request`` to return."""
        return http_response(status, text, headers=headers)

    # ------------------------------------------------------------ the opening handshake

    def _handshake(self, open_timeout: float | None) -> bool:
        """Run the TLS and opening handshakes; ``True`` once the connection is open."""
        server = self.server
        deadline = None if open_timeout is None else time.monotonic() + open_timeout
        try:
            self.socket.settimeout(open_timeout)
            if server.ssl is not None:
                assert isinstance(self.socket, socket.socket)
                tls = server.ssl.wrap_socket(self.socket, server_side=True,
                                             do_handshake_on_connect=False)
                self.socket = tls
                tls.do_handshake()
            parsed = self._read_request(deadline)
            if parsed is None:
                return False
            request, leftover = parsed
            self.request = request
            answer = self._answer(request)
            if answer is None:
                return False
            response, extensions = answer
            if server.closing:
                self._reply(reject(503, "Server is shutting down."))
                return False
            self.response = response
            self.socket.settimeout(remaining(deadline))
            self.socket.sendall(build_response(response))
            self.socket.settimeout(None)
        except TimeoutError:
            logger.info("opening handshake with %s timed out after %ss",
                        self.remote_address, open_timeout)
            return False
        except ssl_module.SSLError as exc:
            logger.info("TLS handshake with %s failed: %s", self.remote_address,
                        clarify_tls_error(exc, server_side=True))
            return False
        except OSError as exc:
            logger.debug("connection from %s lost during the handshake: %s",
                         self.remote_address, exc)
            return False
        self._start(Protocol(Role.SERVER, max_size=self.max_size, extensions=extensions),
                    leftover)
        return True

    def _read_request(self, deadline: float | None) -> tuple[Request, bytes] | None:
        buf = bytearray()
        while True:
            self.socket.settimeout(remaining(deadline))
            chunk = self.socket.recv(65536)
            if not chunk:
                return None  # the client went away
            if not buf and self.server.ssl is None and looks_like_tls_client_hello(chunk):
                logger.info("TLS handshake received on a plain-text port from %s",
                            self.remote_address)
                self._reply(reject(400, "This port speaks plain HTTP/WebSocket, not TLS."))
                return None
            scanned = len(buf)  # what earlier calls looked at: parsing stays linear
            buf += chunk
            try:
                parsed = parse_request(buf, scanned)
            except InvalidMessage as exc:
                logger.info("invalid HTTP request from %s: %s", self.remote_address, exc)
                self._reply(reject(exc.status, f"Invalid HTTP request: {exc}."))
                return None
            if parsed is not None:
                request, used = parsed
                return request, bytes(buf[used:])

    def _answer(self, request: Request) -> tuple[Response, list[Any]] | None:
        """The 101 answer and the extensions, or ``None`` after answering otherwise."""
        server = self.server
        try:
            if server.process_request is not None:
                answer = server.process_request(self, request)
                if answer is not None:
                    self._reply(answer)
                    return None
            try:
                response, negotiated = server.handshake.accept(request)
            except InvalidHandshake as exc:
                if request.headers.get("Upgrade"):
                    logger.info("rejected handshake from %s: %s", self.remote_address, exc)
                else:
                    logger.debug("plain HTTP request to %s", request.target)
                self._reply(server.handshake.error_response(exc))
                return None
            if server.process_response is not None:
                replaced = server.process_response(self, request, response)
                if replaced is not None:
                    response = replaced
                    if response.status != 101:
                        self._reply(response)
                        return None
        except OSError:
            raise
        except Exception:
            logger.exception("error in the opening handshake hooks")
            self._reply(reject(500, "Failed to open a WebSocket connection."))
            return None
        self.subprotocol = negotiated.subprotocol
        return response, list(negotiated.extensions)

    def _reply(self, response: Response) -> None:
        """Answer with plain HTTP; the connection then closes."""
        self.response = response
        self.socket.sendall(build_response(response))


class Server:
    """A listening WebSocket server; made by :func:`serve`.

    ``with serve(handler, host, port) as server: server.serve_forever()``; another
    thread (or a handler) stops it with :meth:`shutdown`.
    """

    def __init__(
        self,
        sock: socket.socket,
        handler: Handler,
        *,
        handshake: ServerHandshake,
        process_request: ProcessRequest | None,
        process_response: ProcessResponse | None,
        ssl: ssl_module.SSLContext | None,
        open_timeout: float | None,
        connection_options: dict[str, Any],
    ) -> None:
        self.socket = sock
        self.handler = handler
        self.handshake = handshake
        self.process_request = process_request
        self.process_response = process_response
        self.ssl = ssl
        self.open_timeout = open_timeout
        self.connection_options = connection_options
        self.closing = False
        self._lock = threading.Lock()
        self._connections: set[ServerConnection] = set()
        self._threads: set[threading.Thread] = set()
        self._serving = False
        self._serving_thread: threading.Thread | None = None
        self._loop_done = threading.Event()
        self._loop_done.set()
        self._shutdown_done = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        sock.setblocking(False)

    @property
    def port(self) -> int:
        """The TCP port the server listens on (handy with port 0).

        A server on a Unix domain socket has no port: this raises
        :class:`~tether.UsageError`; read :attr:`unix_socket` (or :attr:`socket`)."""
        if self.socket.family == getattr(socket, "AF_UNIX", None):
            raise UsageError(f"a server on a Unix domain socket has no port: it listens on "
                             f"{self.socket.getsockname()!r} (see Server.unix_socket)")
        return int(self.socket.getsockname()[1])

    @property
    def unix_socket(self) -> str | None:
        """The path of the Unix domain socket listened on; None for a TCP server."""
        if self.socket.family != getattr(socket, "AF_UNIX", None):
            return None
        name = self.socket.getsockname()
        return name.decode("utf-8", "surrogateescape") if isinstance(name, bytes) else str(name)

    @property
    def connections(self) -> set[ServerConnection]:
        """The connections that completed the opening handshake and are not closed."""
        with self._lock:
            conns = set(self._connections)
        return {c for c in conns if c.protocol is not None and c.state is not State.CLOSED}

    def fileno(self) -> int:
        return self.socket.fileno()

    def serve_forever(self) -> None:
        """Accept connections until :meth:`shutdown`; each runs in its own thread."""
        with self._lock:
            if self.closing:
                return
            if self._serving:
                raise UsageError("serve_forever() is already running in another thread")
            self._serving = True
            self._serving_thread = threading.current_thread()
            self._loop_done.clear()
        selector = selectors.DefaultSelector()
        try:
            selector.register(self.socket, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while not self.closing:
                for key, _ in selector.select():
                    if key.fileobj is self._wake_r or self.closing:
                        return
                    try:
                        sock, address = self.socket.accept()
                    except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                        continue
                    except OSError as exc:
                        # Out of file descriptors, for example: wait a little, go on.
                        logger.error("accept() failed: %s", exc)
                        self._shutdown_done.wait(0.5)
                        continue
                    self._spawn(sock, address)
        finally:
            selector.close()
            with self._lock:
                self._serving = False
            self._loop_done.set()
            if self.closing:
                self._close_wakeup()

    def _spawn(self, sock: socket.socket, address: Any) -> None:
        thread = threading.Thread(target=self._handle, args=(sock,), daemon=True,
                                  name=f"tether-sync-connection-{address}")
        with self._lock:
            if self.closing:
                sock.close()
                return
            self._threads.add(thread)
        thread.start()

    def _handle(self, sock: socket.socket) -> None:
        conn: ServerConnection | None = None
        try:
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = ServerConnection(self, sock, **self.connection_options)
            with self._lock:
                self._connections.add(conn)
            if not conn._handshake(self.open_timeout):
                return
            try:
                self.handler(conn)
            except Exception:
                logger.exception("connection handler failed")
                conn.close(1011, "internal error")
            else:
                conn.close()
        except Exception:  # pragma: no cover - a bug; don't lose it
            logger.exception("connection thread failed")
        finally:
            if conn is None:
                sock.close()
            else:
                if conn._reader is None:
                    shutdown_socket(conn.socket)
                    conn.socket.close()
                    conn._closed.set()
                with self._lock:
                    self._connections.discard(conn)
            with self._lock:
                self._threads.discard(threading.current_thread())

    def shutdown(self, code: int = 1001, reason: str = "server shutting down") -> None:
        """Stop accepting, close every connection (1001, going away) and wait for them.

        Waits up to ``close_timeout`` for the closing handshakes, drops the connections
        that didn't finish, then waits up to ``close_timeout`` again for the handlers
        to return.  Safe to call more than once, from a handler, and from a signal
        handler in the thread that runs :meth:`serve_forever`.
        """
        with self._lock:
            first = not self.closing
            self.closing = True
        if not first:
            self._shutdown_done.wait()
            return
        try:
            with contextlib.suppress(OSError):  # serve_forever() may have closed it
                self._wake_w.send(b"x")
            if self._serving_thread is not threading.current_thread():
                # (Else this is a signal handler that interrupted serve_forever(): it
                # returns once the handler does.)
                self._loop_done.wait()
            self.socket.close()
            with self._lock:
                conns = list(self._connections)
            close_timeout = self.connection_options.get("close_timeout")
            deadline = None if close_timeout is None else time.monotonic() + close_timeout
            for conn in conns:
                conn._start_closing(code, reason, None if deadline is None
                                    else max(0.0, deadline - time.monotonic()))
            for conn in conns:
                conn._wait_closed(deadline)
            deadline = None if close_timeout is None else time.monotonic() + close_timeout
            with self._lock:
                threads = [t for t in self._threads if t is not threading.current_thread()]
            for thread in threads:
                thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
            stuck = sum(t.is_alive() for t in threads)
            if stuck:
                logger.warning("%d connection handler(s) still running after shutdown", stuck)
        finally:
            if self._loop_done.is_set():
                self._close_wakeup()
            self._shutdown_done.set()

    def _close_wakeup(self) -> None:
        self._wake_r.close()
        self._wake_w.close()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.shutdown()


def _listen(host: str | None, port: int | None, backlog: int) -> socket.socket:
    if not host:
        if socket.has_dualstack_ipv6():
            return socket.create_server(("", port or 0), family=socket.AF_INET6,
                                        dualstack_ipv6=True, backlog=backlog)
        return socket.create_server(("", port or 0), backlog=backlog)
    infos = socket.getaddrinfo(host, port or 0, type=socket.SOCK_STREAM,
                               flags=socket.AI_PASSIVE)
    family, _, _, _, address = infos[0]
    return socket.create_server(address[:2], family=family, backlog=backlog)


def serve(
    handler: Handler,
    host: str | None = None,
    port: int | None = None,
    *,
    origins: Sequence[str | None] | None = None,
    subprotocols: Sequence[str] | None = None,
    select_subprotocol: SelectSubprotocol | None = None,
    extensions: Sequence[ServerExtensionFactory] | None = None,
    compression: str | None = "deflate",
    process_request: ProcessRequest | None = None,
    process_response: ProcessResponse | None = None,
    server_header: str | None = None,
    additional_headers: HeadersLike | None = None,
    ssl: ssl_module.SSLContext | None = None,
    open_timeout: float | None = 10,
    ping_interval: float | None = 20,
    ping_timeout: float | None = 20,
    close_timeout: float | None = 10,
    max_size: int | None = DEFAULT_MAX_SIZE,
    max_queue: int | None = 16,
    sock: socket.socket | None = None,
    backlog: int = 128,
    unix_socket: str | None = None,
) -> Server:
    """Listen on ``host:port`` (or ``sock``) and return the :class:`Server`.

    Call :meth:`Server.serve_forever` to accept connections.  ``handler(connection)``
    runs in a thread per connection; the connection is closed (1000) when it returns,
    or with 1011 if it raises.  Options have the names and meanings of
    :func:`tether.serve`; ``process_request`` and ``process_response`` are plain
    functions here.  No ``host`` listens on every interface; ``unix_socket`` is a
    path to listen on (a Unix domain socket) instead of TCP.
    """
    if not callable(handler):
        raise TypeError("serve() needs a handler: a function taking a connection")
    if ssl is not None and not isinstance(ssl, ssl_module.SSLContext):
        raise TypeError("ssl= takes an ssl.SSLContext (see tether.tls.server_ssl_context)")
    handshake = ServerHandshake(
        origins=origins, subprotocols=subprotocols, select_subprotocol=select_subprotocol,
        extensions=server_extensions(compression, extensions),
        server_header=server_header if server_header is not None else f"tether/{__version__}",
    )
    if additional_headers is not None:
        extra = list(additional_headers.items() if isinstance(additional_headers, dict)
                     else additional_headers)
        chained = process_response

        def process_response_with_headers(
            conn: ServerConnection, request: Request, response: Response
        ) -> Response | None:
            for name, value in extra:
                response.headers.set(name, value)
            return chained(conn, request, response) if chained else None

        process_response = process_response_with_headers
    if sock is None and unix_socket is not None:
        sock = listen_unix(unix_socket, backlog)
    elif sock is None:
        sock = _listen(host, port, backlog)
    else:
        sock.listen(backlog)
    return Server(
        sock, handler, handshake=handshake, process_request=process_request,
        process_response=process_response, ssl=ssl, open_timeout=open_timeout,
        connection_options=dict(
            max_size=max_size, max_queue=max_queue, ping_interval=ping_interval,
            ping_timeout=ping_timeout, close_timeout=close_timeout,
        ),
    )
