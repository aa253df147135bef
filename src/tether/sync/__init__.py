"""The blocking API: WebSocket clients and servers on threads and sockets.

::

    from tether.sync import connect, serve

    with connect("ws://localhost:8765") as ws:
        ws.send("hello")
        print(ws.recv(timeout=5))

    def echo(ws):
        for message in ws:
            ws.send(message)

    with serve(echo, "localhost", 8765) as server:
        server.serve_forever()

Built directly on the sans-I/O core (:mod:`tether.core`), like the asyncio engine,
whose option names it shares.  See ``docs/sync.md``.
"""

from ..core.http11 import Headers, Request, Response
from ..core.protocol import State
from .client import ClientConnection, connect, unix_connect
from .connection import Connection, Data
from .server import Server, ServerConnection, serve

__all__ = [
    "ClientConnection",
    "Connection",
    "Data",
    "Headers",
    "Request",
    "Response",
    "Server",
    "ServerConnection",
    "State",
    "connect",
    "serve",
    "unix_connect",
]
