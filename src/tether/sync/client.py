"""The blocking WebSocket client: :func:`connect` and the client side of a connection."""

from __future__ import annotations

import base64
import logging
import socket
import ssl as ssl_module
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from typing import Any, Literal, overload

from ..core.extensions.base import ClientExtensionFactory
from ..core.extensions.compression import client_extensions
from ..core.handshake import ClientHandshake, HeadersLike
from ..core.http11 import MAX_HEADER_BYTES, Headers, Response, build_request, parse_response
from ..core.protocol import DEFAULT_MAX_SIZE, Protocol, Role, State
from ..core.proxy import Proxy, get_proxy, parse_proxy
from ..core.redirect import (
    MAX_REDIRECTS,
    next_hop,
)
from ..core.retry import (
    BACKOFF_FACTOR,
    BACKOFF_INITIAL,
    BACKOFF_MAX,
    DEFAULT_RETRY_ON_CLOSE,
    Backoff,
    ProcessException,
    Reconnector,
    describing_close_code,
    process_exception,
    should_retry_close,
)
from ..core.uri import WebSocketURI, parse_uri
from ..exceptions import InvalidMessage, InvalidStatus, UsageError
from ..tls import clarify_tls_error, client_ssl_context
from ..version import __version__
from .connection import Connection, Socket
from .proxy import open_tunnel, remaining
from .tls_in_tls import TLSInTLSSocket

__all__ = ["ClientConnection", "OnReconnect", "connect", "unix_connect"]

logger = logging.getLogger("tether.sync.client")


class ClientConnection(Connection):
    """The client side of a WebSocket connection (made by :func:`connect`)."""

    is_client = True
    #: :meth:`close` was called on this side (a reconnecting iterator stops after a
    #: closing handshake this side started).
    closed_by_user = False

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection with the closing handshake and wait until it is done."""
        self.closed_by_user = True
        super().close(code, reason)


#: ``on_reconnect(connection)``: called after each reconnection, before the connection
#: is handed to the ``for`` body.
OnReconnect = Callable[[ClientConnection], object]


def _choose_proxy(proxy: str | bool | None, wsuri: WebSocketURI) -> Proxy | None:
    if proxy is True:
        return get_proxy(wsuri.secure, wsuri.host, wsuri.port)
    if proxy is None or proxy is False:
        return None
    return parse_proxy(proxy)


@overload
def connect(
    uri: str,
    *,
    origin: str | None = None,
    subprotocols: Sequence[str] | None = None,
    extensions: Sequence[ClientExtensionFactory] | None = None,
    compression: str | None = "deflate",
    additional_headers: HeadersLike | None = None,
    user_agent_header: str | None = None,
    ssl: ssl_module.SSLContext | bool | None = None,
    server_hostname: str | None = None,
    proxy: str | bool | None = True,
    proxy_ssl: ssl_module.SSLContext | None = None,
    open_timeout: float | None = 10,
    ping_interval: float | None = 20,
    ping_timeout: float | None = 20,
    close_timeout: float | None = 10,
    max_size: int | None = DEFAULT_MAX_SIZE,
    max_queue: int | None = 16,
    sock: socket.socket | None = None,
    unix_socket: str | None = None,
    max_redirects: int = MAX_REDIRECTS,
    auth: tuple[str, str] | None = None,
    backoff: Backoff | None = None,
    backoff_initial: float = BACKOFF_INITIAL,
    backoff_factor: float = BACKOFF_FACTOR,
    backoff_max: float = BACKOFF_MAX,
    process_exception: ProcessException = process_exception,
    retry_on_close: Collection[int] = DEFAULT_RETRY_ON_CLOSE,
    on_reconnect: OnReconnect | None = None,
    reconnect: Literal[False] = False,
) -> ClientConnection: ...


@overload
def connect(
    uri: str,
    *,
    origin: str | None = None,
    subprotocols: Sequence[str] | None = None,
    extensions: Sequence[ClientExtensionFactory] | None = None,
    compression: str | None = "deflate",
    additional_headers: HeadersLike | None = None,
    user_agent_header: str | None = None,
    ssl: ssl_module.SSLContext | bool | None = None,
    server_hostname: str | None = None,
    proxy: str | bool | None = True,
    proxy_ssl: ssl_module.SSLContext | None = None,
    open_timeout: float | None = 10,
    ping_interval: float | None = 20,
    ping_timeout: float | None = 20,
    close_timeout: float | None = 10,
    max_size: int | None = DEFAULT_MAX_SIZE,
    max_queue: int | None = 16,
    sock: socket.socket | None = None,
    unix_socket: str | None = None,
    max_redirects: int = MAX_REDIRECTS,
    auth: tuple[str, str] | None = None,
    backoff: Backoff | None = None,
    backoff_initial: float = BACKOFF_INITIAL,
    backoff_factor: float = BACKOFF_FACTOR,
    backoff_max: float = BACKOFF_MAX,
    process_exception: ProcessException = process_exception,
    retry_on_close: Collection[int] = DEFAULT_RETRY_ON_CLOSE,
    on_reconnect: OnReconnect | None = None,
    reconnect: Literal[True],
) -> Iterator[ClientConnection]: ...


def connect(
    uri: str,
    *,
    origin: str | None = None,
    subprotocols: Sequence[str] | None = None,
    extensions: Sequence[ClientExtensionFactory] | None = None,
    compression: str | None = "deflate",
    additional_headers: HeadersLike | None = None,
    user_agent_header: str | None = None,
    ssl: ssl_module.SSLContext | bool | None = None,
    server_hostname: str | None = None,
    proxy: str | bool | None = True,
    proxy_ssl: ssl_module.SSLContext | None = None,
    open_timeout: float | None = 10,
    ping_interval: float | None = 20,
    ping_timeout: float | None = 20,
    close_timeout: float | None = 10,
    max_size: int | None = DEFAULT_MAX_SIZE,
    max_queue: int | None = 16,
    sock: socket.socket | None = None,
    unix_socket: str | None = None,
    max_redirects: int = MAX_REDIRECTS,
    auth: tuple[str, str] | None = None,
    backoff: Backoff | None = None,
    backoff_initial: float = BACKOFF_INITIAL,
    backoff_factor: float = BACKOFF_FACTOR,
    backoff_max: float = BACKOFF_MAX,
    process_exception: ProcessException = process_exception,
    retry_on_close: Collection[int] = DEFAULT_RETRY_ON_CLOSE,
    on_reconnect: OnReconnect | None = None,
    reconnect: bool = False,
) -> ClientConnection | Iterator[ClientConnection]:
    """Open a WebSocket connection to ``uri`` and return it once the handshake is done.

    ``with connect(uri) as ws:`` closes it on exit.  Options have the names and
    meanings of :func:`tether.connect`.  ``ssl`` is the :class:`ssl.SSLContext` for
    ``wss://`` (default: :func:`tether.tls.client_ssl_context`); ``proxy=True``
    follows the environment (``wss_proxy``/``https_proxy``/``all_proxy``, ...,
    ``no_proxy``), a URL (``http://``, ``https://``, ``socks5://``, ``socks5h://``)
    names one, ``None`` connects directly; ``proxy_ssl`` is the context for TLS to an
    ``https://`` proxy.  ``sock`` is an already connected socket to use instead, and
    ``unix_socket`` the path of a Unix domain socket to connect to.
    Everything up to the end of the opening handshake (redirects included) must take
    less than ``open_timeout`` seconds, or :exc:`TimeoutError` is raised.

    ``max_redirects`` 3xx answers are followed in a row; ``auth=(user, password)``
    sends HTTP Basic credentials (so does ``ws://user:pass@host/``).

    ``for ws in connect(uri, reconnect=True):`` yields a connection, and a new one
    each time the previous one is lost, as ``async for ws in tether.connect(uri)``
    does: ``backoff*``, ``process_exception``, ``retry_on_close`` and ``on_reconnect``
    have the same meanings (see docs/clients.md).
    """
    wsuri = parse_uri(uri)
    if ssl is not None and ssl is not True and ssl is not False and not wsuri.secure:
        raise UsageError("ssl= was given for a ws:// URI: use wss:// for TLS")
    if ssl is not None and not isinstance(ssl, (bool, ssl_module.SSLContext)):
        raise TypeError("ssl= takes an ssl.SSLContext (see tether.tls.client_ssl_context)")
    if sock is not None and unix_socket is not None:
        raise UsageError("give sock= or unix_socket=, not both")
    if max_redirects < 0:
        raise ValueError("max_redirects must be >= 0")
    if sock is not None and reconnect:
        raise UsageError("reconnect=True needs to open new connections: not with sock=")
    headers = _headers_list(additional_headers)
    if auth is not None:
        headers = [(k, v) for k, v in headers if k.lower() != "authorization"]
        headers.append(("Authorization", _basic(*auth)))
    elif wsuri.user_info is not None:
        # Carried to same-origin redirects whose Location has no user:password@.
        headers.append(("Authorization", _basic(*wsuri.user_info)))
    opener = _Opener(
        uri=uri, headers=headers, origin=origin, subprotocols=subprotocols,
        extensions=client_extensions(compression, extensions),
        user_agent=user_agent_header if user_agent_header is not None
        else f"tether/{__version__}",
        ssl=ssl if isinstance(ssl, ssl_module.SSLContext) else None,
        server_hostname=server_hostname, proxy=proxy, proxy_ssl=proxy_ssl,
        open_timeout=open_timeout, sock=sock, unix_socket=unix_socket,
        max_redirects=max_redirects,
        options=dict(max_size=max_size, max_queue=max_queue, ping_interval=ping_interval,
                     ping_timeout=ping_timeout, close_timeout=close_timeout),
    )
    if not reconnect:
        return opener.open()
    policy = backoff if backoff is not None else Backoff(
        initial=backoff_initial, factor=backoff_factor, max=backoff_max)
    return _reconnecting(opener, policy, process_exception, frozenset(retry_on_close),
                         on_reconnect)


def unix_connect(path: str, uri: str = "ws://localhost/", **options: Any) -> ClientConnection:
    """Connect to a WebSocket server listening on the Unix domain socket ``path``.

    ``uri`` gives the Host header and the request path; ``options`` are those of
    :func:`connect` (for reconnection, use ``connect(uri, unix_socket=path,
    reconnect=True)``).
    """
    if options.get("reconnect"):
        raise UsageError("unix_connect() opens one connection: use connect(uri, "
                         "unix_socket=path, reconnect=True) to reconnect")
    conn = connect(uri, unix_socket=path, **options)
    assert isinstance(conn, ClientConnection)
    return conn


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _headers_list(value: HeadersLike | None) -> list[tuple[str, str]]:
    if value is None:
        return []
    if isinstance(value, (dict, Headers)):
        return list(value.items())
    return list(value)


class _Opener:
    """Opens one connection: redirects, then the handshake (what connect() does once)."""

    def __init__(self, *, uri: str, headers: list[tuple[str, str]], origin: str | None,
                 subprotocols: Sequence[str] | None,
                 extensions: Sequence[ClientExtensionFactory],
                 user_agent: str, ssl: ssl_module.SSLContext | None,
                 server_hostname: str | None, proxy: str | bool | None,
                 proxy_ssl: ssl_module.SSLContext | None, open_timeout: float | None,
                 sock: socket.socket | None, unix_socket: str | None, max_redirects: int,
                 options: dict[str, Any]) -> None:
        self.uri = uri
        self.headers = headers
        self.origin = origin
        self.subprotocols = subprotocols
        self.extensions = extensions
        self.user_agent = user_agent
        self.ssl = ssl
        self.server_hostname = server_hostname
        self.proxy = proxy
        self.proxy_ssl = proxy_ssl
        self.open_timeout = open_timeout
        self.sock = sock
        self.unix_socket = unix_socket
        self.max_redirects = max_redirects
        self.options = options

    def open(self) -> ClientConnection:
        deadline = None if self.open_timeout is None else time.monotonic() + self.open_timeout
        uri, headers = self.uri, self.headers
        wsuri = parse_uri(uri)
        redirects = 0
        while True:
            try:
                return self._open_once(wsuri, headers, deadline)
            except InvalidStatus as exc:
                uri, wsuri, headers = next_hop(exc, uri, wsuri, headers, redirects,
                                              self.max_redirects)
                redirects += 1
                logger.info("HTTP %d: redirected to %s", exc.status, uri)

    def _open_once(self, wsuri: WebSocketURI, headers: list[tuple[str, str]],
                   deadline: float | None) -> ClientConnection:
        context: ssl_module.SSLContext | None = None
        if wsuri.secure:
            context = self.ssl if self.ssl is not None else client_ssl_context()
        hostname = self.server_hostname or wsuri.host
        handshake = ClientHandshake(
            wsuri, origin=self.origin, subprotocols=self.subprotocols,
            extensions=self.extensions, additional_headers=headers,
            user_agent_header=self.user_agent,
        )
        sock = self.sock
        stream: Socket | None = None
        try:
            stream, leftover = _open_stream(wsuri, context, hostname, self.proxy,
                                            self.proxy_ssl, sock, self.unix_socket,
                                            self.user_agent, deadline)
            stream.settimeout(remaining(deadline))
            stream.sendall(build_request(handshake.request))
            response, leftover = _read_response(stream, leftover, deadline)
            negotiated = handshake.process_response(response)
            stream.settimeout(None)
        except BaseException:
            if stream is not None:
                stream.close()
            elif sock is not None:
                sock.close()
            raise
        finally:
            self.sock = None  # a given socket serves one attempt only
        max_size = self.options["max_size"]
        conn = ClientConnection(stream, **self.options)
        conn.request = handshake.request
        conn.response = response
        conn.subprotocol = negotiated.subprotocol
        conn._start(Protocol(Role.CLIENT, max_size=max_size, extensions=negotiated.extensions),
                    leftover)
        return conn


def _reconnecting(opener: _Opener, backoff: Backoff, process: ProcessException,
                  retry_on_close: frozenset[int],
                  on_reconnect: OnReconnect | None) -> Iterator[ClientConnection]:
    """The iterator of ``connect(..., reconnect=True)``: the rules of
    ``async for ws in tether.connect(uri)``, on the calling thread."""
    retry = Reconnector(backoff)
    opened_before = False
    while True:
        try:
            conn = opener.open()
        except Exception as exc:
            verdict = process(exc)
            if verdict is not None:
                if verdict is exc:
                    raise
                raise verdict from exc
            delay = retry.next_delay()
            logger.info("connecting to %s failed (%s); retrying in %.2f s",
                        opener.uri, exc, delay)
            time.sleep(delay)
            continue
        opened_at = time.monotonic()
        if opened_before and on_reconnect is not None:
            try:
                on_reconnect(conn)
            except BaseException:
                conn.close()
                raise
        opened_before = True
        yield conn
        if conn.state is State.OPEN:
            conn.close()
            return
        conn._closed.wait(conn.close_timeout)
        p = conn.protocol
        sent = p.close_sent if p is not None else None
        rcvd = p.close_rcvd if p is not None else None
        then = p.close_rcvd_then_sent if p is not None else None
        if conn.closed_by_user and sent is not None and not then:
            logger.info("connection to %s closed by this side: not reconnecting", opener.uri)
            return
        code = describing_close_code(rcvd.code if rcvd is not None else None,
                                     sent.code if sent is not None else None, then)
        if not should_retry_close(code, retry_on_close):
            logger.info("connection to %s closed with %d: not reconnecting", opener.uri, code)
            return
        retry.connection_lasted(time.monotonic() - opened_at)
        delay = retry.next_delay()
        logger.info("connection to %s lost (%d); reconnecting in %.2f s",
                    opener.uri, code, delay)
        time.sleep(delay)


def _open_stream(
    wsuri: WebSocketURI,
    context: ssl_module.SSLContext | None,
    hostname: str,
    proxy: str | bool | None,
    proxy_ssl: ssl_module.SSLContext | None,
    sock: socket.socket | None,
    unix_socket: str | None,
    user_agent: str,
    deadline: float | None,
) -> tuple[Socket, bytes]:
    """Connect (directly, through a proxy, on ``sock`` or to a Unix socket) and start
    TLS for wss://."""
    leftover = b""
    direct = sock is not None or unix_socket is not None
    chosen = None if direct else _choose_proxy(proxy, wsuri)
    if sock is not None:
        raw = sock
    elif unix_socket is not None:
        raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            raw.settimeout(remaining(deadline))
            raw.connect(unix_socket)
        except BaseException:
            raw.close()
            raise
    elif chosen is not None:
        raw, leftover = open_tunnel(chosen, wsuri.host, wsuri.port, deadline=deadline,
                                    ssl_to_proxy=proxy_ssl, user_agent=user_agent)
    else:
        raw = socket.create_connection((wsuri.host, wsuri.port), timeout=remaining(deadline))
    try:
        if raw.family in (socket.AF_INET, socket.AF_INET6):
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if context is None:
            return raw, leftover
        raw.settimeout(remaining(deadline))
        if isinstance(raw, ssl_module.SSLSocket):
            # wss:// through an https:// proxy: TLS inside the proxy's TLS.
            return TLSInTLSSocket(raw, context, hostname, leftover), b""
        if leftover:
            raise InvalidMessage(
                f"the proxy sent {len(leftover)} unexpected bytes after opening the tunnel")
        try:
            return context.wrap_socket(raw, server_hostname=hostname), b""
        except ssl_module.SSLError as exc:
            raise clarify_tls_error(exc, hostname) from exc
    except BaseException:
        raw.close()
        raise


def _read_response(stream: Socket, buf: bytes, deadline: float | None) -> tuple[Response, bytes]:
    """Read the server's answer to the upgrade request; returns it and the bytes after it."""
    data = bytearray(buf)
    scanned = 0  # what earlier calls looked at: parsing stays linear
    while True:
        parsed = parse_response(data, scanned)
        if parsed is not None:
            break
        stream.settimeout(remaining(deadline))
        chunk = stream.recv(65536)
        if not chunk:
            raise InvalidMessage("the server closed the connection during the handshake")
        scanned = len(data)
        data += chunk
    response, used = parsed
    del data[:used]
    if response.status != 101:
        # Keep the body, for the error (bounded, and only what comes before the deadline).
        try:
            length = min(int(response.headers.get("Content-Length") or 0), MAX_HEADER_BYTES)
        except ValueError:
            length = 0
        try:
            while len(data) < length:
                stream.settimeout(remaining(deadline))
                chunk = stream.recv(length - len(data))
                if not chunk:
                    break
                data += chunk
        except OSError:
            pass
        response.body = bytes(data[:length])
    return response, bytes(data)
