"""Turning an engine's ``compression="deflate"`` option into extension factories."""

from __future__ import annotations

from collections.abc import Sequence

from .base import ClientExtensionFactory, ServerExtensionFactory

__all__ = ["client_extensions", "server_extensions"]


def _check(compression: str | None) -> None:
    if compression not in ("deflate", None):
        raise ValueError(f'compression must be "deflate" or None, not {compression!r}')


def server_extensions(
    compression: str | None, extensions: Sequence[ServerExtensionFactory] | None
) -> list[ServerExtensionFactory]:
    """The server's extension factories for this ``compression`` setting."""
    _check(compression)
    factories = list(extensions or [])
    if compression == "deflate":
        from .permessage_deflate import enable_server_permessage_deflate

        factories = enable_server_permessage_deflate(factories)
    return factories


def client_extensions(
    compression: str | None, extensions: Sequence[ClientExtensionFactory] | None
) -> list[ClientExtensionFactory]:
    """The client's extension factories for this ``compression`` setting."""
    _check(compression)
    factories = list(extensions or [])
    if compression == "deflate":
        from .permessage_deflate import enable_client_permessage_deflate

        factories = enable_client_permessage_deflate(factories)
    return factories
