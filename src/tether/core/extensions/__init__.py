"""WebSocket extensions: the negotiation interface and permessage-deflate."""

from .base import ClientExtensionFactory, Extension, ExtensionParameter, ServerExtensionFactory

__all__ = ["ClientExtensionFactory", "Extension", "ExtensionParameter", "ServerExtensionFactory"]
