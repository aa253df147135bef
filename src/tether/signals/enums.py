"""The enumerations of the Qt-style API, named after Qt's (``QAbstractSocket::ConnectedState``
is ``SocketState.CONNECTED``; ``QWebSocketProtocol::CloseCodeNormal`` is
``CloseCode.NORMAL``).  Values are Qt's where Qt has numbers."""

from __future__ import annotations

import enum

__all__ = ["CloseCode", "SocketError", "SocketState", "SslMode", "Status"]


class SocketState(enum.IntEnum):
    """``QAbstractSocket::SocketState``: what :attr:`WebSocket.state` says.

    A WebSocket goes UNCONNECTED -> CONNECTING -> CONNECTED -> CLOSING -> UNCONNECTED;
    the other values exist for parity with Qt and are never reported.
    """

    UNCONNECTED = 0
    HOST_LOOKUP = 1
    CONNECTING = 2
    CONNECTED = 3
    BOUND = 4
    LISTENING = 5
    CLOSING = 6


class Status(enum.IntEnum):
    """The QML ``WebSocket.status``: ``WebSocket.Connecting`` ... ``WebSocket.Error``."""

    CONNECTING = 0
    OPEN = 1
    CLOSING = 2
    CLOSED = 3
    ERROR = 4


class SocketError(enum.IntEnum):
    """``QAbstractSocket::SocketError``: what :attr:`WebSocket.error` says."""

    UNKNOWN_SOCKET_ERROR = -1
    CONNECTION_REFUSED_ERROR = 0
    REMOTE_HOST_CLOSED_ERROR = 1
    HOST_NOT_FOUND_ERROR = 2
    SOCKET_ACCESS_ERROR = 3
    SOCKET_RESOURCE_ERROR = 4
    SOCKET_TIMEOUT_ERROR = 5
    DATAGRAM_TOO_LARGE_ERROR = 6
    NETWORK_ERROR = 7
    ADDRESS_IN_USE_ERROR = 8
    SOCKET_ADDRESS_NOT_AVAILABLE_ERROR = 9
    UNSUPPORTED_SOCKET_OPERATION_ERROR = 10
    UNFINISHED_SOCKET_OPERATION_ERROR = 11
    PROXY_AUTHENTICATION_REQUIRED_ERROR = 12
    SSL_HANDSHAKE_FAILED_ERROR = 13
    PROXY_CONNECTION_REFUSED_ERROR = 14
    PROXY_CONNECTION_CLOSED_ERROR = 15
    PROXY_CONNECTION_TIMEOUT_ERROR = 16
    PROXY_NOT_FOUND_ERROR = 17
    PROXY_PROTOCOL_ERROR = 18
    OPERATION_ERROR = 19
    SSL_INTERNAL_ERROR = 20
    SSL_INVALID_USER_DATA_ERROR = 21
    TEMPORARY_ERROR = 22


class CloseCode(enum.IntEnum):
    """``QWebSocketProtocol::CloseCode``: the RFC 6455 close codes (section 7.4.1)."""

    NORMAL = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    DATATYPE_NOT_SUPPORTED = 1003
    RESERVED_1004 = 1004
    MISSING_STATUS_CODE = 1005
    ABNORMAL_DISCONNECTION = 1006
    WRONG_DATATYPE = 1007
    POLICY_VIOLATED = 1008
    TOO_MUCH_DATA = 1009
    MISSING_EXTENSION = 1010
    BAD_OPERATION = 1011
    TLS_HANDSHAKE_FAILED = 1015


class SslMode(enum.IntEnum):
    """``QWebSocketServer::SslMode``: whether a server speaks wss:// or ws://."""

    SECURE_MODE = 0
    NON_SECURE_MODE = 1


def close_code(code: int) -> int:
    """``code`` as a :class:`CloseCode` when it is one, else the plain int (3000-4999)."""
    try:
        return CloseCode(code)
    except ValueError:
        return code
