"""The extension negotiation interface (RFC 6455 section 9).

An extension is negotiated in the opening handshake by a *factory* (one per
role) and then transforms data frames through an :class:`Extension` object.
permessage-deflate (RFC 7692) is the one tether ships; others plug in the same way.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import ClassVar

from ..frames import Frame

__all__ = [
    "ClientExtensionFactory",
    "Extension",
    "ExtensionParameter",
    "ServerExtensionFactory",
]

#: One ``name[=value]`` parameter of an extension offer or response.
ExtensionParameter = tuple[str, str | None]


class Extension(abc.ABC):
    """A negotiated extension: transforms data frames on the way in and out."""

    name: ClassVar[str]
    #: The RSV bits this extension may set on frames (0x40 = RSV1, 0x20, 0x10).
    rsv_bits: ClassVar[int] = 0

    @abc.abstractmethod
    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        """Transform a received data frame (first or continuation).

        ``max_size`` is how many payload bytes this frame may still produce
        before the message passes its limit; raise ``PayloadTooBig`` past it,
        never holding more than that.  Raise ``ProtocolError`` for bad input.
        """

    @abc.abstractmethod
    def encode(self, frame: Frame, *, compress: bool = True) -> Frame:
        """Transform a data frame before it is sent.

        ``compress=False`` asks to send this message untransformed (it is read
        on the first frame of a message and kept for its continuations).
        """


class ClientExtensionFactory(abc.ABC):
    """The client side of negotiation: makes an offer, accepts a response."""

    name: ClassVar[str]

    @abc.abstractmethod
    def get_request_params(self) -> list[ExtensionParameter]:
        """The parameters to offer in ``Sec-WebSocket-Extensions``."""

    @abc.abstractmethod
    def process_response_params(
        self, params: Sequence[ExtensionParameter], accepted: Sequence[Extension]
    ) -> Extension:
        """Build the extension from the server's response; raise ``NegotiationError``
        when the response is not acceptable (the client then fails the connection)."""


class ServerExtensionFactory(abc.ABC):
    """The server side of negotiation: accepts or declines one offer."""

    name: ClassVar[str]

    @abc.abstractmethod
    def process_request_params(
        self, params: Sequence[ExtensionParameter], accepted: Sequence[Extension]
    ) -> tuple[list[ExtensionParameter], Extension]:
        """Accept an offer: return the response parameters and the extension.

        Raise ``NegotiationError`` to decline this offer (the server then tries
        the client's next offer, or goes on without the extension).
        """
