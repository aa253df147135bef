"""The blocking WebSocket client: :func:`connect` and the client side of a connection."""

from __future__ import annotations

import logging
import socket
import ssl as ssl_module
import time
from collections.abc import Sequence

from ..core.extensions.base import ClientExtensionFactory
from ..core.extensions.compression import client_extensions
from ..core.handshake import ClientHandshake, HeadersLike
from ..core.http11 import MAX_HEADER_BYTES, Response, build_request, parse_response
from ..core.protocol import DEFAULT_MAX_SIZE, Protocol, Role
from ..core.proxy import Proxy, get_proxy, parse_proxy
from ..core.uri import WebSocketURI, parse_uri
from ..exceptions import InvalidMessage, UsageError
from ..tls import clarify_tls_error, client_ssl_context
from ..version import __version__
from .connection import Connection, Socket
from .proxy import open_tunnel, remaining
from .tls_in_tls import TLSInTLSSocket

__all__ = ["ClientConnection", "connect"]

logger = logging.getLogger("tether.sync.client")


class ClientConnection(Connection):
    """The client side of a WebSocket connection (made by :func:`connect`)."""

    is_client = True



def _choose_proxy(proxy: str | bool | None, wsuri: WebSocketURI) -> Proxy | None:
    if proxy is True:
        return get_proxy(wsuri.secure, wsuri.host, wsuri.port)
    if proxy is None or proxy is False:
        return None
    return parse_proxy(proxy)


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
) -> ClientConnection:
    """Open a WebSocket connection to ``uri`` and return it once the handshake is done.

    ``with connect(uri) as ws:`` closes it on exit.  Options have the names and
    meanings of :func:`tether.connect`.  ``ssl`` is the :class:`ssl.SSLContext` for
    ``wss://`` (default: :func:`tether.tls.client_ssl_context`); ``proxy=True``
    follows the environment (``wss_proxy``/``https_proxy``/``all_proxy``, ...,
    ``no_proxy``), a URL (``http://``, ``https://``, ``socks5://``, ``socks5h://``)
    names one, ``None`` connects directly; ``proxy_ssl`` is the context for TLS to an
    ``https://`` proxy.  ``sock`` is an already connected socket to use instead.
    Everything up to the end of the opening handshake must take less than
    ``open_timeout`` seconds, or :exc:`TimeoutError` is raised.
    """
    wsuri = parse_uri(uri)
    if ssl is not None and ssl is not True and ssl is not False and not wsuri.secure:
        raise UsageError("ssl= was given for a ws:// URI: use wss:// for TLS")
    if ssl is not None and not isinstance(ssl, (bool, ssl_module.SSLContext)):
        raise TypeError("ssl= takes an ssl.SSLContext (see tether.tls.client_ssl_context)")
    context: ssl_module.SSLContext | None = None
    if wsuri.secure:
        context = ssl if isinstance(ssl, ssl_module.SSLContext) else client_ssl_context()
    hostname = server_hostname or wsuri.host
    user_agent = user_agent_header if user_agent_header is not None else f"tether/{__version__}"
    handshake = ClientHandshake(
        wsuri, origin=origin, subprotocols=subprotocols,
        extensions=client_extensions(compression, extensions),
        additional_headers=additional_headers, user_agent_header=user_agent,
    )
    deadline = None if open_timeout is None else time.monotonic() + open_timeout

    stream: Socket | None = None
    try:
        stream, leftover = _open_stream(wsuri, context, hostname, proxy, proxy_ssl, sock,
                                        user_agent, deadline)
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
    conn = ClientConnection(
        stream, max_size=max_size, max_queue=max_queue, ping_interval=ping_interval,
        ping_timeout=ping_timeout, close_timeout=close_timeout,
    )
    conn.request = handshake.request
    conn.response = response
    conn.subprotocol = negotiated.subprotocol
    conn._start(Protocol(Role.CLIENT, max_size=max_size, extensions=negotiated.extensions),
                leftover)
    return conn


def _open_stream(
    wsuri: WebSocketURI,
    context: ssl_module.SSLContext | None,
    hostname: str,
    proxy: str | bool | None,
    proxy_ssl: ssl_module.SSLContext | None,
    sock: socket.socket | None,
    user_agent: str,
    deadline: float | None,
) -> tuple[Socket, bytes]:
    """Connect (directly, through a proxy, or on ``sock``) and start TLS for wss://."""
    leftover = b""
    chosen = None if sock is not None else _choose_proxy(proxy, wsuri)
    if sock is not None:
        raw = sock
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
