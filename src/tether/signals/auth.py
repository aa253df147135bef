"""``QAuthenticator``: credentials that a slot fills in when a proxy or server asks."""

from __future__ import annotations

__all__ = ["Authenticator"]


class Authenticator:
    """Handed to ``proxy_authentication_required`` and ``authentication_required`` slots.

    A slot sets :attr:`user` and :attr:`password`; the socket then tries again with
    them (once).  Left empty, the attempt fails with the error that asked.
    """

    def __init__(self, realm: str = "") -> None:
        self.realm = realm
        self.user = ""
        self.password = ""

    def is_null(self) -> bool:
        """Whether no credentials were given (Qt's ``isNull()``)."""
        return not self.user and not self.password

    def __repr__(self) -> str:
        return f"<Authenticator realm={self.realm!r} user={self.user!r}>"
