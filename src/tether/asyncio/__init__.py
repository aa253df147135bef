"""The asyncio engine: :func:`connect`, :func:`serve` and their connections."""

from .client import ClientConnection, connect, unix_connect
from .connection import Connection, Data
from .runner import loop_factory, run
from .server import Server, ServerConnection, basic_http_response, serve, unix_serve

__all__ = [
    "ClientConnection",
    "Connection",
    "Data",
    "Server",
    "ServerConnection",
    "basic_http_response",
    "connect",
    "loop_factory",
    "run",
    "serve",
    "unix_connect",
    "unix_serve",
]
