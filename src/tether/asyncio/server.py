"""The asyncio WebSocket server: :func:`serve` and the server side of a connection."""

from __future__ import annotations

import asyncio
import inspect
import logging
import socket
import ssl as ssl_module
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

from ..core.extensions.base import ServerExtensionFactory
from ..core.extensions.compression import server_extensions
from ..core.handshake import (
    HeadersLike,
    Negotiated,
    SelectSubprotocol,
    ServerHandshake,
    http_response,
    reject,
)
from ..core.http11 import Request, Response, build_response, parse_request
from ..core.protocol import DEFAULT_MAX_SIZE, Protocol, Role, State
from ..exceptions import ConnectionClosed, InvalidHandshake, InvalidMessage, UsageError
from .connection import Connection

__all__ = ["Server", "ServerConnection", "serve", "unix_serve"]

logger = logging.getLogger("tether.server")

Handler = Callable[["ServerConnection"], Awaitable[Any]]
#: What a request or response hook returns: an answer that replaces the default, or None.
HookResult = Response | Awaitable[Response | None] | None
ProcessRequest = Callable[["ServerConnection", Request], HookResult]
ProcessResponse = Callable[["ServerConnection", Request, Response], HookResult]


class ServerConnection(Connection):
    """The server side of a WebSocket connection, as handed to the handler."""

    __slots__ = ("_buf", "_handshake_task", "_handshaking", "_hook_paused", "_refused",
                 "handler_task", "server")

    def __init__(self, server: Server, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.server = server
        self._buf: bytearray | bytes = bytearray()  # the request, until the handshake is done
        self._handshaking = False
        self.handler_task: asyncio.Task[None] | None = None
        self._handshake_task: asyncio.Task[None] | None = None
        self._hook_paused = False
        self._refused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        refusal = self.server._admit(self)
        if refusal is not None:
            self._refuse(refusal)
            return
        self.server._connections.add(self)

    def _refuse(self, why: str) -> None:
        """Answer 503 before reading the request (a connection limit was reached)."""
        self._refused = True
        if self._open_timer is not None:
            self._open_timer.cancel()
            self._open_timer = None
        self._reply(reject(503, why, headers=[("Retry-After", "1")]), close=False)
        transport = self.transport
        assert transport is not None
        if transport.can_write_eof():
            # Half-close and drop what the peer still sends (its request), so that it
            # reads the 503 rather than a reset; it hangs up, or we do within 1 s.
            transport.write_eof()
            self._open_timer = self.loop.call_later(1.0, transport.abort)
        else:
            transport.close()

    def _connection_lost_hook(self) -> None:
        if self in self.server._connections:
            self.server._connections.discard(self)
            self.server._release(self)

    def _handshake_data(self, data: bytes) -> None:
        if self._refused:
            return  # answered 503 already: what the peer sends is dropped
        buf = self._buf
        assert isinstance(buf, bytearray), "no request is read once the handshake is done"
        if self._handshaking:
            buf += data  # the request is being processed; keep what follows
            return
        if not buf and data[:1] == b"\x16":
            self.logger.info("TLS handshake received on a plain-text port from %s",
                             self.remote_address)
            self._reply(reject(400, "This port speaks plain HTTP/WebSocket, not TLS."))
            return
        scanned = len(buf)  # what earlier calls looked at: parsing stays linear
        buf += data
        try:
            parsed = parse_request(buf, scanned)
        except InvalidMessage as exc:
            self.logger.info("invalid HTTP request from %s: %s", self.remote_address, exc)
            self._reply(reject(exc.status, f"Invalid HTTP request: {exc}."))
            return
        if parsed is None:
            return
        request, used = parsed
        del buf[:used]
        self.request = request
        self._handshaking = True
        self._handshake(request)

    def _reply(self, response: Response, close: bool = True) -> None:
        """Answer with plain HTTP and close: nothing after it is read as a request."""
        self.response = response
        if self.transport is not None:
            self.transport.write(build_response(response))
            if close:
                self.transport.close()
        self.server._count_handshake(response.status)

    def _handshake(self, request: Request) -> None:
        """Answer the opening handshake: at once when the hooks are plain functions
        (no task, nothing kept), in a task when a hook returns an awaitable."""
        server = self.server
        if server.process_request is not None:
            try:
                answer = server.process_request(self, request)
            except Exception:
                self._hook_failed()
                return
            if inspect.isawaitable(answer):
                self._await_hook(self._after_request_hook(request, answer))
                return
            if answer is not None:
                self._reply(answer)
                return
        self._accept(request)

    def _await_hook(self, coro: Coroutine[Any, Any, None]) -> None:
        if self.transport is not None:
            # Read nothing more while the hook runs: what the peer sends meanwhile
            # waits in the socket buffers, not in ours.
            self.transport.pause_reading()
            self._hook_paused = True
        # Keep a reference: the loop holds tasks weakly.
        self._handshake_task = self.loop.create_task(coro)

    def _hook_failed(self) -> None:
        self.logger.exception("error in the opening handshake hooks")
        self._reply(reject(500, "Failed to open a WebSocket connection."))

    async def _after_request_hook(self, request: Request, answer: Awaitable[Any]) -> None:
        try:
            result = await answer
        except Exception:
            self._hook_failed()
            return
        if result is not None:
            self._reply(result)
            return
        self._accept(request)

    def _accept(self, request: Request) -> None:
        server = self.server
        try:
            response, negotiated = server.handshake.accept(request)
        except InvalidHandshake as exc:
            if not request.headers.get("Upgrade"):
                self.logger.debug("plain HTTP request to %s", request.target)
            else:
                self.logger.info("rejected handshake from %s: %s", self.remote_address, exc)
            self._reply(server.handshake.error_response(exc))
            return
        if server.process_response is not None:
            try:
                answer = server.process_response(self, request, response)
            except Exception:
                self._hook_failed()
                return
            if inspect.isawaitable(answer):
                self._await_hook(self._after_response_hook(response, negotiated, answer))
                return
            if answer is not None:
                response = answer
        self._open(response, negotiated)

    async def _after_response_hook(self, response: Response, negotiated: Negotiated,
                                   answer: Awaitable[Any]) -> None:
        try:
            result = await answer
        except Exception:
            self._hook_failed()
            return
        self._open(result if result is not None else response, negotiated)

    def _open(self, response: Response, negotiated: Negotiated) -> None:
        """Send the server's answer; on 101, switch to WebSocket and start the handler."""
        if response.status != 101:
            self._reply(response)
            return
        if self.transport is None or self.transport.is_closing():
            return
        server = self.server
        if server.closing:
            self._reply(reject(503, "Server is shutting down."))
            return
        self.response = response
        self.subprotocol = negotiated.subprotocol
        self.transport.write(build_response(response))
        server._count_handshake(101)
        self._start(Protocol(
            Role.SERVER, max_size=self.max_size, extensions=negotiated.extensions,
            frame_events=self.frame_events, outgoing_frame_size=self.outgoing_frame_size,
        ))
        self._handshake_task = None
        if self._hook_paused:
            self._hook_paused = False
            self.transport.resume_reading()
        buf = self._buf
        self._buf = b""  # the handshake is done: no buffer kept
        if buf:
            self.data_received(bytes(buf))
        self.handler_task = self.loop.create_task(self._run_handler())

    async def _run_handler(self) -> None:
        try:
            await self.server.handler(self)
        except ConnectionClosed as exc:
            # The peer went away while the handler was using the connection: normal
            # for a network service, so no traceback (a peer can't flood the log).
            self.logger.debug("handler ended: connection closed (%s)", exc)
        except Exception:
            self.logger.exception("connection handler failed")
            await self.close(1011, "internal error")
        else:
            await self.close()


class Server:
    """A listening WebSocket server.  ``async with serve(...) as server:``."""

    def __init__(
        self,
        handler: Handler,
        *,
        handshake: ServerHandshake,
        process_request: ProcessRequest | None,
        process_response: ProcessResponse | None,
        connection_options: dict[str, Any],
        max_connections: int | None = None,
        max_connections_per_ip: int | None = None,
    ) -> None:
        self.handler = handler
        #: Connections (open or in their opening handshake) beyond which new ones get 503.
        self.max_connections = max_connections
        #: The same per remote IP address (None: no per-address limit).
        self.max_connections_per_ip = max_connections_per_ip
        self._per_ip: dict[str, int] = {}
        self.handshake = handshake
        self.process_request = process_request
        self.process_response = process_response
        self.connection_options = connection_options
        self._connections: set[ServerConnection] = set()
        self.server: asyncio.Server | None = None
        self.closing = False
        self._closed = asyncio.get_running_loop().create_future()
        #: Handshake answers by HTTP status, for metrics.
        self.handshakes: dict[int, int] = {}
        #: The class of the connections it makes (a subclass may count or log them).
        self.connection_class: type[ServerConnection] = ServerConnection

    def _admit(self, conn: ServerConnection) -> str | None:
        """Count a new connection in, or say why it is refused (it then gets 503)."""
        if self.max_connections is not None and len(self._connections) >= self.max_connections:
            return "Too many connections: try again later."
        ip = _ip_of(conn)
        if (self.max_connections_per_ip is not None and ip is not None
                and self._per_ip.get(ip, 0) >= self.max_connections_per_ip):
            return "Too many connections from your address: try again later."
        if ip is not None:
            self._per_ip[ip] = self._per_ip.get(ip, 0) + 1
        return None

    def _release(self, conn: ServerConnection) -> None:
        ip = _ip_of(conn)
        if ip is not None and ip in self._per_ip:
            left = self._per_ip[ip] - 1
            if left > 0:
                self._per_ip[ip] = left
            else:
                del self._per_ip[ip]

    def _count_handshake(self, status: int) -> None:
        self.handshakes[status] = self.handshakes.get(status, 0) + 1

    def _make_connection(self) -> ServerConnection:
        return self.connection_class(self, **self.connection_options)

    @property
    def connections(self) -> set[ServerConnection]:
        """The connections that completed the opening handshake and are not closed."""
        return {c for c in self._connections if c.protocol is not None
                and c.state is not State.CLOSED}

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return tuple(self.server.sockets) if self.server else ()

    @property
    def port(self) -> int:
        """The TCP port of the first listening socket (handy with port 0).

        A server on a Unix domain socket has no port: this raises
        :class:`~tether.UsageError`; read :attr:`unix_socket` (or :attr:`sockets`)."""
        sockets = self.sockets
        if not sockets:
            raise UsageError("the server has no listening socket (closed?), hence no port")
        sock = sockets[0]
        if sock.family == getattr(socket, "AF_UNIX", None):
            raise UsageError(f"a server on a Unix domain socket has no port: it listens on "
                             f"{sock.getsockname()!r} (see Server.unix_socket)")
        return int(sock.getsockname()[1])

    @property
    def unix_socket(self) -> str | None:
        """The path of the Unix domain socket listened on; None for a TCP server."""
        for sock in self.sockets:
            if sock.family == getattr(socket, "AF_UNIX", None):
                return _unix_path(sock)
        return None

    async def close(self, close_connections: bool = True, code: int = 1001,
                    reason: str = "server shutting down") -> None:
        """Stop listening, close every connection (1001, going away) and wait for them."""
        if self.closing:
            await self.wait_closed()
            return
        self.closing = True
        if self.server is not None:
            self.server.close()
        if close_connections:
            conns = list(self._connections)
            await asyncio.gather(*(c.close(code, reason) for c in conns),
                                 return_exceptions=True)
            tasks = [c.handler_task for c in conns if c.handler_task is not None]
            if tasks:
                await asyncio.wait(tasks)
        if self.server is not None:
            await self.server.wait_closed()
        if not self._closed.done():
            self._closed.set_result(None)

    async def wait_closed(self) -> None:
        await asyncio.shield(self._closed)

    async def serve_forever(self) -> None:
        """Serve until cancelled (or until :meth:`close`)."""
        try:
            await self.wait_closed()
        except asyncio.CancelledError:
            await self.close()
            raise


class serve:
    """Start a WebSocket server: ``async with serve(handler, host, port) as server``.

    ``await serve(...)`` also works and returns the :class:`Server`.  The handler is
    called with a :class:`ServerConnection` per connection; the connection is closed
    (1000) when it returns, or with 1011 if it raises.

    ``max_connections`` bounds the connections open or in their opening handshake, and
    ``max_connections_per_ip`` those from one remote address: a connection past either
    gets ``503 Service Unavailable`` (with ``Retry-After``) before its request is read.
    Both are off (None) by default; see docs/security.md.

    ``unix_socket`` is a path to listen on (a Unix domain socket) instead of TCP.
    """

    def __init__(
        self,
        handler: Handler,
        host: str | Sequence[str] | None = None,
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
        ssl: ssl_module.SSLContext | None = None,
        open_timeout: float | None = 10,
        ping_interval: float | None = 20,
        ping_timeout: float | None = 20,
        close_timeout: float | None = 10,
        max_size: int | None = DEFAULT_MAX_SIZE,
        max_queue: int | None = 16,
        write_limit: int = 32768,
        sock: socket.socket | None = None,
        additional_headers: HeadersLike | None = None,
        max_connections: int | None = None,
        max_connections_per_ip: int | None = None,
        unix_socket: str | None = None,
        **kwargs: Any,
    ) -> None:
        if not callable(handler):
            raise TypeError("serve() needs a handler: an async function taking a connection")
        if ssl is not None and not isinstance(ssl, ssl_module.SSLContext):
            raise TypeError("ssl= takes an ssl.SSLContext (see tether.tls.server_ssl_context)")
        from ..version import __version__

        handshake = ServerHandshake(
            origins=origins, subprotocols=subprotocols, select_subprotocol=select_subprotocol,
            extensions=server_extensions(compression, extensions),
            server_header=server_header if server_header is not None else f"tether/{__version__}",
        )
        if additional_headers is not None:
            extra = list(additional_headers.items() if isinstance(additional_headers, dict)
                         else additional_headers)

            def add_headers(conn: ServerConnection, req: Request, resp: Response) -> None:
                for name, value in extra:
                    resp.headers.set(name, value)

            chained = process_response

            def process_response_with_headers(
                conn: ServerConnection, req: Request, resp: Response
            ) -> Response | Awaitable[Response | None] | None:
                add_headers(conn, req, resp)
                return chained(conn, req, resp) if chained else None

            process_response = process_response_with_headers
        self._handler = handler
        self._server_kwargs = dict(kwargs, ssl=ssl, sock=sock)
        if ssl is not None and open_timeout is not None:
            # The TLS handshake counts inside the opening-handshake deadline.
            self._server_kwargs["ssl_handshake_timeout"] = open_timeout
        self._host = host
        self._port = port
        #: Listen on this Unix domain socket path instead of TCP (see :func:`unix_serve`).
        self._unix_socket = unix_socket
        self._options = dict(
            max_size=max_size, max_queue=max_queue, write_limit=write_limit,
            ping_interval=ping_interval, ping_timeout=ping_timeout,
            close_timeout=close_timeout, open_timeout=open_timeout,
        )
        self._handshake = handshake
        self._limits = dict(max_connections=max_connections,
                            max_connections_per_ip=max_connections_per_ip)
        self._process_request = process_request
        self._process_response = process_response
        self.server: Server | None = None

    async def _start(self) -> Server:
        server = Server(
            self._handler, handshake=self._handshake, process_request=self._process_request,
            process_response=self._process_response, connection_options=self._options,
            **self._limits,
        )
        loop = asyncio.get_running_loop()
        kwargs = {k: v for k, v in self._server_kwargs.items() if v is not None}
        if self._unix_socket is not None:
            server.server = await loop.create_unix_server(
                server._make_connection, self._unix_socket, **kwargs)
        elif kwargs.get("sock") is not None:
            server.server = await loop.create_server(server._make_connection, **kwargs)
        else:
            server.server = await loop.create_server(
                server._make_connection, self._host, self._port, **kwargs)
        self.server = server
        return server

    def __await__(self) -> Any:
        return self._start().__await__()

    async def __aenter__(self) -> Server:
        return await self._start()

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        await self.server.close()


def unix_serve(handler: Handler, path: str, **kwargs: Any) -> serve:
    """Serve WebSocket connections on the Unix domain socket ``path`` (a stale socket
    file left there is replaced); ``kwargs`` are the options of :class:`serve`.
    Connections from a Unix socket have no IP address: ``remote_address`` is ``""``
    and ``max_connections_per_ip`` does not count them."""
    return serve(handler, unix_socket=path, **kwargs)


def _unix_path(sock: socket.socket) -> str:
    """The path a Unix domain socket is bound to (``""`` when unnamed; an abstract
    Linux name is returned as it is, starting with NUL)."""
    name = sock.getsockname()
    return name.decode("utf-8", "surrogateescape") if isinstance(name, bytes) else str(name)


def _ip_of(conn: ServerConnection) -> str | None:
    """The remote IP address of a TCP connection (None for Unix sockets)."""
    peer = conn.transport.get_extra_info("peername") if conn.transport is not None else None
    if isinstance(peer, tuple) and peer:
        return str(peer[0])
    return None


#: Build a plain HTTP answer for ``process_request`` (a page, a health check).
basic_http_response = http_response
