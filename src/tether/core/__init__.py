"""The sans-I/O core: HTTP/1.1 handshake, frames, protocol state, extensions, URIs.

Nothing here does I/O; the engines (:mod:`tether.asyncio`, :mod:`tether.sync`) feed
it bytes and write what it queues.
"""

from .events import CloseReceived, Event, FrameReceived, Message, Ping, Pong
from .protocol import DEFAULT_MAX_SIZE, Protocol, Role, State

__all__ = [
    "DEFAULT_MAX_SIZE",
    "CloseReceived",
    "Event",
    "FrameReceived",
    "Message",
    "Ping",
    "Pong",
    "Protocol",
    "Role",
    "State",
]
