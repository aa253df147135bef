"""How hubs in different processes (or machines) share their messages.

A :class:`Backplane` carries what one hub publishes to the hubs of other processes.
The hub always delivers to its own subscribers first and directly, so local delivery
never depends on the backplane (it keeps working while Redis is down); the backplane
only carries messages between hubs, and only for topics with local subscribers.

Two implementations: :class:`MemoryBackplane` (the default, nothing to install; hubs in
one process that share a :class:`MemoryBus` see each other's messages) and
:class:`tether.pubsub.redis.RedisBackplane` (Redis pub/sub, for many processes).
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable

__all__ = ["Backplane", "Deliver", "Gap", "MemoryBackplane", "MemoryBus", "Message"]

#: A message's body: ``str`` goes out as a text frame, ``bytes`` as a binary one.
Message = str | bytes
#: Called by a backplane for each message from another hub: ``deliver(topic, data, retain)``.
Deliver = Callable[[str, Message, bool], None]


@dataclasses.dataclass(frozen=True)
class Gap:
    """A time when the backplane was cut off: messages from other hubs may be missing.

    ``started`` and ``ended`` are ``time.time()`` values; ``lost_publishes`` counts the
    messages this hub could not hand to the backplane meanwhile (its own subscribers
    got them).
    """

    started: float
    ended: float
    lost_publishes: int
    reason: str = ""

    @property
    def duration(self) -> float:
        return self.ended - self.started


class Backplane(abc.ABC):
    """The interface a hub uses to reach the hubs of other processes."""

    _deliver: Deliver | None = None
    _on_gap: Callable[[Gap], None] | None = None

    def bind(self, deliver: Deliver, on_gap: Callable[[Gap], None]) -> None:
        """Called once by the hub: where to hand messages and gap reports."""
        self._deliver = deliver
        self._on_gap = on_gap

    async def start(self) -> None:  # noqa: B027 - optional
        """Connect (a backplane that needs no I/O has nothing to do)."""

    async def close(self) -> None:  # noqa: B027 - optional
        """Disconnect and stop every task started by :meth:`start`."""

    @abc.abstractmethod
    def subscribe(self, topic: str) -> None:
        """The hub has its first local subscriber to ``topic``: start receiving it."""

    @abc.abstractmethod
    def unsubscribe(self, topic: str) -> None:
        """The hub's last local subscriber to ``topic`` left: stop receiving it."""

    @abc.abstractmethod
    def publish(self, topic: str, data: Message, retain: bool = False) -> None:
        """Send a message to the other hubs (never waits; the hub delivered it locally)."""

    @property
    def connected(self) -> bool:
        """Whether messages from other hubs can arrive now."""
        return True


class MemoryBus:
    """Hubs in one process whose :class:`MemoryBackplane` share this bus see each other."""

    def __init__(self) -> None:
        self.members: list[MemoryBackplane] = []


class MemoryBackplane(Backplane):
    """The embedded default: no other process; optionally a bus shared by several hubs."""

    def __init__(self, bus: MemoryBus | None = None) -> None:
        self.bus = bus
        self.topics: set[str] = set()
        if bus is not None:
            bus.members.append(self)

    def subscribe(self, topic: str) -> None:
        self.topics.add(topic)

    def unsubscribe(self, topic: str) -> None:
        self.topics.discard(topic)

    def publish(self, topic: str, data: Message, retain: bool = False) -> None:
        if self.bus is None:
            return
        for member in self.bus.members:
            if member is not self and topic in member.topics and member._deliver is not None:
                member._deliver(topic, data, retain)

    async def close(self) -> None:
        if self.bus is not None and self in self.bus.members:
            self.bus.members.remove(self)
