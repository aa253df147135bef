"""The asyncio engine: :func:`connect`, :func:`serve` and their connections."""

from .client import ClientConnection, connect
from .connection import Connection, Data
from .runner import loop_factory, run
from .server import Server, ServerConnection, basic_http_response, serve

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
]
