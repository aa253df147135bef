"""Topics, publish/subscribe and broadcast over WebSocket connections.

- :class:`Hub`: subscribe connections to topics, ``publish(topic, message)``,
  ``broadcast(connections, message)``; a message is framed once for all receivers and
  a slow reader gets the hub's :class:`Policy` (drop, latest value per topic, close).
- :mod:`tether.pubsub.protocol`: the JSON subscription protocol browsers speak.
- :class:`Backplane`: how hubs in several processes share messages;
  :class:`MemoryBackplane` (default) and :class:`tether.pubsub.redis.RedisBackplane`.
"""

from . import protocol
from .backplane import Backplane, Gap, MemoryBackplane, MemoryBus
from .hub import Hub, Policy, handle_request, serve_subscriptions

__all__ = [
    "Backplane",
    "Gap",
    "Hub",
    "MemoryBackplane",
    "MemoryBus",
    "Policy",
    "handle_request",
    "protocol",
    "serve_subscriptions",
]
