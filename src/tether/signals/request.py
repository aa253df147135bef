"""What :meth:`WebSocket.open` takes besides a URL: Qt's ``QNetworkRequest`` and
``QWebSocketHandshakeOptions``."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

__all__ = ["HandshakeOptions", "NetworkRequest"]


@dataclasses.dataclass
class NetworkRequest:
    """The upgrade request: the URL and extra HTTP headers (``QNetworkRequest``).

    ``headers`` are sent with the opening handshake (``Authorization``, cookies ...).
    ``transfer_timeout`` (seconds) bounds the whole opening: TCP, TLS and handshake;
    ``None`` keeps the socket's :attr:`~tether.signals.WebSocket.handshake_timeout`.
    On a server-side socket, :attr:`~tether.signals.WebSocket.request` holds the
    client's request the same way.
    """

    url: str
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)
    transfer_timeout: float | None = None

    def header(self, name: str) -> str | None:
        """A header's value, found without regard to case."""
        lower = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lower:
                return value
        return None


@dataclasses.dataclass
class HandshakeOptions:
    """Options of the opening handshake (``QWebSocketHandshakeOptions``).

    ``subprotocols`` are offered to the server in order of preference; the one it
    picks is :attr:`~tether.signals.WebSocket.subprotocol`.
    """

    subprotocols: Sequence[str] = ()
