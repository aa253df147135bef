"""What the protocol core hands to its engine: frozen event objects."""

from __future__ import annotations

import dataclasses

__all__ = ["CloseReceived", "Event", "FrameReceived", "Message", "Ping", "Pong"]


@dataclasses.dataclass(frozen=True, slots=True)
class Message:
    """A complete message: ``str`` for text, ``bytes`` for binary."""

    data: str | bytes


@dataclasses.dataclass(frozen=True, slots=True)
class FrameReceived:
    """One data frame of a message (only when the protocol was asked for frames).

    ``data`` is the frame's share of the message, decoded (text) or raw (binary),
    after extensions; ``is_last`` marks the frame that ends the message.
    """

    data: str | bytes
    is_last: bool


@dataclasses.dataclass(frozen=True, slots=True)
class Ping:
    """A ping arrived; the core already queued the pong."""

    payload: bytes


@dataclasses.dataclass(frozen=True, slots=True)
class Pong:
    """A pong arrived."""

    payload: bytes


@dataclasses.dataclass(frozen=True, slots=True)
class CloseReceived:
    """The peer's close frame arrived (code 1005 when it carried none)."""

    code: int
    reason: str


Event = Message | FrameReceived | Ping | Pong | CloseReceived
