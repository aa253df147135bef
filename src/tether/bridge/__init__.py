"""Bridges: a WebSocket face for services that have none.

- :func:`bridge_tcp` (:mod:`.tcp`): one TCP connection per WebSocket, bytes both ways.
- :func:`bridge_process` (:mod:`.process`): one program per WebSocket, stdin/stdout.
- :class:`HttpPoller` (:mod:`.http_poll`), :class:`SseBridge` (:mod:`.sse`) and
  :class:`RemoteFeed` (:mod:`.feed`): one upstream, published to a topic of a
  :class:`tether.pubsub.Hub` for every subscriber.
- :class:`Router` (:mod:`.routing`): several of them on one server, by path.

See docs/bridge.md; ``tether bridge`` is the command line.
"""

from .feed import RemoteFeed
from .http_poll import HttpPoller
from .process import bridge_process
from .routing import Router
from .sse import SseBridge, SseParser
from .tcp import bridge_tcp

__all__ = ["HttpPoller", "RemoteFeed", "Router", "SseBridge", "SseParser", "bridge_process",
           "bridge_tcp"]
