"""Qt-style objects on tether's asyncio engine: signals, slots, properties.

``WebSocket`` is Qt's ``QWebSocket`` (and QML's ``WebSocket``), ``WebSocketServer``
is ``QWebSocketServer`` (and QML's ``WebSocketServer``), ``EventLoop`` plays
``QCoreApplication``.  Names are Qt's in snake_case; docs/qt-style-api.md lists each
Qt name next to tether's.  Which thread runs your slots: see :mod:`tether.signals.loop`.
"""

from .auth import Authenticator
from .cors import CorsAuthenticator
from .enums import CloseCode, SocketError, SocketState, SslMode, Status
from .loop import EventLoop
from .mask import MaskGenerator
from .request import HandshakeOptions, NetworkRequest
from .server import WebSocketServer
from .signal import Signal, sender
from .sslerror import SslError
from .websocket import WebSocket

__all__ = [
    "Authenticator",
    "CloseCode",
    "CorsAuthenticator",
    "EventLoop",
    "HandshakeOptions",
    "MaskGenerator",
    "NetworkRequest",
    "Signal",
    "SocketError",
    "SocketState",
    "SslError",
    "SslMode",
    "Status",
    "WebSocket",
    "WebSocketServer",
    "sender",
]
