"""``WebSocket``: Qt's ``QWebSocket`` (and QML's ``WebSocket``) on tether's asyncio engine.

::

    ws = WebSocket()
    ws.connected.connect(lambda: ws.send_text_message("Hello, world!"))
    ws.text_message_received.connect(print)
    ws.open("ws://localhost:1234")

or, declared the QML way::

    ws = WebSocket(url="ws://localhost:1234", active=True,
                   on_text_message_received=print)

Signals are emitted on the thread of the socket's :class:`~tether.signals.EventLoop`
(see :mod:`tether.signals.loop`); methods and property setters may be called from any
thread.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import logging
import os
import socket
import ssl
import time
import urllib.parse
from collections.abc import Collection, Coroutine, Sequence
from typing import Any, TypeAlias

from ..asyncio.client import connect
from ..asyncio.connection import Connection, connection_created
from ..core.protocol import DEFAULT_MAX_SIZE, State
from ..core.proxy import Proxy, get_proxy, parse_proxy
from ..core.redirect import MAX_REDIRECTS
from ..core.retry import (
    DEFAULT_RETRY_ON_CLOSE,
    Backoff,
    ProcessException,
    Reconnector,
    describing_close_code,
    process_exception,
    should_retry_close,
)
from ..core.uri import parse_uri
from ..exceptions import (
    InvalidHandshake,
    InvalidStatus,
    InvalidURI,
    ProxyError,
    UsageError,
)
from ._object import LoopObject
from .auth import Authenticator
from .enums import CloseCode, SocketError, SocketState, Status, close_code
from .loop import EventLoop
from .mask import MaskSource, mask_function
from .request import HandshakeOptions, NetworkRequest
from .signal import Signal
from .sslerror import SslError

__all__ = ["WebSocket"]

logger = logging.getLogger("tether.signals")

#: Qt's default ``outgoingFrameSize()``: messages are sent in frames of 512 KiB.
DEFAULT_OUTGOING_FRAME_SIZE = 512 * 1024
#: Seconds for TCP, TLS and the opening handshake together (Qt's server default too).
DEFAULT_HANDSHAKE_TIMEOUT = 10.0
#: Seconds to wait for the peer's part of the closing handshake before dropping TCP.
CLOSE_TIMEOUT = 10.0
#: How often bytes_written looks again while bytes wait in the socket's buffer.
_WRITE_POLL = 0.005

_STATUS_FOR_STATE = {
    SocketState.CONNECTING: Status.CONNECTING,
    SocketState.CONNECTED: Status.OPEN,
    SocketState.CLOSING: Status.CLOSING,
    SocketState.UNCONNECTED: Status.CLOSED,
}


def check_close_code(code: int) -> None:
    """Raise ``ValueError`` for a close code that may not be sent (RFC 6455 7.4)."""
    if not (code in (1000, 1001, 1005) or (1002 <= code <= 1014 and code not in (1004, 1006))
            or 3000 <= code <= 4999):
        raise ValueError(f"close code {code} may not be sent (use 1000, 1001, 1002-1014 "
                         "less 1004-1006, or 3000-4999)")


def _clip_utf8(text: str, limit: int) -> str:
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", "ignore")


def _socket_error(exc: BaseException) -> tuple[SocketError, str]:
    """Map an exception from opening a connection to Qt's error and a message."""
    if isinstance(exc, ProxyError):
        status = exc.status
        if status == 407:
            return SocketError.PROXY_AUTHENTICATION_REQUIRED_ERROR, str(exc)
        if "could not reach" in str(exc):
            return SocketError.PROXY_CONNECTION_REFUSED_ERROR, str(exc)
        return SocketError.PROXY_PROTOCOL_ERROR, str(exc)
    if isinstance(exc, InvalidURI):
        return SocketError.CONNECTION_REFUSED_ERROR, f"Invalid URL: {exc}"
    if isinstance(exc, InvalidHandshake):
        # Qt reports a refused or broken handshake as ConnectionRefusedError.
        return SocketError.CONNECTION_REFUSED_ERROR, str(exc)
    if isinstance(exc, ssl.SSLError):
        return SocketError.SSL_HANDSHAKE_FAILED_ERROR, SslError.from_exception(exc).error_string
    if isinstance(exc, ConnectionRefusedError):
        return SocketError.CONNECTION_REFUSED_ERROR, "Connection refused"
    if isinstance(exc, FileNotFoundError):
        # No Unix socket at the path: QLocalSocket's ServerNotFoundError is Qt's
        # HostNotFoundError.
        where = f": {exc.filename}" if exc.filename else ""
        return SocketError.HOST_NOT_FOUND_ERROR, f"Unix socket not found{where}"
    if isinstance(exc, socket.gaierror):
        return SocketError.HOST_NOT_FOUND_ERROR, f"Host not found: {exc.strerror or exc}"
    if isinstance(exc, TimeoutError):
        return SocketError.SOCKET_TIMEOUT_ERROR, "Connection timed out"
    if isinstance(exc, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)):
        return SocketError.REMOTE_HOST_CLOSED_ERROR, "The remote host closed the connection"
    if isinstance(exc, PermissionError):
        return SocketError.SOCKET_ACCESS_ERROR, str(exc)
    if isinstance(exc, OSError):
        return SocketError.NETWORK_ERROR, exc.strerror or str(exc)
    return SocketError.UNKNOWN_SOCKET_ERROR, f"{type(exc).__name__}: {exc}"


def socket_address(info: Any) -> tuple[str, int]:
    """``(address, port)`` from a transport's ``peername``/``sockname``: ``(ip, port)``
    for TCP, ``(path, 0)`` for a Unix socket (``""`` when that end is unnamed)."""
    if isinstance(info, tuple) and len(info) >= 2:
        return str(info[0]), int(info[1])
    if isinstance(info, bytes):  # an abstract (Linux) Unix socket name
        return info.decode("utf-8", "surrogateescape"), 0
    if isinstance(info, str):
        return info, 0
    return "", 0


def _insecure_context() -> ssl.SSLContext:
    """A client context that verifies nothing: what ``ignore_ssl_errors()`` asked for."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class WebSocket(LoopObject):
    """A WebSocket client (or a server-side connection handed out by
    :class:`~tether.signals.WebSocketServer`), with Qt's signals and properties.

    ``WebSocket(origin="", version=13, *, loop=None, **declared)``: ``origin`` is sent
    as the ``Origin`` header when not empty.  ``declared`` are properties and
    ``on_<signal>`` slots, as in QML (see :class:`~tether.signals._object.LoopObject`).
    """

    Status: TypeAlias = Status
    _deferred = ("active",)

    # --- QWebSocket's signals
    connected = Signal()
    disconnected = Signal()
    state_changed = Signal(SocketState)
    text_message_received = Signal(str)
    binary_message_received = Signal(bytes)
    text_frame_received = Signal(str, bool)
    binary_frame_received = Signal(bytes, bool)
    pong = Signal(int, bytes)
    error_occurred = Signal(SocketError)
    about_to_close = Signal()
    bytes_written = Signal(int)
    ssl_errors = Signal(list)
    peer_verify_error = Signal(SslError)
    proxy_authentication_required = Signal(str, Authenticator)
    authentication_required = Signal(Authenticator)
    # --- QML WebSocket's signals
    status_changed = Signal(Status)
    active_changed = Signal(bool)
    url_changed = Signal(str)
    error_string_changed = Signal(str)
    # --- tether's own
    #: ``reconnecting(attempt, delay)``: the connection was lost (or an attempt failed)
    #: and :attr:`reconnect` is on; attempt ``attempt`` (from 1) starts in ``delay`` s.
    reconnecting = Signal(int, float)

    def __init__(
        self,
        origin: str = "",
        version: int = 13,
        *,
        loop: EventLoop | asyncio.AbstractEventLoop | None = None,
        **declared: Any,
    ) -> None:
        super().__init__(loop)
        if version != 13:
            raise ValueError("tether speaks WebSocket version 13 (RFC 6455) only")
        self._origin = origin
        self._url = ""
        self._request = NetworkRequest("")
        self._options = HandshakeOptions()
        self._requested_subprotocols: list[str] = []
        self._active = False
        # settings
        self._max_message: int | None = DEFAULT_MAX_SIZE
        self._max_frame: int | None = DEFAULT_MAX_SIZE
        self._outgoing_frame_size: int | None = DEFAULT_OUTGOING_FRAME_SIZE
        self._mask_generator: MaskSource | None = None
        self._proxy: str | bool | None = True
        self._ssl_configuration: ssl.SSLContext | None = None
        self._handshake_timeout: float | None = DEFAULT_HANDSHAKE_TIMEOUT
        self._compression: str | None = "deflate"
        # state
        self._state = SocketState.UNCONNECTED
        self._status = Status.CLOSED
        self._conn: Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._generation = 0
        self._server_side = False
        self._secure = False
        self._close_code: int = CloseCode.NORMAL
        self._close_reason = ""
        self._error = SocketError.UNKNOWN_SOCKET_ERROR
        self._error_string = ""
        self._exception: BaseException | None = None
        self._errored = False  # an error happened since open(): status ends as ERROR
        self._aborted = False
        self._connected_emitted = False
        self._ignore_ssl: bool | list[SslError] = False
        self._ping_started: float | None = None
        self._unreported = 0
        self._report_pending = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._server: Any = None
        self._handshake_timer: asyncio.TimerHandle | None = None
        # reconnection (see the reconnect property and tether.core.retry)
        self._reconnect = False
        self._backoff = Backoff()
        self._retry_on_close: frozenset[int] = DEFAULT_RETRY_ON_CLOSE
        self._process_exception: ProcessException = process_exception
        self._reconnector: Reconnector | None = None
        self._reconnect_timer: asyncio.TimerHandle | None = None
        self._opened_at: float | None = None
        self._user_closed = False  # close() or abort() since the last open(): no reconnect
        self._max_redirects = MAX_REDIRECTS
        self._unix_socket: str | None = None
        self._declare(declared)

    # ================================================================ properties

    @property
    def state(self) -> SocketState:
        """UNCONNECTED, CONNECTING, CONNECTED or CLOSING (``state()``)."""
        return self._state

    @property
    def status(self) -> Status:
        """The QML status: CONNECTING, OPEN, CLOSING, CLOSED or ERROR."""
        return self._status

    def is_valid(self) -> bool:
        """Whether the socket is open for sending and receiving (``isValid()``)."""
        return self._state is SocketState.CONNECTED

    @property
    def version(self) -> int:
        """The WebSocket protocol version: 13."""
        return 13

    @property
    def active(self) -> bool:
        """QML's ``active``: setting it opens :attr:`url`; clearing it closes."""
        return self._active

    @active.setter
    def active(self, value: bool) -> None:
        value = bool(value)
        if value == self._active:
            return
        self._active = value
        self._loop.invoke(self._apply_active, value, self._url)

    def _apply_active(self, active: bool, url: str) -> None:
        self.active_changed.emit(active)
        if active:
            if url:
                self._user_open(NetworkRequest(url), None)
        else:
            self._user_close(CloseCode.NORMAL, "")

    @property
    def url(self) -> str:
        """QML's ``url``: where :attr:`active` connects.  Changing it reconnects."""
        return self._url

    @url.setter
    def url(self, value: str) -> None:
        if value == self._url:
            return
        self._url = value
        self._loop.invoke(self._apply_url, value, self._active)

    def _apply_url(self, url: str, active: bool) -> None:
        self.url_changed.emit(url)
        if active and url:
            self._user_open(NetworkRequest(url), None)

    @property
    def requested_subprotocols(self) -> list[str]:
        """QML's ``requestedSubprotocols``: offered when :attr:`active` opens."""
        return list(self._requested_subprotocols)

    @requested_subprotocols.setter
    def requested_subprotocols(self, value: Sequence[str]) -> None:
        self._requested_subprotocols = list(value)

    @property
    def subprotocol(self) -> str:
        """The subprotocol the server chose, ``""`` if none (``subprotocol()``)."""
        conn = self._conn
        return (conn.subprotocol or "") if conn is not None else ""

    negotiated_subprotocol = subprotocol

    @property
    def origin(self) -> str:
        """The ``Origin`` sent (client) or received (server side), ``""`` if none."""
        if self._server_side:
            conn = self._conn
            if conn is not None and conn.request is not None:
                return conn.request.headers.get("Origin") or ""
            return ""
        return self._origin

    @property
    def request(self) -> NetworkRequest:
        """The upgrade request: URL and extra headers (``request()``)."""
        if self._server_side:
            conn = self._conn
            headers: dict[str, str] = {}
            if conn is not None and conn.request is not None:
                for name, value in conn.request.headers.items():
                    headers[name] = f"{headers[name]}, {value}" if name in headers else value
            return NetworkRequest(self.request_url, headers)
        return self._request

    @property
    def handshake_options(self) -> HandshakeOptions:
        """The options of the last :meth:`open` (``handshakeOptions()``)."""
        return self._options

    @property
    def request_url(self) -> str:
        """The URL opened (client) or requested (server side) (``requestUrl()``)."""
        if self._server_side:
            conn = self._conn
            if conn is None or conn.request is None:
                return ""
            host = conn.request.headers.get("Host") or ""
            return f"{'wss' if self._secure else 'ws'}://{host}{conn.request.target}"
        return self._request.url

    @property
    def resource_name(self) -> str:
        """The path and query of :attr:`request_url` (``resourceName()``)."""
        if self._server_side:
            conn = self._conn
            return conn.request.target if conn is not None and conn.request is not None else ""
        try:
            return parse_uri(self._request.url).resource_name
        except (InvalidURI, TypeError):
            return ""

    @property
    def close_code(self) -> int:
        """Why the socket closed: the code of the close frame that started the closing
        handshake (the peer's, or ours), 1006 when none came (``closeCode()``)."""
        return self._close_code

    @property
    def close_reason(self) -> str:
        """The reason that goes with :attr:`close_code` (``closeReason()``)."""
        return self._close_reason

    @property
    def error(self) -> SocketError:
        """The last error (``error()``)."""
        return self._error

    @property
    def error_string(self) -> str:
        """A readable description of the last error (``errorString()``)."""
        return self._error_string

    @property
    def exception(self) -> BaseException | None:
        """The Python exception behind the last error, if there was one."""
        return self._exception

    def _address(self, key: str) -> tuple[str, int]:
        conn = self._conn
        info = conn.transport.get_extra_info(key) if conn is not None and conn.transport else None
        return socket_address(info)

    @property
    def local_address(self) -> str:
        """This end's IP address (``localAddress()``); over a Unix socket, the path
        this end is bound to: ``""`` for a client, the server's path server side."""
        return self._address("sockname")[0]

    @property
    def local_port(self) -> int:
        """This end's TCP port (``localPort()``); 0 over a Unix socket."""
        return self._address("sockname")[1]

    @property
    def peer_address(self) -> str:
        """The peer's IP address (``peerAddress()``); over a Unix socket, the path the
        peer is bound to: the server's path for a client, ``""`` server side."""
        return self._address("peername")[0]

    @property
    def peer_port(self) -> int:
        """The peer's TCP port (``peerPort()``); 0 over a Unix socket."""
        return self._address("peername")[1]

    @property
    def peer_name(self) -> str:
        """The host name the client connected to (``peerName()``); ``""`` server side."""
        if self._server_side:
            return ""
        try:
            return parse_uri(self._request.url).host
        except (InvalidURI, TypeError):
            return ""

    @property
    def bytes_to_write(self) -> int:
        """Bytes waiting in the socket's write buffer (``bytesToWrite()``)."""
        conn = self._conn
        if conn is None or conn.transport is None:
            return 0
        return conn.transport.get_write_buffer_size()

    @property
    def max_allowed_incoming_message_size(self) -> int | None:
        """Largest message accepted; a larger one closes with 1009.  Default 1 MiB
        (tether's safe default; Qt allows ~2 GiB).  ``None``: no limit."""
        return self._max_message

    @max_allowed_incoming_message_size.setter
    def max_allowed_incoming_message_size(self, value: int | None) -> None:
        self._max_message = value
        self._loop.invoke(self._apply_limit, "max_size", value)

    @property
    def max_allowed_incoming_frame_size(self) -> int | None:
        """Largest frame accepted; a larger one closes with 1009.  Default 1 MiB."""
        return self._max_frame

    @max_allowed_incoming_frame_size.setter
    def max_allowed_incoming_frame_size(self, value: int | None) -> None:
        self._max_frame = value
        self._loop.invoke(self._apply_limit, "max_frame_size", value)

    @property
    def outgoing_frame_size(self) -> int | None:
        """Messages longer than this are sent fragmented, in frames of this size
        (default 512 KiB, as in Qt; ``None``: never fragment)."""
        return self._outgoing_frame_size

    @outgoing_frame_size.setter
    def outgoing_frame_size(self, value: int | None) -> None:
        if value is not None and value < 1:
            raise ValueError("outgoing_frame_size must be at least 1")
        self._outgoing_frame_size = value
        self._loop.invoke(self._apply_limit, "outgoing_frame_size", value)

    def _apply_limit(self, name: str, value: int | None) -> None:
        """Set one limit on the live connection (with the value of that setter call)."""
        conn = self._conn
        if conn is None:
            return
        if name != "max_frame_size":
            setattr(conn, name, value)
        if conn.protocol is not None:
            setattr(conn.protocol, name, value)

    def _apply_limits(self) -> None:
        conn = self._conn
        if conn is None:
            return
        conn.max_size = self._max_message
        conn.outgoing_frame_size = self._outgoing_frame_size
        p = conn.protocol
        if p is not None:
            p.max_size = self._max_message
            p.max_frame_size = self._max_frame
            p.outgoing_frame_size = self._outgoing_frame_size

    @property
    def mask_generator(self) -> MaskSource | None:
        """Where masking keys come from: a :class:`~tether.signals.MaskGenerator` or a
        callable returning 4 bytes; ``None`` for the OS's CSPRNG.  Used from the next
        :meth:`open`."""
        return self._mask_generator

    @mask_generator.setter
    def mask_generator(self, value: MaskSource | None) -> None:
        mask_function(value)  # type check now rather than at open()
        self._mask_generator = value

    @property
    def proxy(self) -> str | bool | None:
        """The proxy: a URL (``http://``, ``https://``, ``socks5://``, ``socks5h://``),
        ``True`` for the environment's (``https_proxy`` ...; the default), or
        ``None``/``False`` for none.  Used from the next :meth:`open`."""
        return self._proxy

    @proxy.setter
    def proxy(self, value: str | bool | None) -> None:
        if isinstance(value, str):
            parse_proxy(value)  # raise ValueError for a malformed URL now
        self._proxy = value

    @property
    def ssl_configuration(self) -> ssl.SSLContext | None:
        """The client's :class:`ssl.SSLContext` for wss:// (``None``: system CAs,
        see :func:`tether.tls.client_ssl_context`).  Used from the next :meth:`open`."""
        return self._ssl_configuration

    @ssl_configuration.setter
    def ssl_configuration(self, value: ssl.SSLContext | None) -> None:
        if value is not None and not isinstance(value, ssl.SSLContext):
            raise TypeError("ssl_configuration takes an ssl.SSLContext")
        self._ssl_configuration = value

    @property
    def handshake_timeout(self) -> float | None:
        """Seconds allowed for TCP, TLS and the opening handshake (default 10)."""
        return self._handshake_timeout

    @handshake_timeout.setter
    def handshake_timeout(self, value: float | None) -> None:
        self._handshake_timeout = value

    @property
    def max_redirects(self) -> int:
        """How many 3xx answers in a row :meth:`open` follows (default 10; 0: none).
        A redirect that leaves the origin drops the credentials; wss:// to ws:// is
        refused (see docs/clients.md)."""
        return self._max_redirects

    @max_redirects.setter
    def max_redirects(self, value: int) -> None:
        if int(value) < 0:
            raise ValueError("max_redirects must be >= 0")
        self._max_redirects = int(value)

    @property
    def unix_socket(self) -> str | None:
        """The path of a Unix domain socket to connect to instead of TCP (default
        ``None``: TCP).  The URL still gives the ``Host`` header and the request path
        (``ws://localhost/`` is fine); no proxy is used.  Used from the next
        :meth:`open`, and by reconnections (redirects stay on the same socket)."""
        return self._unix_socket

    @unix_socket.setter
    def unix_socket(self, value: str | os.PathLike[str] | None) -> None:
        if value is not None:
            value = os.fspath(value)
            if not isinstance(value, str) or not value:
                raise TypeError("unix_socket takes a path (str or os.PathLike) or None")
        self._unix_socket = value

    @property
    def reconnect(self) -> bool:
        """Open the connection again, after a backoff, when it is lost without the user
        closing it (default False).  Each wait is announced by :attr:`reconnecting`;
        :meth:`close` and :meth:`abort` stop it.  A close code outside
        :attr:`retry_on_close` (1000 and 1008 by default) ends it, and so does an error
        that :attr:`process_exception` says to keep (a 4xx answer, a bad certificate)."""
        return self._reconnect

    @reconnect.setter
    def reconnect(self, value: bool) -> None:
        self._reconnect = bool(value)
        if not value:
            self._loop.invoke(self._stop_reconnecting)

    @property
    def backoff_initial(self) -> float:
        """Seconds before the first reconnection (before jitter; default 3)."""
        return self._backoff.initial

    @backoff_initial.setter
    def backoff_initial(self, value: float) -> None:
        self._backoff = dataclasses.replace(
            self._backoff, initial=float(value), max=max(self._backoff.max, float(value)))

    @property
    def backoff_factor(self) -> float:
        """How much each wait grows over the previous one (default 1.618)."""
        return self._backoff.factor

    @backoff_factor.setter
    def backoff_factor(self, value: float) -> None:
        self._backoff = dataclasses.replace(self._backoff, factor=float(value))

    @property
    def backoff_max(self) -> float:
        """The longest wait between two attempts, in seconds (default 60)."""
        return self._backoff.max

    @backoff_max.setter
    def backoff_max(self, value: float) -> None:
        self._backoff = dataclasses.replace(
            self._backoff, max=float(value), initial=min(self._backoff.initial, float(value)))

    @property
    def backoff(self) -> Backoff:
        """The whole backoff policy (:class:`tether.core.retry.Backoff`)."""
        return self._backoff

    @backoff.setter
    def backoff(self, value: Backoff) -> None:
        if not isinstance(value, Backoff):
            raise TypeError("backoff takes a tether.core.retry.Backoff")
        self._backoff = value

    @property
    def retry_on_close(self) -> frozenset[int]:
        """The close codes after which :attr:`reconnect` opens again (default 1001,
        1006, 1011, 1012, 1013, 1014)."""
        return self._retry_on_close

    @retry_on_close.setter
    def retry_on_close(self, value: Collection[int]) -> None:
        self._retry_on_close = frozenset(int(c) for c in value)

    @property
    def process_exception(self) -> ProcessException:
        """``process_exception(exc)``: None to retry a failed attempt, or the exception
        to give up with (default :func:`tether.core.retry.process_exception`)."""
        return self._process_exception

    @process_exception.setter
    def process_exception(self, value: ProcessException) -> None:
        self._process_exception = value

    @property
    def compression(self) -> str | None:
        """``"deflate"`` (the default) offers permessage-deflate; ``None`` doesn't."""
        return self._compression

    @compression.setter
    def compression(self, value: str | None) -> None:
        if value not in ("deflate", None):
            raise ValueError('compression is "deflate" or None')
        self._compression = value

    # ================================================================ methods

    def open(self, url: str | NetworkRequest, options: HandshakeOptions | None = None) -> None:
        """Open a connection to ``url`` (a ``ws://``/``wss://`` URL or a
        :class:`NetworkRequest`), offering ``options.subprotocols``.

        Returns at once; :attr:`connected` or :attr:`error_occurred` follows.  An open
        connection is dropped first.
        """
        request = NetworkRequest(url) if isinstance(url, str) else url
        if not isinstance(request, NetworkRequest):
            raise TypeError("open() takes a URL string or a NetworkRequest")
        if self._server_side:
            raise UsageError("a server-side WebSocket cannot be opened again")
        self._loop.invoke(self._user_open, request, options)

    def close(self, close_code: int = CloseCode.NORMAL, reason: str = "") -> None:
        """Start the closing handshake with ``close_code`` and ``reason`` (clipped to
        123 bytes of UTF-8, as in Qt).  :attr:`disconnected` follows."""
        check_close_code(int(close_code))
        self._loop.invoke(self._user_close, int(close_code), _clip_utf8(reason, 123))

    def abort(self) -> None:
        """Drop the connection at once, without a closing handshake."""
        self._loop.invoke(self._user_abort)

    def ping(self, payload: bytes | str = b"") -> None:
        """Send a ping (payload clipped to 125 bytes); :attr:`pong` reports the answer."""
        data = payload.encode("utf-8") if isinstance(payload, str) else bytes(payload)
        self._loop.invoke(self._ping, data[:125])

    def send_text_message(self, message: str) -> int:
        """Send a text message; returns the bytes queued (its UTF-8 length), 0 if the
        socket is not open."""
        if not isinstance(message, str):
            raise TypeError("send_text_message() takes str; use send_binary_message() "
                            "for bytes")
        if self._state is not SocketState.CONNECTED:
            return 0
        size = len(message.encode("utf-8")) if not message.isascii() else len(message)
        self._loop.invoke(self._send, message)
        return size

    def send_binary_message(self, data: bytes | bytearray | memoryview) -> int:
        """Send a binary message; returns the bytes queued, 0 if the socket is not open."""
        if isinstance(data, str):
            raise TypeError("send_binary_message() takes bytes; use send_text_message() "
                            "for str")
        payload = bytes(data)
        if self._state is not SocketState.CONNECTED:
            return 0
        self._loop.invoke(self._send, payload)
        return len(payload)

    def flush(self) -> bool:
        """Report what reached the OS with :attr:`bytes_written` now.

        tether's transports write to the OS as soon as they can, so there is nothing
        to push; returns whether the write buffer is empty.
        """
        self._loop.invoke(self._report_written)
        return self.bytes_to_write == 0

    def ignore_ssl_errors(self, errors: Sequence[SslError] | None = None) -> None:
        """Go on despite TLS errors: from an :attr:`ssl_errors` slot, or before
        :meth:`open` (then every error is ignored).  With ``errors``, only those.

        The connection then proceeds without certificate verification: anyone on the
        path can read and change the traffic.  For tests and throw-away setups only;
        trust a private CA with :attr:`ssl_configuration` instead.
        """
        self._ignore_ssl = True if errors is None else list(errors)

    # ================================================================ on the loop thread

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = self._loop.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("WebSocket task failed", exc_info=task.exception())

    def _set_state(self, state: SocketState) -> None:
        if state is self._state:
            return
        self._state = state
        self.state_changed.emit(state)
        status = _STATUS_FOR_STATE.get(state)
        if status is Status.CLOSED and self._errored:
            status = Status.ERROR
        if status is not None:
            self._set_status(status)

    def _set_status(self, status: Status) -> None:
        if status is not self._status:
            self._status = status
            self.status_changed.emit(status)

    def _set_error(self, error: SocketError, text: str, exc: BaseException | None) -> None:
        self._error = error
        self._exception = exc
        self._errored = True
        if text != self._error_string:
            self._error_string = text
            self.error_string_changed.emit(text)
        self.error_occurred.emit(error)
        self._set_status(Status.ERROR)

    def _detach(self) -> None:
        """Forget the current connection attempt/connection, dropping it."""
        self._generation += 1
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
        conn = self._conn
        if conn is not None:
            self._unhook(conn)
            conn.abort()

    @staticmethod
    def _unhook(conn: Connection) -> None:
        conn.open_listener = None
        conn.message_listener = None
        conn.frame_listener = None
        conn.close_listener = None
        conn.pong_listener = None

    # ---------------------------------------------------------------- reconnection

    def _user_open(self, request: NetworkRequest, options: HandshakeOptions | None) -> None:
        self._stop_reconnecting()
        self._user_closed = False
        self._open(request, options)

    def _user_close(self, code: int, reason: str) -> None:
        self._stop_reconnecting()
        self._user_closed = True
        self._close(code, reason)

    def _user_abort(self) -> None:
        self._stop_reconnecting()
        self._user_closed = True
        self._abort()

    def _stop_reconnecting(self) -> None:
        """Forget the backoff and cancel a reconnection waiting for its turn."""
        self._reconnector = None
        timer, self._reconnect_timer = self._reconnect_timer, None
        if timer is not None:
            timer.cancel()

    def _schedule_reconnect(self) -> None:
        """Open again after the next backoff delay, announcing it with reconnecting."""
        if self._reconnector is None:
            self._reconnector = Reconnector(self._backoff)
        delay = self._reconnector.next_delay()
        attempt = self._reconnector.attempt
        if self._reconnect_timer is not None:
            self._reconnect_timer.cancel()
        self._reconnect_timer = self._loop.loop.call_later(delay, self._reconnect_now)
        logger.info("reconnecting to %s in %.2f s (attempt %d)", self._request.url, delay,
                    attempt)
        self.reconnecting.emit(attempt, delay)

    def _reconnect_now(self) -> None:
        self._reconnect_timer = None
        if (self._reconnect and not self._server_side and not self._user_closed
                and self._state is SocketState.UNCONNECTED):
            self._open(self._request, self._options)

    def _open(self, request: NetworkRequest, options: HandshakeOptions | None) -> None:
        if self._state is not SocketState.UNCONNECTED:
            self._detach()
            self._finish(emit_error=False)
        if options is None:
            options = HandshakeOptions(tuple(self._requested_subprotocols))
        self._request = request
        self._options = options
        self._close_code = CloseCode.NORMAL
        self._close_reason = ""
        self._errored = False
        self._aborted = False
        self._conn = None
        try:
            parse_uri(request.url)
        except (InvalidURI, TypeError) as exc:
            self._set_error(*_socket_error(
                exc if isinstance(exc, InvalidURI) else InvalidURI(str(request.url), str(exc))),
                exc)
            return
        self._set_state(SocketState.CONNECTING)
        self._generation += 1
        self._task = self._loop.loop.create_task(self._run_client(self._generation))

    async def _run_client(self, generation: int) -> None:
        request = self._request
        wsuri = parse_uri(request.url)
        ctx: ssl.SSLContext | None = self._ssl_configuration if wsuri.secure else None
        if wsuri.secure and self._ignore_ssl is True:
            ctx = _insecure_context()
        headers = dict(request.headers)
        proxy: str | bool | None = self._proxy
        tried_ssl = tried_proxy = tried_auth = False
        while True:
            try:
                conn = await self._connect_once(generation, wsuri.secure, ctx, headers, proxy)
                break
            except asyncio.CancelledError:
                raise
            except ssl.SSLCertVerificationError as exc:
                if generation != self._generation:
                    return
                err = SslError.from_exception(exc, wsuri.host)
                self.peer_verify_error.emit(err)
                self.ssl_errors.emit([err])
                if generation != self._generation:
                    return  # a slot aborted or opened again
                ignore = self._ignore_ssl
                if not tried_ssl and (ignore is True or (isinstance(ignore, list)
                                                         and err in ignore)):
                    tried_ssl = True
                    ctx = _insecure_context()
                    continue
                self._failed(SocketError.SSL_HANDSHAKE_FAILED_ERROR, err.error_string, exc)
                return
            except ProxyError as exc:
                if generation != self._generation:
                    return
                found = self._proxy_in_use(wsuri.secure, wsuri.host, wsuri.port, proxy)
                if exc.status == 407 and not tried_proxy and found is not None:
                    tried_proxy = True
                    auth = Authenticator()
                    self.proxy_authentication_required.emit(found.url, auth)
                    if generation != self._generation:
                        return
                    if not auth.is_null():
                        proxy = (f"{found.scheme}://{urllib.parse.quote(auth.user, safe='')}:"
                                 f"{urllib.parse.quote(auth.password, safe='')}@{found.address}")
                        continue
                self._failed(*_socket_error(exc), exc)
                return
            except InvalidStatus as exc:
                if generation != self._generation:
                    return
                if exc.status == 401 and not tried_auth:
                    tried_auth = True
                    auth = Authenticator(exc.realm or "")
                    self.authentication_required.emit(auth)
                    if generation != self._generation:
                        return
                    if not auth.is_null():
                        token = base64.b64encode(f"{auth.user}:{auth.password}".encode()).decode()
                        headers["Authorization"] = f"Basic {token}"
                        continue
                self._failed(*_socket_error(exc), exc)
                return
            except Exception as exc:
                if generation != self._generation:
                    return
                self._failed(*_socket_error(exc), exc)
                return
        try:
            await conn.wait_closed()
        except asyncio.CancelledError:
            conn.abort()  # the loop is closing: drop the connection with it
            raise
        if generation == self._generation:
            self._on_closed()

    @staticmethod
    def _proxy_in_use(secure: bool, host: str, port: int,
                      proxy: str | bool | None) -> Proxy | None:
        if isinstance(proxy, str):
            return parse_proxy(proxy)
        if proxy is True:
            return get_proxy(secure, host, port)
        return None

    async def _connect_once(self, generation: int, secure: bool, ctx: ssl.SSLContext | None,
                            headers: dict[str, str], proxy: str | bool | None) -> Connection:
        def adopt(conn: Connection) -> None:
            if generation == self._generation:
                self._hook(conn)

        timeout = self._request.transfer_timeout
        kwargs: dict[str, Any] = dict(
            origin=self._origin or None,
            subprotocols=list(self._options.subprotocols) or None,
            additional_headers=headers or None,
            compression=self._compression,
            proxy=proxy,
            open_timeout=timeout if timeout is not None else self._handshake_timeout,
            ping_interval=None, ping_timeout=None, close_timeout=CLOSE_TIMEOUT,
            max_size=self._max_message, max_queue=None,
            frame_events=True, outgoing_frame_size=self._outgoing_frame_size,
            mask_generator=mask_function(self._mask_generator),
            max_redirects=self._max_redirects,
        )
        if secure and ctx is not None:
            kwargs["ssl"] = ctx
        path = self._unix_socket
        if path is not None:
            kwargs["unix_socket"] = path
        token = connection_created.set(adopt)
        try:
            return await connect(self._request.url, **kwargs)
        except FileNotFoundError as exc:
            if path is None or exc.filename:
                raise
            raise FileNotFoundError(exc.errno, exc.strerror, path) from exc
        finally:
            connection_created.reset(token)

    def _hook(self, conn: Connection) -> None:
        """Attach this socket's listeners to a new connection, before it reads a byte."""
        self._conn = conn
        conn.open_listener = self._on_open
        conn.message_listener = self._on_message
        conn.frame_listener = self._on_frame
        conn.close_listener = self._on_close_frame
        conn.pong_listener = self._on_pong

    def _failed(self, error: SocketError, text: str, exc: BaseException | None) -> None:
        self._task = None
        self._conn = None
        self._ignore_ssl = False
        self._set_error(error, text, exc)
        self._set_state(SocketState.UNCONNECTED)
        if (self._reconnect and not self._user_closed and isinstance(exc, Exception)
                and self._state is SocketState.UNCONNECTED and self._reconnect_timer is None
                and self._process_exception(exc) is None):
            self._schedule_reconnect()

    # ---------------------------------------------------------------- connection events

    def _on_open(self) -> None:
        conn = self._conn
        assert conn is not None
        self._apply_limits()
        self._opened_at = time.monotonic()
        self._set_state(SocketState.CONNECTED)
        if not self._server_side:
            self._connected_emitted = True
            self.connected.emit()
        else:
            server = self._server
            if server is not None:
                server._on_handshake_done(self)

    def _on_message(self, data: str | bytes) -> None:
        if type(data) is str:
            self.text_message_received.emit(data)
        else:
            self.binary_message_received.emit(data)

    def _on_frame(self, data: str | bytes, is_last: bool) -> None:
        if type(data) is str:
            self.text_frame_received.emit(data, is_last)
        else:
            self.binary_frame_received.emit(data, is_last)

    def _on_close_frame(self, code: int, reason: str) -> None:
        if self._state is SocketState.CONNECTED:
            self.about_to_close.emit()
            self._set_state(SocketState.CLOSING)

    def _on_pong(self, latency: float, payload: bytes) -> None:
        started = self._ping_started
        elapsed = int((time.monotonic() - started) * 1000) if started is not None else 0
        self.pong.emit(elapsed, payload)

    def _on_closed(self) -> None:
        """The TCP connection is gone: settle close code, state and signals."""
        conn = self._conn
        self._task = None
        if conn is None:
            return
        self._unhook(conn)
        p = conn.protocol
        rcvd = p.close_rcvd if p is not None else None
        sent = p.close_sent if p is not None else None
        if rcvd is not None and (sent is None or (p is not None and p.close_rcvd_then_sent)):
            code, reason = rcvd.code, rcvd.reason
        elif sent is not None:
            code, reason = sent.code, sent.reason
        else:
            code, reason = CloseCode.ABNORMAL_DISCONNECTION, ""
        self._close_code = close_code(code)
        self._close_reason = reason
        if self._state is SocketState.CONNECTED and (sent is not None or rcvd is not None):
            # We failed the connection (bad data from the peer): closing started here.
            self.about_to_close.emit()
            self._set_state(SocketState.CLOSING)
        self._finish(emit_error=sent is None and rcvd is None and not self._aborted)
        described = describing_close_code(
            rcvd.code if rcvd is not None else None, sent.code if sent is not None else None,
            p.close_rcvd_then_sent if p is not None else None)
        if (self._reconnect and not self._server_side and not self._user_closed
                and self._state is SocketState.UNCONNECTED and self._reconnect_timer is None
                and should_retry_close(described, self._retry_on_close)):
            if self._reconnector is None:
                self._reconnector = Reconnector(self._backoff)
            if self._opened_at is not None:
                self._reconnector.connection_lasted(time.monotonic() - self._opened_at)
            self._schedule_reconnect()

    def _finish(self, emit_error: bool) -> None:
        if emit_error and self._state is not SocketState.UNCONNECTED:
            self._set_error(SocketError.REMOTE_HOST_CLOSED_ERROR,
                            "The remote host closed the connection", None)
        self._ignore_ssl = False
        self._set_state(SocketState.UNCONNECTED)
        if self._connected_emitted or self._server_side:
            self._connected_emitted = False
            self.disconnected.emit()

    # ---------------------------------------------------------------- actions

    def _close(self, code: int, reason: str) -> None:
        if self._state is SocketState.CONNECTING:
            self._close_code = close_code(code)
            self._close_reason = reason
            self._detach()
            self._conn = None
            self._set_state(SocketState.UNCONNECTED)
            return
        conn = self._conn
        if self._state is not SocketState.CONNECTED or conn is None:
            return
        self._close_code = close_code(code)
        self._close_reason = reason
        self.about_to_close.emit()
        self._set_state(SocketState.CLOSING)
        self._spawn(conn.close(code, reason))

    def _abort(self) -> None:
        if self._state is SocketState.CONNECTING:
            self._detach()
            self._conn = None
            self._set_state(SocketState.UNCONNECTED)
            return
        conn = self._conn
        if conn is not None and self._state is not SocketState.UNCONNECTED:
            self._aborted = True
            conn.abort()

    def _sendable(self) -> Connection | None:
        conn = self._conn
        if conn is None or self._state is not SocketState.CONNECTED:
            return None
        p = conn.protocol
        if p is None or p.state is not State.OPEN:
            return None
        return conn

    def _send(self, data: str | bytes) -> None:
        conn = self._sendable()
        if conn is None:
            logger.debug("message dropped: the socket is %s", self._state.name)
            return
        assert conn.protocol is not None
        conn.protocol.send_message(data)
        self._write(conn)

    def _ping(self, payload: bytes) -> None:
        conn = self._sendable()
        if conn is None:
            return
        assert conn.protocol is not None
        self._ping_started = time.monotonic()
        conn.protocol.send_ping(payload)
        self._write(conn)

    def _write(self, conn: Connection) -> None:
        assert conn.protocol is not None
        out = conn.protocol.data_to_send()
        transport = conn.transport
        if not out or transport is None or transport.is_closing():
            return
        transport.writelines(out)
        self._unreported += sum(len(b) for b in out)
        if not self._report_pending:
            self._report_pending = True
            self._loop.loop.call_soon(self._report_written)

    def _report_written(self) -> None:
        self._report_pending = False
        if not self._unreported:
            return
        conn = self._conn
        transport = conn.transport if conn is not None else None
        if conn is None or transport is None or conn.state is State.CLOSED:
            self._unreported = 0  # gone with the connection
            return
        waiting = min(transport.get_write_buffer_size(), self._unreported)
        written = self._unreported - waiting
        if written:
            self._unreported = waiting
            self.bytes_written.emit(written)
        if self._unreported:
            self._report_pending = True
            self._loop.loop.call_later(_WRITE_POLL, self._report_written)

    # ---------------------------------------------------------------- server side

    @classmethod
    def _accepted(cls, conn: Connection, server: Any, loop: EventLoop,
                  secure: bool) -> WebSocket:
        """The socket for a connection a :class:`WebSocketServer` accepted."""
        ws = cls(loop=loop)
        ws._server_side = True
        ws._server = server
        ws._secure = secure
        ws._state = SocketState.CONNECTING
        ws._status = Status.CONNECTING
        ws._hook(conn)
        return ws

    async def _serve(self, conn: Connection) -> None:
        """The handler of a server-side connection: runs until it is closed."""
        try:
            await conn.wait_closed()
        except asyncio.CancelledError:
            conn.abort()  # the loop is closing: drop the connection with it
            raise
        if self._conn is conn:
            self._on_closed()

    def __repr__(self) -> str:
        where = self.request_url or "-"
        return f"<WebSocket {self._state.name} {where}>"
