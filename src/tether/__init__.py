"""tether: WebSocket servers and clients for Python.

``async with tether.serve(handler, host, port)`` and ``async with tether.connect(uri)``
are the asyncio API; :mod:`tether.signals` offers Qt-style objects and
:mod:`tether.sync` a blocking API.  All share the sans-I/O core in :mod:`tether.core`.
"""

from .asyncio import (
    ClientConnection,
    Connection,
    Server,
    ServerConnection,
    basic_http_response,
    connect,
    run,
    serve,
    unix_connect,
    unix_serve,
)
from .core.http11 import Headers, Request, Response
from .core.protocol import State
from .exceptions import (
    ConcurrencyError,
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidHandshake,
    InvalidHeader,
    InvalidMessage,
    InvalidOrigin,
    InvalidRedirect,
    InvalidStatus,
    InvalidUpgrade,
    InvalidURI,
    InvalidUTF8,
    NegotiationError,
    PayloadTooBig,
    ProtocolError,
    ProxyError,
    TetherError,
    UsageError,
)
from .version import __version__

__all__ = [
    "ClientConnection",
    "ConcurrencyError",
    "Connection",
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "Headers",
    "InvalidHandshake",
    "InvalidHeader",
    "InvalidMessage",
    "InvalidOrigin",
    "InvalidRedirect",
    "InvalidStatus",
    "InvalidURI",
    "InvalidUTF8",
    "InvalidUpgrade",
    "NegotiationError",
    "PayloadTooBig",
    "ProtocolError",
    "ProxyError",
    "Request",
    "Response",
    "Server",
    "ServerConnection",
    "State",
    "TetherError",
    "UsageError",
    "__version__",
    "basic_http_response",
    "connect",
    "run",
    "serve",
    "unix_connect",
    "unix_serve",
]
