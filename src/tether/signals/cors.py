"""``QWebSocketCorsAuthenticator``: lets a slot allow or deny a client's Origin."""

from __future__ import annotations

__all__ = ["CorsAuthenticator"]


class CorsAuthenticator:
    """Handed to :attr:`WebSocketServer.origin_authentication_required` slots.

    ``origin`` is the client's ``Origin`` header (``""`` when it sent none: non-browser
    clients usually don't).  ``allowed`` starts true; a slot sets it to ``False`` to
    refuse the connection, which the server then answers with ``403 Forbidden``.
    """

    __slots__ = ("allowed", "origin")

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.allowed = True

    def __repr__(self) -> str:
        return f"<CorsAuthenticator origin={self.origin!r} allowed={self.allowed}>"
