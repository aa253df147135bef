"""The asyncio WebSocket client: :func:`connect` and the client side of a connection."""

from __future__ import annotations

import asyncio
import logging
import ssl as ssl_module
from collections.abc import Callable, Generator, Sequence
from typing import Any

from ..core.extensions.base import ClientExtensionFactory
from ..core.extensions.compression import client_extensions
from ..core.handshake import ClientHandshake, HeadersLike
from ..core.http11 import build_request, parse_response
from ..core.protocol import DEFAULT_MAX_SIZE, Protocol, Role
from ..core.proxy import get_proxy, parse_proxy
from ..core.uri import WebSocketURI, parse_uri
from ..exceptions import InvalidHandshake, InvalidMessage, UsageError
from ..tls import clarify_tls_error, client_ssl_context
from .connection import Connection
from .proxy import create_connection_via_proxy

__all__ = ["ClientConnection", "connect"]

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
                self._opened.set_exception(
                    InvalidMessage("the server closed the connection during the handshake"))


class connect:
    """Open a WebSocket connection to ``uri``.

    ``ws = await connect(uri)`` or ``async with connect(uri) as ws:`` (closed on exit).
    Options follow the ``websockets`` library's names where the meaning is the same.
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
        **kwargs: Any,
    ) -> None:
        self.uri = uri
        self.wsuri: WebSocketURI = parse_uri(uri)
        if ssl is not None and ssl is not True and not self.wsuri.secure:
            raise UsageError("ssl= was given for a ws:// URI: use wss:// for TLS")
        from ..version import __version__

        self.handshake_options: dict[str, Any] = dict(
            origin=origin, subprotocols=subprotocols,
            extensions=client_extensions(compression, extensions),
            additional_headers=additional_headers,
            user_agent_header=user_agent_header if user_agent_header is not None
            else f"tether/{__version__}",
        )
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
        self.kwargs = kwargs
        self.connection: ClientConnection | None = None

    def _ssl_context(self) -> ssl_module.SSLContext | None:
        if not self.wsuri.secure:
            return None
        if isinstance(self.ssl, ssl_module.SSLContext):
            return self.ssl
        return client_ssl_context()

    async def _open(self) -> ClientConnection:
        loop = asyncio.get_running_loop()
        handshake = ClientHandshake(self.wsuri, **self.handshake_options)

        def factory() -> ClientConnection:
            conn = ClientConnection(handshake, **self.options)
            conn.mask_generator = self.mask_generator
            return conn

        wsuri = self.wsuri
        ctx = self._ssl_context()
        server_hostname = self.server_hostname or (wsuri.host if ctx else None)
        async with asyncio.timeout(self.open_timeout):
            proxy = await self._proxy_transport(loop, ctx, server_hostname, factory)
            if proxy is not None:
                conn = proxy
            else:
                try:
                    if self.sock is not None:
                        _, conn = await loop.create_connection(
                            factory, sock=self.sock, ssl=ctx, server_hostname=server_hostname,
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
        self.connection = conn
        return conn

    async def _proxy_transport(self, loop: asyncio.AbstractEventLoop,
                               ctx: ssl_module.SSLContext | None,
                               server_hostname: str | None,
                               factory: Callable[[], ClientConnection]) -> ClientConnection | None:
        """Open the connection through a proxy when one applies (hook for proxies).

        ``proxy=True`` reads the environment (see :func:`tether.core.proxy.get_proxy`),
        a string is a proxy URL, ``None``/``False`` connects directly.
        """
        if self.proxy is None or self.proxy is False or self.sock is not None:
            return None
        wsuri = self.wsuri
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
