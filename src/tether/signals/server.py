"""``WebSocketServer``: Qt's ``QWebSocketServer`` (and QML's ``WebSocketServer``).

::

    server = WebSocketServer("Echo Server", SslMode.NON_SECURE_MODE)
    server.listen("127.0.0.1", 1234)

    @server.new_connection.connect
    def on_new_connection():
        sock = server.next_pending_connection()
        sock.text_message_received.connect(sock.send_text_message)

How it accepts: :meth:`listen` binds and listens on a socket at once (so it can
answer ``True``/``False`` like Qt), and the server's event loop watches that socket
(``loop.add_reader``) and accepts connections itself.  :meth:`pause_accepting` stops
watching: new connections then wait in the kernel's backlog, as in Qt, until
:meth:`resume_accepting`.  Each accepted socket -- or one handed to
:meth:`handle_connection` -- goes to ``loop.connect_accepted_socket`` with TLS in
secure mode, and through tether's asyncio server connection for the handshake.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import socket
import ssl
from collections import deque
from collections.abc import Sequence
from typing import Any, TypeAlias

from ..asyncio.connection import Connection
from ..asyncio.server import Server, ServerConnection
from ..core.extensions.compression import server_extensions
from ..core.handshake import Negotiated, ServerHandshake, reject
from ..core.http11 import Request, Response
from ..core.protocol import DEFAULT_MAX_SIZE
from ..exceptions import InvalidHandshake, UsageError
from ..unix import listen_unix, remove_socket_file
from ..version import __version__
from ._object import LoopObject
from .cors import CorsAuthenticator
from .enums import CloseCode, SocketError, SslMode
from .loop import EventLoop
from .signal import Signal
from .sslerror import SslError
from .websocket import (
    CLOSE_TIMEOUT,
    DEFAULT_HANDSHAKE_TIMEOUT,
    DEFAULT_OUTGOING_FRAME_SIZE,
    WebSocket,
    socket_address,
)

__all__ = ["WebSocketServer"]

logger = logging.getLogger("tether.signals")

#: Qt's default ``maxPendingConnections()``.
DEFAULT_MAX_PENDING = 30
#: Connections accepted per wake-up of the listening socket, so one busy listener
#: can't starve the loop.
_ACCEPTS_PER_WAKEUP = 64
#: Seconds to stop accepting after the process ran out of file descriptors (as asyncio).
_ACCEPT_RETRY_DELAY = 1.0
_OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


class _Handshake(ServerHandshake):
    """Tells the server about handshake requests it had to refuse."""

    def __init__(self, owner: WebSocketServer, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.owner = owner

    def accept(self, request: Request) -> tuple[Response, Negotiated]:
        try:
            return super().accept(request)
        except InvalidHandshake as exc:
            self.owner._set_error(CloseCode.PROTOCOL_ERROR,
                                  f"Bad handshake request received: {exc}")
            raise


class WebSocketServer(LoopObject):
    """A WebSocket server with Qt's signals and properties.

    ``WebSocketServer(server_name="", secure_mode=SslMode.NON_SECURE_MODE, *,
    loop=None, **declared)``.  ``server_name`` goes into the ``Server`` header.
    ``declared`` are properties and ``on_<signal>`` slots, as in QML, plus
    ``listen=True`` to start listening on :attr:`host`/:attr:`port`.
    """

    SslMode: TypeAlias = SslMode

    # --- QWebSocketServer's signals
    new_connection = Signal()
    accept_error = Signal(SocketError)
    server_error = Signal(CloseCode)
    closed = Signal()
    ssl_errors = Signal(list)
    peer_verify_error = Signal(SslError)
    origin_authentication_required = Signal(CorsAuthenticator)
    # --- QML WebSocketServer's signals
    client_connected = Signal(WebSocket)
    error_string_changed = Signal(str)

    def __init__(
        self,
        server_name: str = "",
        secure_mode: SslMode = SslMode.NON_SECURE_MODE,
        *,
        loop: EventLoop | asyncio.AbstractEventLoop | None = None,
        **declared: Any,
    ) -> None:
        super().__init__(loop)
        self._server_name = server_name
        self._secure_mode = SslMode(secure_mode)
        self._ssl_configuration: ssl.SSLContext | None = None
        self._host = "127.0.0.1"
        self._port = 0
        self._sock: socket.socket | None = None
        #: (path, inode) of the Unix socket file listen_unix() made: close() removes it.
        self._unix_file: tuple[str, int] | None = None
        self._accepting = True
        self._reader_fd: int | None = None  # the listening fd the loop watches
        self._closing = False
        self._pending: deque[WebSocket] = deque()
        self._max_pending = DEFAULT_MAX_PENDING
        self._handshake_timeout: float | None = DEFAULT_HANDSHAKE_TIMEOUT
        self._subprotocols: list[str] = []
        self._error: CloseCode = CloseCode.NORMAL
        self._error_string = ""
        self._server: Server | None = None
        self._handshake: _Handshake | None = None
        self._starting: dict[Connection, WebSocket] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        listen = declared.pop("listen", None)
        accept = declared.pop("accept", None)
        name = declared.pop("name", None)
        if name is not None:
            self.server_name = name
        self._declare(declared)
        if accept is not None:
            self.accept = bool(accept)
        if listen:
            self.listen()

    # ================================================================ properties

    @property
    def server_name(self) -> str:
        """The name sent in the ``Server`` header (``serverName()``; QML ``name``)."""
        return self._server_name

    @server_name.setter
    def server_name(self, value: str) -> None:
        self._server_name = value
        if self._handshake is not None:
            self._handshake.server_header = value or f"tether/{__version__}"

    name = server_name

    @property
    def secure_mode(self) -> SslMode:
        return self._secure_mode

    @property
    def ssl_configuration(self) -> ssl.SSLContext | None:
        """The server's :class:`ssl.SSLContext` (secure mode), e.g. from
        :func:`tether.tls.server_ssl_context`."""
        return self._ssl_configuration

    @ssl_configuration.setter
    def ssl_configuration(self, value: ssl.SSLContext | None) -> None:
        if value is not None and not isinstance(value, ssl.SSLContext):
            raise TypeError("ssl_configuration takes an ssl.SSLContext")
        if value is not None and self._secure_mode is not SslMode.SECURE_MODE:
            raise UsageError("ssl_configuration is for a server in SslMode.SECURE_MODE")
        self._ssl_configuration = value

    @property
    def host(self) -> str:
        """QML's ``host``: the address :meth:`listen` binds by default (127.0.0.1)."""
        return self._host

    @host.setter
    def host(self, value: str) -> None:
        self._host = value

    @property
    def port(self) -> int:
        """QML's ``port``: the port listened on (or to listen on; 0 picks a free one)."""
        if self._sock is not None:
            return self.server_port
        return self._port

    @port.setter
    def port(self, value: int) -> None:
        self._port = int(value)

    @property
    def accept(self) -> bool:
        """QML's ``accept``: whether new connections are accepted (see
        :meth:`pause_accepting`)."""
        return self._accepting

    @accept.setter
    def accept(self, value: bool) -> None:
        if value:
            self.resume_accepting()
        else:
            self.pause_accepting()

    def is_listening(self) -> bool:
        """Whether the server listens (``isListening()``)."""
        return self._sock is not None

    @property
    def listening(self) -> bool:
        """QML's ``listen``, read side (set it with ``listen=True`` or :meth:`listen`)."""
        return self._sock is not None

    def _sockname(self) -> tuple[str, int]:
        sock = self._sock
        if sock is None:
            return "", 0
        try:
            return socket_address(sock.getsockname())
        except OSError:  # closed meanwhile by another thread
            return "", 0

    def _is_unix(self) -> bool:
        sock = self._sock
        return sock is not None and sock.family == getattr(socket, "AF_UNIX", None)

    @property
    def server_address(self) -> str:
        """The address listened on (``serverAddress()``); the path for a Unix socket."""
        return self._sockname()[0]

    @property
    def server_port(self) -> int:
        """The port listened on (``serverPort()``); 0 for a Unix socket."""
        return self._sockname()[1]

    @property
    def unix_socket(self) -> str | None:
        """The path of the Unix domain socket listened on (see :meth:`listen_unix`);
        ``None`` when listening on TCP or not at all."""
        return self._sockname()[0] if self._is_unix() else None

    @property
    def server_url(self) -> str:
        """``ws://address:port`` (``wss://`` in secure mode); ``""`` when not listening.
        On a Unix socket, ``ws://localhost``: the URL to open with the client's
        ``unix_socket`` set to :attr:`unix_socket`."""
        if self._sock is None:
            return ""
        scheme = "wss" if self._secure_mode is SslMode.SECURE_MODE else "ws"
        if self._is_unix():
            return f"{scheme}://localhost"
        address, port = self._sockname()
        if ":" in address:
            address = f"[{address}]"
        return f"{scheme}://{address}:{port}"

    url = server_url

    @property
    def native_descriptor(self) -> int:
        """The listening socket's file descriptor, -1 when not listening."""
        return self._sock.fileno() if self._sock is not None else -1

    @property
    def max_pending_connections(self) -> int:
        """How many handshaken connections may wait for :meth:`next_pending_connection`
        (30); beyond that new ones are refused with 503 and :attr:`server_error`."""
        return self._max_pending

    @max_pending_connections.setter
    def max_pending_connections(self, value: int) -> None:
        self._max_pending = int(value)

    @property
    def handshake_timeout(self) -> float | None:
        """Seconds a client has to complete TLS and the opening handshake (10)."""
        return self._handshake_timeout

    @handshake_timeout.setter
    def handshake_timeout(self, value: float | None) -> None:
        self._handshake_timeout = value

    @property
    def handshake_timeout_ms(self) -> int:
        """:attr:`handshake_timeout` in milliseconds (``handshakeTimeoutMS()``); -1: none."""
        t = self._handshake_timeout
        return -1 if t is None else int(t * 1000)

    @handshake_timeout_ms.setter
    def handshake_timeout_ms(self, value: int) -> None:
        self._handshake_timeout = None if value < 0 else value / 1000

    @property
    def supported_subprotocols(self) -> list[str]:
        """Subprotocols the server accepts, in order of preference."""
        return list(self._subprotocols)

    @supported_subprotocols.setter
    def supported_subprotocols(self, value: Sequence[str]) -> None:
        self._subprotocols = list(value)
        if self._handshake is not None:
            self._handshake.subprotocols = list(value)

    @property
    def supported_versions(self) -> list[int]:
        return [13]

    @property
    def error(self) -> CloseCode:
        """The last error, as a close code (``error()``)."""
        return self._error

    @property
    def error_string(self) -> str:
        return self._error_string

    # ================================================================ methods

    def listen(self, address: str | None = None, port: int | None = None) -> bool:
        """Listen on ``address`` (default :attr:`host`) and ``port`` (default
        :attr:`port`; 0 picks a free one).  ``""`` or ``"::"`` listens on every
        address (IPv4 and IPv6).  Returns whether it worked; :attr:`error_string`
        says why not."""
        if self._sock is not None:
            self._set_error(CloseCode.ABNORMAL_DISCONNECTION,
                            "The server is already listening.")
            return False
        if self._secure_mode is SslMode.SECURE_MODE and self._ssl_configuration is None:
            raise UsageError("a secure server needs its ssl_configuration (an SSLContext, "
                             "see tether.tls.server_ssl_context) before listen()")
        host = self._host if address is None else address
        port = self._port if port is None else port
        try:
            sock = self._bind(host, port)
        except OSError as exc:
            self._set_error(CloseCode.ABNORMAL_DISCONNECTION, exc.strerror or str(exc))
            return False
        self._adopt(sock)
        return True

    def listen_unix(self, path: str | os.PathLike[str]) -> bool:
        """Listen on the Unix domain socket ``path`` instead of TCP (a stale socket
        file left there is replaced; :meth:`close` removes the one it made).  Returns
        whether it worked; :attr:`error_string` says why not.  Clients connect with
        their ``unix_socket`` property (or ``tether.unix_connect``)."""
        if not hasattr(socket, "AF_UNIX"):
            raise UsageError("Unix domain sockets are not available on this platform")
        if self._sock is not None:
            self._set_error(CloseCode.ABNORMAL_DISCONNECTION,
                            "The server is already listening.")
            return False
        if self._secure_mode is SslMode.SECURE_MODE and self._ssl_configuration is None:
            raise UsageError("a secure server needs its ssl_configuration (an SSLContext, "
                             "see tether.tls.server_ssl_context) before listen_unix()")
        where = os.fspath(path)
        try:
            sock = listen_unix(where, max(128, self._max_pending))
            try:
                inode = os.stat(where).st_ino
            except OSError:
                sock.close()
                raise
        except OSError as exc:
            self._set_error(CloseCode.ABNORMAL_DISCONNECTION,
                            f"{exc.strerror or exc}: {where}")
            return False
        self._unix_file = (where, inode)
        self._adopt(sock)
        return True

    def _bind(self, host: str, port: int) -> socket.socket:
        backlog = max(128, self._max_pending)
        if host in ("", "::") and socket.has_dualstack_ipv6():
            return socket.create_server(("::", port), family=socket.AF_INET6,
                                        backlog=backlog, dualstack_ipv6=True)
        if host == "":
            host = "0.0.0.0"
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
        family, _, _, _, addr = infos[0]
        return socket.create_server(addr[:2], family=family, backlog=backlog)

    def set_native_descriptor(self, descriptor: int) -> bool:
        """Serve on a listening socket given by its file descriptor, which the server
        then owns (``setNativeDescriptor()``).  Whether it is a listening stream socket
        (TCP, or a Unix domain socket)."""
        if self._sock is not None:
            return False
        try:
            sock = socket.socket(fileno=descriptor)
        except OSError:
            return False
        if sock.type != socket.SOCK_STREAM or not sock.getsockopt(
                socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
            sock.detach()
            return False
        self._adopt(sock)
        return True

    def _adopt(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self._sock = sock
        self._closing = False
        self._loop.invoke(self._start_reading)

    def close(self) -> None:
        """Stop listening; close the pending connections (1001, "Server closed.").
        Connections already taken stay open.  :attr:`closed` follows."""
        sock, self._sock = self._sock, None  # not listening from now on, in every thread
        unix_file, self._unix_file = self._unix_file, None
        self._closing = True
        self._loop.invoke(self._close, sock, unix_file)

    def pause_accepting(self) -> None:
        """Stop accepting: new connections wait in the kernel's backlog."""
        self._accepting = False
        self._loop.invoke(self._stop_reading)

    def resume_accepting(self) -> None:
        """Accept again after :meth:`pause_accepting`."""
        self._accepting = True
        self._loop.invoke(self._start_reading)

    def has_pending_connections(self) -> bool:
        return bool(self._pending)

    def next_pending_connection(self) -> WebSocket | None:
        """The oldest connection not taken yet, or ``None``.  Slots connected to its
        signals from the :attr:`new_connection` slot miss nothing."""
        try:
            return self._pending.popleft()
        except IndexError:
            return None

    def handle_connection(self, sock: socket.socket) -> None:
        """Serve a TCP (or Unix domain) socket accepted elsewhere: TLS (secure mode),
        handshake, then a pending connection like any other (``handleConnection()``)."""
        if not isinstance(sock, socket.socket):
            raise TypeError("handle_connection() takes a connected socket.socket")
        sock.setblocking(False)
        self._loop.invoke(self._accept_socket, sock)

    # ================================================================ on the loop thread

    def _set_error(self, code: CloseCode, text: str) -> None:
        """Record an error now (from any thread); the signals follow on the loop's thread."""
        changed = text != self._error_string
        self._error = code
        self._error_string = text
        self._loop.invoke(self._emit_error, code, text, changed)

    def _emit_error(self, code: CloseCode, text: str, changed: bool) -> None:
        if changed:
            self.error_string_changed.emit(text)
        self.server_error.emit(code)

    def _spawn(self, coro: Any) -> None:
        task = self._loop.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _start_reading(self) -> None:
        if self._sock is not None and self._accepting and self._reader_fd is None:
            self._reader_fd = self._sock.fileno()
            self._loop.loop.add_reader(self._reader_fd, self._on_readable)

    def _stop_reading(self) -> None:
        if self._reader_fd is not None:
            self._loop.loop.remove_reader(self._reader_fd)
            self._reader_fd = None

    def _on_readable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        for _ in range(_ACCEPTS_PER_WAKEUP):
            try:
                conn, _ = sock.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as exc:
                error = (SocketError.SOCKET_RESOURCE_ERROR if exc.errno in _OUT_OF_RESOURCES
                         else SocketError.UNKNOWN_SOCKET_ERROR)
                logger.warning("accept() failed on %s: %s", self.server_url, exc)
                self.accept_error.emit(error)
                if exc.errno in _OUT_OF_RESOURCES:
                    self._stop_reading()
                    self._loop.loop.call_later(_ACCEPT_RETRY_DELAY, self._start_reading)
                return
            conn.setblocking(False)
            self._accept_socket(conn)

    def _accept_socket(self, sock: socket.socket) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._spawn(self._serve_socket(sock))

    def _ensure_server(self) -> Server:
        if self._server is None:
            self._handshake = _Handshake(
                self, subprotocols=self._subprotocols,
                extensions=server_extensions("deflate", None),
                server_header=self._server_name or f"tether/{__version__}",
            )
            self._server = Server(
                self._handler, handshake=self._handshake,
                process_request=self._process_request, process_response=None,
                connection_options=dict(
                    max_size=DEFAULT_MAX_SIZE, max_queue=None, write_limit=2**16,
                    ping_interval=None, ping_timeout=None, close_timeout=CLOSE_TIMEOUT,
                    open_timeout=None, frame_events=True,
                    outgoing_frame_size=DEFAULT_OUTGOING_FRAME_SIZE,
                ),
            )
        return self._server

    async def _serve_socket(self, sock: socket.socket) -> None:
        server = self._ensure_server()
        secure = self._secure_mode is SslMode.SECURE_MODE
        ctx = self._ssl_configuration if secure else None

        def factory() -> ServerConnection:
            conn = server._make_connection()
            ws = WebSocket._accepted(conn, self, self._loop, secure)
            if self._handshake_timeout is not None:
                ws._handshake_timer = self._loop.loop.call_later(
                    self._handshake_timeout, self._handshake_timed_out, ws, conn)
            return conn

        try:
            await self._loop.loop.connect_accepted_socket(
                factory, sock, ssl=ctx,
                ssl_handshake_timeout=self._handshake_timeout if ctx is not None else None)
        except ssl.SSLError as exc:
            err = SslError.from_exception(exc, server_side=True)
            logger.info("TLS handshake failed: %s", err.error_string)
            if isinstance(exc, ssl.SSLCertVerificationError):
                self.peer_verify_error.emit(err)
            self.ssl_errors.emit([err])
        except (OSError, TimeoutError) as exc:
            logger.info("connection dropped before the handshake: %s", exc)
            sock.close()

    def _handshake_timed_out(self, ws: WebSocket, conn: Connection) -> None:
        ws._handshake_timer = None
        if conn.protocol is None and conn.transport is not None \
                and not conn.transport.is_closing():
            self._set_error(CloseCode.ABNORMAL_DISCONNECTION, "Handshake timed out.")
            conn.abort()

    def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        if self._closing:
            return reject(503, "Server closed.")
        if len(self._pending) >= self._max_pending:
            self._set_error(CloseCode.ABNORMAL_DISCONNECTION, "Too many pending connections.")
            return reject(503, "Too many pending connections.")
        authenticator = CorsAuthenticator(request.headers.get("Origin") or "")
        self.origin_authentication_required.emit(authenticator)
        if not authenticator.allowed:
            self._set_error(CloseCode.POLICY_VIOLATED, "Access forbidden.")
            return reject(403, "Access forbidden.")
        return None

    def _on_handshake_done(self, ws: WebSocket) -> None:
        """Called by a server-side WebSocket once its handshake succeeded."""
        timer, ws._handshake_timer = ws._handshake_timer, None
        if timer is not None:
            timer.cancel()
        conn = ws._conn
        assert conn is not None
        self._starting[conn] = ws
        self._pending.append(ws)
        self.new_connection.emit()
        if ws in self._pending and self.client_connected.receivers():
            self._pending.remove(ws)
            self.client_connected.emit(ws)

    async def _handler(self, conn: ServerConnection) -> None:
        ws = self._starting.pop(conn)
        await ws._serve(conn)

    def _close(self, sock: socket.socket | None, unix_file: tuple[str, int] | None) -> None:
        if sock is not None:
            if self._reader_fd == sock.fileno():
                self._stop_reading()
            sock.close()
        if unix_file is not None:
            remove_socket_file(*unix_file)
        pending, self._pending = list(self._pending), deque()
        for ws in pending:
            ws.close(CloseCode.GOING_AWAY, "Server closed.")
        self._loop.loop.call_soon(self.closed.emit)

    def __repr__(self) -> str:
        where = self.unix_socket if self._is_unix() else self.server_url
        return f"<WebSocketServer {self._server_name!r} {where or 'not listening'}>"
