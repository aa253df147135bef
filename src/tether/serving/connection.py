"""The server connection :mod:`tether.serving` uses: counts, logs, real client address.

A subclass of :class:`tether.asyncio.ServerConnection`, installed through
``Server.connection_class``; the engine's hot path is unchanged except that the
transport is wrapped to count the bytes written.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, Iterable
from typing import Any, ClassVar, cast

from ..asyncio.connection import Data
from ..asyncio.server import ServerConnection
from ..core import proxy_protocol
from ..core.http11 import Request
from .forwarded import TrustedProxies
from .logs import access_log
from .metrics import Metrics

__all__ = ["ServingConnection", "ServingState"]


class ServingState:
    """What every connection of one served app shares."""

    def __init__(self, metrics: Metrics, trusted: TrustedProxies | None = None,
                 proxy_protocol: bool = False) -> None:
        self.metrics = metrics
        self.trusted = trusted or TrustedProxies()
        self.proxy_protocol = proxy_protocol
        self.ready = True


class _CountingTransport:
    """Forwards everything to the real transport, counting the bytes written."""

    def __init__(self, transport: asyncio.Transport, metrics: Metrics) -> None:
        self._t = transport
        self._m = metrics

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._m.bytes_out += len(data)
        self._t.write(data)

    def writelines(self, lines: Iterable[bytes | bytearray | memoryview]) -> None:
        lines = list(lines)
        self._m.bytes_out += sum(len(x) for x in lines)
        self._t.writelines(lines)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._t, name)


class ServingConnection(ServerConnection):
    """Counts into :class:`Metrics`, logs open/close, knows the real client address."""

    state_: ClassVar[ServingState]

    def __init__(self, server: Any, **kwargs: Any) -> None:
        super().__init__(server, **kwargs)
        #: The client's address as proxies told it (PROXY protocol, X-Forwarded-For);
        #: None when the TCP peer is the client.
        self.client_address: tuple[str, int] | None = None
        self.proxy_info: proxy_protocol.ProxyInfo | None = None
        self._proxy_buf: bytearray | None = (bytearray() if self.state_.proxy_protocol
                                             else None)
        self._opened_at = 0.0
        self._in = 0
        self._out = 0

    @property
    def peer_address(self) -> Any:
        """The TCP peer (a proxy, when there is one)."""
        return self.transport.get_extra_info("peername") if self.transport else None

    @property
    def remote_address(self) -> Any:
        """The client's address: from trusted proxies when they said, else the peer."""
        if self.client_address is not None:
            return self.client_address
        return self.peer_address

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        wrapped = _CountingTransport(cast(asyncio.Transport, transport), self.state_.metrics)
        super().connection_made(cast(asyncio.Transport, wrapped))

    def buffer_updated(self, nbytes: int) -> None:
        if self.protocol is not None:  # before, data_received() counts the bytes
            self.state_.metrics.bytes_in += nbytes
        super().buffer_updated(nbytes)

    def data_received(self, data: bytes) -> None:
        self.state_.metrics.bytes_in += len(data)
        buf = self._proxy_buf
        if buf is not None:
            buf += data
            try:
                parsed = proxy_protocol.parse(buf)
            except proxy_protocol.ProxyProtocolError as exc:
                self.state_.metrics.proxy_protocol_errors += 1
                self.logger.info("bad PROXY protocol header from %s: %s",
                                 self.peer_address, exc)
                self._proxy_buf = None
                if self.transport is not None:
                    self.transport.abort()
                return
            if parsed is None:
                return
            info, used = parsed
            self._proxy_buf = None
            peer = self.peer_address
            trusted = self.state_.trusted
            if trusted and (not peer or peer[0] not in trusted):
                self.logger.info("PROXY header from untrusted peer %s ignored", peer)
            else:
                self.proxy_info = info
                if info.source is not None:
                    self.client_address = info.source
            data = bytes(buf[used:])
            if not data:
                return
        super().data_received(data)

    def _handshake(self, request: Request) -> None:
        if self.proxy_info is None:
            forwarded = self.state_.trusted.client_address(self.peer_address, request.headers)
            if forwarded is not None:
                self.client_address = forwarded
        super()._handshake(request)

    def _start(self, protocol: Any) -> None:
        super()._start(protocol)
        self._opened_at = time.monotonic()
        self.state_.metrics.connections_opened += 1
        client = self.remote_address
        access_log.info("open %s %s from %s", self.id.hex[:12], self.path,
                        _fmt(client), extra={
                            "event": "open", "conn": self.id.hex, "path": self.path,
                            "client": _fmt(client), "peer": _fmt(self.peer_address)})

    def _on_message(self, data: Data) -> None:
        self.state_.metrics.messages_in += 1
        self._in += 1
        super()._on_message(data)

    async def send(self, message: Data | bytearray | memoryview | Iterable[Data]
                   | AsyncIterable[Data], *, compress: bool = True) -> None:
        await super().send(message, compress=compress)
        self.state_.metrics.messages_out += 1
        self._out += 1

    def try_send_prepared(self, frame: bytes) -> int:
        n = super().try_send_prepared(frame)
        if n >= 0:
            self.state_.metrics.messages_out += 1
            self._out += 1
        return n

    def _acknowledge_pings(self, payload: bytes) -> None:
        answered = payload in self._pings
        super()._acknowledge_pings(payload)
        if answered:
            self.state_.metrics.observe_latency(self.latency)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self.protocol is None:
            return
        code = self.close_code
        self.state_.metrics.count_close(code)
        seconds = time.monotonic() - self._opened_at
        access_log.info(
            "close %s code=%s reason=%r after %.3fs in=%d out=%d", self.id.hex[:12], code,
            self.close_reason or "", seconds, self._in, self._out, extra={
                "event": "close", "conn": self.id.hex, "path": self.path,
                "client": _fmt(self.remote_address), "code": code,
                "reason": self.close_reason or "", "duration": round(seconds, 6),
                "messages_in": self._in, "messages_out": self._out})


def _fmt(addr: Any) -> str:
    if isinstance(addr, tuple) and len(addr) >= 2:
        host = str(addr[0])
        return f"[{host}]:{addr[1]}" if ":" in host else f"{host}:{addr[1]}"
    return str(addr)
