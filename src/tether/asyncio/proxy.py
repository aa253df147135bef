"""Open a TCP tunnel through an HTTP(S) CONNECT or SOCKS5 proxy, with asyncio.

The protocol logic lives in :mod:`tether.core.proxy`; this module only moves bytes.
Timeouts are the caller's: wrap the calls in ``asyncio.timeout(...)``.
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl as ssl_module
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from ..core.proxy import Proxy, ProxyHandshake, proxy_handshake
from ..exceptions import ProxyError
from ..tls import clarify_tls_error, client_ssl_context

if TYPE_CHECKING:
    from .connection import Connection

__all__ = ["create_connection_via_proxy", "open_tunnel"]


class _HandshakeProtocol(asyncio.Protocol):
    """Runs a sans-I/O proxy handshake on a transport, then pauses reading."""

    def __init__(self, handshake: ProxyHandshake, proxy: Proxy) -> None:
        self._handshake = handshake
        self._proxy = proxy
        self._transport: asyncio.Transport | None = None
        self.finished: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.extra = bytearray()  # bytes that arrive after the handshake (none expected)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses: no isinstance check.
        self._transport = cast(asyncio.Transport, transport)
        self._flush()

    def _flush(self) -> None:
        data = self._handshake.data_to_send()
        if data and self._transport is not None:
            self._transport.write(data)

    def _fail(self, exc: BaseException) -> None:
        if not self.finished.done():
            self.finished.set_exception(exc)
        if self._transport is not None:
            self._transport.abort()

    def data_received(self, data: bytes) -> None:
        if self.finished.done():
            self.extra += data
            return
        try:
            self._handshake.receive_data(data)
        except ProxyError as exc:
            self._fail(exc)
            return
        self._flush()
        if self._handshake.done and self._transport is not None:
            # Keep further bytes in the kernel until the caller installs its protocol.
            self._transport.pause_reading()
            self.finished.set_result(self._handshake.leftover)

    def eof_received(self) -> bool:
        try:
            self._handshake.receive_eof()
        except ProxyError as exc:
            self._fail(exc)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.finished.done():
            error = ProxyError(
                f"lost the connection to the proxy at {self._proxy.address} during the "
                f"handshake: {exc or 'closed'}"
            )
            error.__cause__ = exc
            self.finished.set_exception(error)


class _Buffer(asyncio.Protocol):
    """Keeps bytes that arrive before the real protocol is installed."""

    def __init__(self) -> None:
        self.data = bytearray()

    def data_received(self, data: bytes) -> None:
        self.data += data


async def _resolve(loop: asyncio.AbstractEventLoop, host: str, port: int) -> str:
    """Resolve ``host`` locally, for ``socks5://`` (RFC 1928 lets either side resolve)."""
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ProxyError(
            f"could not resolve {host!r} for the socks5:// proxy (it resolves names "
            f"locally; socks5h:// lets the proxy do it): {exc}"
        ) from exc
    address = infos[0][4][0]
    assert isinstance(address, str)
    return address


async def _connect(
    loop: asyncio.AbstractEventLoop,
    factory: Callable[[], _HandshakeProtocol],
    proxy: Proxy,
    tls_context: ssl_module.SSLContext | None,
) -> asyncio.Transport:
    """TCP (and TLS, for https://) to the proxy, with errors that say what failed."""
    try:
        transport, _ = await loop.create_connection(
            factory,
            proxy.host,
            proxy.port,
            ssl=tls_context,
            server_hostname=proxy.host if tls_context is not None else None,
        )
    except ssl_module.SSLError as exc:
        clear = clarify_tls_error(exc, proxy.host)
        raise ProxyError(f"TLS to the proxy at {proxy.address} failed: {clear}") from exc
    except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError) as exc:
        if tls_context is None:
            raise ProxyError(
                f"the proxy at {proxy.address} dropped the connection: {_reason(exc)}"
            ) from exc
        raise ProxyError(
            f"TLS to the proxy at {proxy.address} failed: the proxy dropped the connection "
            "during the TLS handshake (https:// is for proxies that speak TLS; a plain "
            "HTTP proxy is http://)"
        ) from exc
    except OSError as exc:
        raise ProxyError(
            f"could not reach the proxy at {proxy.address} ({proxy.url}): {_reason(exc)}"
        ) from exc
    return transport


def _reason(exc: OSError) -> str:
    """ "Connection refused" rather than asyncio's "Connect call failed (...)"."""
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the proxy's host name ({exc.strerror or exc})"
    if exc.errno and exc.errno > 0:
        return os.strerror(exc.errno)
    return str(exc) or type(exc).__name__


def _forget(protocol: _HandshakeProtocol | None) -> None:
    """Mark the handshake's outcome as seen: the caller already has an exception."""
    if protocol is not None:
        if protocol.finished.done():
            if not protocol.finished.cancelled():
                protocol.finished.exception()
        else:
            protocol.finished.cancel()


async def open_tunnel(
    proxy: Proxy,
    host: str,
    port: int,
    *,
    loop: asyncio.AbstractEventLoop | None = None,
    ssl_to_proxy: ssl_module.SSLContext | None = None,
    user_agent: str | None = None,
) -> tuple[asyncio.Transport, bytes]:
    """Connect to ``proxy`` and ask it for a tunnel to ``host:port``.

    Returns the transport (reading paused, its protocol a placeholder) and the bytes
    that already arrived through the tunnel.  Install your protocol with
    ``transport.set_protocol(p)``, call ``p.connection_made(transport)``, feed it the
    bytes, then ``transport.resume_reading()`` -- or start TLS first with
    ``loop.start_tls(transport, p, ctx, server_hostname=host)``.

    For ``https://`` proxies the connection to the proxy uses TLS with
    ``ssl_to_proxy`` (default: :func:`tether.tls.client_ssl_context`).  Raises
    :exc:`ProxyError` when the proxy cannot be reached or refuses.
    """
    loop = loop or asyncio.get_running_loop()
    resolved_ip = None
    if not proxy.remote_dns:
        resolved_ip = await _resolve(loop, host, port)
    handshake = proxy_handshake(proxy, host, port, resolved_ip, user_agent)
    tls_context = None
    if proxy.tls:
        tls_context = ssl_to_proxy or client_ssl_context()
    protocol: _HandshakeProtocol | None = None

    def factory() -> _HandshakeProtocol:
        nonlocal protocol
        protocol = _HandshakeProtocol(handshake, proxy)
        return protocol

    try:
        transport = await _connect(loop, factory, proxy, tls_context)
    except BaseException:
        _forget(protocol)
        raise
    assert protocol is not None
    try:
        leftover = await protocol.finished
    except BaseException:
        transport.abort()
        raise
    # Bytes that came in the same read as the end of the handshake are in ``leftover``;
    # reading is paused from then on, so ``extra`` is empty but kept for safety.
    return transport, leftover + bytes(protocol.extra)


async def create_connection_via_proxy(
    protocol_factory: Callable[[], Connection],
    proxy: Proxy,
    host: str,
    port: int,
    *,
    ssl: ssl_module.SSLContext | None = None,
    server_hostname: str | None = None,
    ssl_to_proxy: ssl_module.SSLContext | None = None,
    ssl_handshake_timeout: float | None = None,
    user_agent: str | None = None,
) -> tuple[asyncio.Transport, Connection]:
    """Like ``loop.create_connection(protocol_factory, host, port, ssl=...)``, via ``proxy``.

    Opens the tunnel, runs TLS over it when ``ssl`` is given (``server_hostname``
    defaults to ``host``), then hands the transport to the new protocol.
    TLS failures raise a clarified :class:`ssl.SSLError` (see
    :func:`tether.tls.clarify_tls_error`).
    """
    loop = asyncio.get_running_loop()
    transport, leftover = await open_tunnel(
        proxy, host, port, loop=loop, ssl_to_proxy=ssl_to_proxy, user_agent=user_agent
    )
    try:
        if ssl is not None:
            if leftover:
                # The client speaks first in TLS; bytes before our ClientHello are not TLS.
                raise ProxyError(
                    f"the proxy at {proxy.address} sent {len(leftover)} unexpected bytes "
                    "after opening the tunnel"
                )
            hostname = server_hostname if server_hostname is not None else host
            # A placeholder until TLS is up, so that a failed handshake does not call
            # connection_lost() on a protocol that never saw connection_made().
            placeholder = _Buffer()
            try:
                tls_transport = await loop.start_tls(
                    transport,
                    placeholder,
                    ssl,
                    server_hostname=hostname,
                    ssl_handshake_timeout=ssl_handshake_timeout,
                )
            except ssl_module.SSLError as exc:
                raise clarify_tls_error(exc, hostname) from exc
            transport = cast(asyncio.Transport, tls_transport)
            protocol = protocol_factory()
            transport.set_protocol(protocol)
            protocol.connection_made(transport)
            if placeholder.data:
                protocol.data_received(bytes(placeholder.data))
        else:
            protocol = protocol_factory()
            transport.set_protocol(protocol)
            protocol.connection_made(transport)
            if leftover:
                protocol.data_received(leftover)
            transport.resume_reading()
    except BaseException:
        transport.abort()
        raise
    return transport, protocol
