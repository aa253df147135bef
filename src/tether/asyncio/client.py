"""The asyncio WebSocket client: :func:`connect` and the client side of a connection."""

from __future__ import annotations

import asyncio
import base64
import inspect
import logging
import ssl as ssl_module
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Generator, Sequence
from typing import Any

from ..core.extensions.base import ClientExtensionFactory
from ..core.extensions.compression import client_extensions
from ..core.handshake import ClientHandshake, HeadersLike
from ..core.http11 import Headers, build_request, parse_response
from ..core.protocol import DEFAULT_MAX_SIZE, Protocol, Role, State
from ..core.proxy import get_proxy, parse_proxy
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
from ..exceptions import InvalidHandshake, InvalidMessage, InvalidStatus, UsageError
from ..tls import clarify_tls_error, client_ssl_context
from .connection import Connection
from .proxy import create_connection_via_proxy

__all__ = ["ClientConnection", "OnReconnect", "connect", "unix_connect"]

#: ``on_reconnect(connection)``: run (awaited when it returns an awaitable) after each
#: reconnection, before the connection is handed to the ``async for`` body.
OnReconnect = Callable[["ClientConnection"], Awaitable[None] | None]

logger = logging.getLogger("tether.client")


class ClientConnection(Connection):
    """The client side of a WebSocket connection."""

    is_client = True

    def __init__(self, handshake: ClientHandshake, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.handshake = handshake
        self.request = handshake.request
        self._buf = bytearray()
        self._opened: asyncio.Future[None] = self.loop.create_future()
        self.mask_generator: Callable[[], bytes] | None = None

    #: :meth:`close` was called on this side (a reconnecting iterator stops after a
    #: closing handshake this side started).
    closed_by_user = False

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection with the closing handshake and wait until it is done."""
        self.closed_by_user = True
        await super().close(code, reason)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        assert self.request is not None
        self.transport.write(build_request(self.request))  # type: ignore[union-attr]

    def _handshake_data(self, data: bytes) -> None:
        buf = self._buf
        scanned = len(buf)  # what earlier calls looked at: parsing stays linear
        buf += data
        try:
            parsed = parse_response(buf, scanned)
            if parsed is None:
                return
            response, used = parsed
            del buf[:used]
            if response.status != 101:
                # Keep what arrived of the body, for the error (bounded by MAX_HEADER_BYTES).
                length = response.headers.get("Content-Length") or ""
                response.body = bytes(buf[: int(length) if length.isdecimal() else 0])
            self.response = response
            negotiated = self.handshake.process_response(response)
        except InvalidHandshake as exc:
            self._fail_open(exc)
            return
        self.subprotocol = negotiated.subprotocol
        self._start(Protocol(
            Role.CLIENT, max_size=self.max_size, extensions=negotiated.extensions,
            frame_events=self.frame_events, outgoing_frame_size=self.outgoing_frame_size,
            mask_generator=self.mask_generator,
        ))
        if not self._opened.done():
            self._opened.set_result(None)
        if buf:
            rest = bytes(buf)
            buf.clear()
            self.data_received(rest)

    def _fail_open(self, exc: Exception) -> None:
        if not self._opened.done():
            self._opened.set_exception(exc)
        if self.transport is not None:
            self.transport.abort()

    def _connection_lost_hook(self) -> None:
        if not self._opened.done():
            if self._lost_exc is not None:
                self._opened.set_exception(self._lost_exc)
            else:
                exc = InvalidMessage("the server closed the connection during the handshake")
                exc.__cause__ = EOFError("connection closed before the handshake answer")
                self._opened.set_exception(exc)


def basic_authorization(user: str, password: str) -> str:
    """The ``Authorization`` value for HTTP Basic credentials (RFC 7617)."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class connect:
    """Open a WebSocket connection to ``uri``.

    ``ws = await connect(uri)`` or ``async with connect(uri) as ws:`` (closed on exit).
    ``async for ws in connect(uri):`` opens the connection again each time it is lost,
    after a backoff (see docs/clients.md).  Options follow the ``websockets`` library's
    names where the meaning is the same.

    Beyond the connection options:

    * ``max_redirects``: 3xx answers followed in a row (0: none);
    * ``auth``: ``(user, password)`` for HTTP Basic (the URI's ``user:pass@`` works
      too); a bearer token goes in ``additional_headers={"Authorization": "Bearer ..."}``;
    * ``unix_socket``: the path of a Unix domain socket to connect to instead of TCP
      (``uri`` still gives the Host header and the path);
    * for ``async for``: ``backoff_initial``, ``backoff_factor``, ``backoff_max`` (or a
      whole :class:`~tether.core.retry.Backoff` as ``backoff``), ``process_exception``
      (None to retry a failed attempt, or the exception to raise), ``retry_on_close``
      (the close codes after which to reconnect) and ``on_reconnect``.
    """

    def __init__(
        self,
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
        write_limit: int = 32768,
        frame_events: bool = False,
        outgoing_frame_size: int | None = None,
        mask_generator: Callable[[], bytes] | None = None,
        sock: Any = None,
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
        **kwargs: Any,
    ) -> None:
        self.uri = uri
        self.wsuri: WebSocketURI = parse_uri(uri)
        if ssl is not None and ssl is not True and not self.wsuri.secure:
            raise UsageError("ssl= was given for a ws:// URI: use wss:// for TLS")
        if sock is not None and unix_socket is not None:
            raise UsageError("give sock= or unix_socket=, not both")
        if max_redirects < 0:
            raise ValueError("max_redirects must be >= 0")
        from ..version import __version__

        self.handshake_options: dict[str, Any] = dict(
            origin=origin, subprotocols=subprotocols,
            extensions=client_extensions(compression, extensions),
            user_agent_header=user_agent_header if user_agent_header is not None
            else f"tether/{__version__}",
        )
        headers = _headers_list(additional_headers)
        if auth is not None:
            user, password = auth
            headers = [(k, v) for k, v in headers if k.lower() != "authorization"]
            headers.append(("Authorization", basic_authorization(user, password)))
        elif self.wsuri.user_info is not None:
            # Carried to same-origin redirects whose Location has no user:password@.
            headers.append(("Authorization", basic_authorization(*self.wsuri.user_info)))
        self.headers = headers
        self.ssl = ssl
        self.server_hostname = server_hostname
        self.proxy = proxy
        self.proxy_ssl = proxy_ssl
        self.open_timeout = open_timeout
        self.options: dict[str, Any] = dict(
            max_size=max_size, max_queue=max_queue, write_limit=write_limit,
            ping_interval=ping_interval, ping_timeout=ping_timeout, close_timeout=close_timeout,
            open_timeout=None, frame_events=frame_events,
            outgoing_frame_size=outgoing_frame_size,
        )
        self.mask_generator = mask_generator
        self.sock = sock
        self.unix_socket = unix_socket
        self.max_redirects = max_redirects
        self.backoff = backoff if backoff is not None else Backoff(
            initial=backoff_initial, factor=backoff_factor, max=backoff_max)
        self.process_exception = process_exception
        self.retry_on_close = frozenset(retry_on_close)
        self.on_reconnect = on_reconnect
        self.kwargs = kwargs
        self.connection: ClientConnection | None = None

    def _ssl_context(self, wsuri: WebSocketURI) -> ssl_module.SSLContext | None:
        if not wsuri.secure:
            return None
        if isinstance(self.ssl, ssl_module.SSLContext):
            return self.ssl
        return client_ssl_context()

    async def _open(self) -> ClientConnection:
        async with asyncio.timeout(self.open_timeout):
            uri, wsuri, headers = self.uri, self.wsuri, self.headers
            redirects = 0
            while True:
                try:
                    # A given socket serves the first request; redirects open their own.
                    conn = await self._open_once(wsuri, headers,
                                                 self.sock if redirects == 0 else None)
                    break
                except InvalidStatus as exc:
                    uri, wsuri, headers = next_hop(exc, uri, wsuri, headers, redirects,
                                                  self.max_redirects)
                    redirects += 1
                    logger.info("HTTP %d: redirected to %s", exc.status, uri)
        self.connection = conn
        return conn

    async def _open_once(self, wsuri: WebSocketURI, headers: list[tuple[str, str]],
                         sock: Any) -> ClientConnection:
        loop = asyncio.get_running_loop()
        handshake = ClientHandshake(wsuri, additional_headers=headers, **self.handshake_options)

        def factory() -> ClientConnection:
            conn = ClientConnection(handshake, **self.options)
            conn.mask_generator = self.mask_generator
            return conn

        ctx = self._ssl_context(wsuri)
        server_hostname = self.server_hostname or (wsuri.host if ctx else None)
        proxy = None
        if sock is None:
            proxy = await self._proxy_transport(loop, wsuri, ctx, server_hostname, factory)
        if proxy is not None:
            conn = proxy
        else:
            try:
                if sock is not None:
                    _, conn = await loop.create_connection(
                        factory, sock=sock, ssl=ctx, server_hostname=server_hostname,
                        **self.kwargs)
                elif self.unix_socket is not None:
                    _, conn = await loop.create_unix_connection(
                        factory, self.unix_socket, ssl=ctx, server_hostname=server_hostname,
                        **self.kwargs)
                else:
                    _, conn = await loop.create_connection(
                        factory, wsuri.host, wsuri.port, ssl=ctx,
                        server_hostname=server_hostname, **self.kwargs)
            except ssl_module.SSLError as exc:
                raise clarify_tls_error(exc, server_hostname) from exc
        try:
            await conn._opened
        except BaseException:
            conn.abort()
            raise
        return conn

    async def _proxy_transport(self, loop: asyncio.AbstractEventLoop, wsuri: WebSocketURI,
                               ctx: ssl_module.SSLContext | None,
                               server_hostname: str | None,
                               factory: Callable[[], ClientConnection]) -> ClientConnection | None:
        """Open the connection through a proxy when one applies (hook for proxies).

        ``proxy=True`` reads the environment (see :func:`tether.core.proxy.get_proxy`),
        a string is a proxy URL, ``None``/``False`` connects directly.
        """
        if (self.proxy is None or self.proxy is False or self.sock is not None
                or self.unix_socket is not None):
            return None
        if self.proxy is True:
            proxy = get_proxy(wsuri.secure, wsuri.host, wsuri.port)
        else:
            proxy = parse_proxy(self.proxy)
        if proxy is None:
            return None
        _, conn = await create_connection_via_proxy(
            factory, proxy, wsuri.host, wsuri.port, ssl=ctx, server_hostname=server_hostname,
            ssl_to_proxy=self.proxy_ssl,
            user_agent=self.handshake_options["user_agent_header"])
        assert isinstance(conn, ClientConnection)
        return conn

    def __await__(self) -> Generator[Any, None, ClientConnection]:
        return self._open().__await__()

    async def __aenter__(self) -> ClientConnection:
        return await self._open()

    async def __aexit__(self, *exc: object) -> None:
        if self.connection is not None:
            await self.connection.close()

    async def __aiter__(self) -> AsyncIterator[ClientConnection]:
        """Yield a connection, and a new one each time the previous one is lost.

        A failed attempt is retried when ``process_exception`` returns None (else what
        it returns is raised); a lost connection is opened again when its close code is
        in ``retry_on_close``.  The iteration ends after any other close, including one
        this side started (``await ws.close()``), and when the body goes on to the next
        connection while the current one is still open (it is closed first).  Every
        attempt after the first waits for the backoff.
        """
        if self.sock is not None:
            raise UsageError("async for needs to open new connections: not with sock=")
        loop = asyncio.get_running_loop()
        retry = Reconnector(self.backoff)
        opened_before = False
        while True:
            try:
                conn = await self._open()
            except Exception as exc:
                verdict = self.process_exception(exc)
                if verdict is not None:
                    if verdict is exc:
                        raise
                    raise verdict from exc
                delay = retry.next_delay()
                logger.info("connecting to %s failed (%s); retrying in %.2f s",
                            self.uri, exc, delay)
                await asyncio.sleep(delay)
                continue
            opened_at = loop.time()
            if opened_before and self.on_reconnect is not None:
                try:
                    result = self.on_reconnect(conn)
                    if inspect.isawaitable(result):
                        await result
                except BaseException:
                    conn.abort()
                    raise
            opened_before = True
            yield conn
            if conn.state is State.OPEN:
                await conn.close()
                return
            await conn.wait_closed()
            p = conn.protocol
            sent = p.close_sent if p is not None else None
            rcvd = p.close_rcvd if p is not None else None
            then = p.close_rcvd_then_sent if p is not None else None
            if conn.closed_by_user and sent is not None and not then:
                logger.info("connection to %s closed by this side: not reconnecting", self.uri)
                return
            code = describing_close_code(rcvd.code if rcvd is not None else None,
                                         sent.code if sent is not None else None, then)
            if not should_retry_close(code, self.retry_on_close):
                logger.info("connection to %s closed with %d: not reconnecting", self.uri, code)
                return
            retry.connection_lasted(loop.time() - opened_at)
            delay = retry.next_delay()
            logger.info("connection to %s lost (%d); reconnecting in %.2f s",
                        self.uri, code, delay)
            await asyncio.sleep(delay)


def unix_connect(path: str, uri: str = "ws://localhost/", **kwargs: Any) -> connect:
    """Connect to a WebSocket server listening on the Unix domain socket ``path``.

    ``uri`` gives the Host header and the request path; the options are those of
    :class:`connect` (``await``, ``async with`` and ``async for`` all work).
    """
    return connect(uri, unix_socket=path, **kwargs)


def _headers_list(value: HeadersLike | None) -> list[tuple[str, str]]:
    if value is None:
        return []
    if isinstance(value, dict):
        return list(value.items())
    if isinstance(value, Headers):
        return list(value.items())
    return list(value)
