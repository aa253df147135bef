"""Several bridges on one server, chosen by the request path.

:class:`Router` is a connection handler (give it to :func:`tether.serve` or
:func:`tether.serving.serve_app`) and a ``process_request`` hook that answers 404
to paths nobody serves, before the handshake.  Everything else the server does
(origin check, token, connection limit, message size) applies to every route.

A topic route (:meth:`Router.topic`) subscribes each client to a topic of a
:class:`tether.pubsub.Hub` as soon as it connects (what ``--poll``, ``--sse`` and
``--feed`` publish to), acknowledging it with ``{"op": "subscribed", ...}`` unless
``ack=False``, then speaks :mod:`tether.pubsub.protocol` with it, limited to the topics
the router serves.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ..asyncio.connection import Connection
from ..core.handshake import reject
from ..core.http11 import Request, Response
from ..pubsub import Hub, serve_subscriptions
from ..pubsub import protocol as proto

__all__ = ["Route", "Router"]

Route = Callable[[Connection], Awaitable[None]]


def _path(target: str) -> str:
    return target.split("?", 1)[0]


class Router:
    """Bridges by path: ``router.add("/vnc", handler)``, then
    ``serve(router, process_request=router.process_request)``."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.topics: set[str] = set()

    def add(self, path: str, handler: Route) -> None:
        if not path.startswith("/"):
            raise ValueError(f"a route's path starts with '/': {path!r}")
        if path in self.routes:
            raise ValueError(f"two bridges on {path}")
        self.routes[path] = handler

    def topic(self, path: str, hub: Hub, topic: str, *, ack: bool = True) -> None:
        """Clients of ``path`` receive what is published to ``topic`` on ``hub``."""
        self.topics.add(topic)

        async def handler(ws: Connection) -> None:
            # The acknowledgement first, as for a subscribe request; then the retained
            # value (if any) and what is published from now on.
            if ack:
                await ws.send(proto.ack("subscribed", [topic]))
            hub.subscribe(ws, topic)
            await serve_subscriptions(hub, ws, authorize=lambda c, t: t in self.topics)

        self.add(path, handler)

    def process_request(self, conn: Connection, request: Request) -> Response | None:
        if _path(request.target) not in self.routes:
            return reject(404, f"Nothing is served at {_path(request.target)}; try "
                          + ", ".join(sorted(self.routes)) + ".")
        return None

    async def __call__(self, ws: Connection) -> None:
        handler = self.routes.get(_path(ws.path))
        if handler is None:  # process_request was not installed
            await ws.close(1008, "no such path")
            return
        await handler(ws)
