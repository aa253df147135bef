"""The JSON subscription protocol: what a browser (or any tether client) says to a hub.

Pure functions, no I/O, so every tether API (asyncio, Qt-style, blocking) and a page's
JavaScript speak the same thing.  One JSON object per text message.

Client to server::

    {"op": "subscribe",   "topics": ["AAPL", "MSFT"], "id": 1}
    {"op": "unsubscribe", "topics": ["MSFT"],         "id": 2}
    {"op": "publish", "topic": "chat", "data": ...,   "id": 3}   (only if the server allows it)

``id`` is optional and comes back in the answer.  Server to client::

    {"op": "subscribed",   "topics": ["AAPL", "MSFT"], "id": 1}   acknowledgement
    {"op": "unsubscribed", "topics": ["MSFT"],         "id": 2}
    {"op": "published", "topic": "chat", "id": 3}
    {"op": "error", "error": "unknown topic: XYZ", "topics": ["XYZ"], "id": 1}
    {"op": "message", "topic": "AAPL", "data": {...}}              a published message
    {"op": "gap", "started": 1700000000.0, "ended": 1700000003.2}  messages may be missing
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from typing import Any

__all__ = [
    "MAX_TOPICS_PER_REQUEST",
    "MAX_TOPIC_LENGTH",
    "ClientRequest",
    "ServerMessage",
    "SubscriptionError",
    "ack",
    "error",
    "gap",
    "message",
    "parse_request",
    "parse_server_message",
    "publish_request",
    "subscribe_request",
    "unsubscribe_request",
]

#: Topics one request may name: a page subscribes to a handful; a request naming a
#: million would make the server do a million set insertions for one message.
MAX_TOPICS_PER_REQUEST = 1000
#: Longest topic name, in characters: names are keys in the hub's tables and in Redis.
MAX_TOPIC_LENGTH = 200

_CLIENT_OPS = frozenset({"subscribe", "unsubscribe", "publish"})


class SubscriptionError(ValueError):
    """A request that breaks the protocol; ``id`` is the request's id when it had one."""

    def __init__(self, text: str, id: Any = None) -> None:
        super().__init__(text)
        self.id = id


@dataclasses.dataclass(frozen=True)
class ClientRequest:
    """A parsed client request."""

    op: str
    topics: tuple[str, ...] = ()
    topic: str | None = None
    data: Any = None
    id: Any = None


@dataclasses.dataclass(frozen=True)
class ServerMessage:
    """A parsed server message (see the module docstring for the ops)."""

    op: str
    topic: str | None = None
    topics: tuple[str, ...] = ()
    data: Any = None
    id: Any = None
    error: str | None = None
    raw: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False)


def _dumps(obj: dict[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _with_id(obj: dict[str, Any], id: Any) -> dict[str, Any]:
    if id is not None:
        obj["id"] = id
    return obj


def _check_topic(topic: object, id: Any) -> str:
    if not isinstance(topic, str) or not topic:
        raise SubscriptionError("a topic is a non-empty string", id)
    if len(topic) > MAX_TOPIC_LENGTH:
        raise SubscriptionError(f"topic longer than {MAX_TOPIC_LENGTH} characters", id)
    return topic


# -- client side ------------------------------------------------------------------


def subscribe_request(topics: Iterable[str], id: Any = None) -> str:
    """``{"op": "subscribe", "topics": [...]}``, ready to send."""
    return _dumps(_with_id({"op": "subscribe", "topics": list(topics)}, id))


def unsubscribe_request(topics: Iterable[str], id: Any = None) -> str:
    """``{"op": "unsubscribe", "topics": [...]}``, ready to send."""
    return _dumps(_with_id({"op": "unsubscribe", "topics": list(topics)}, id))


def publish_request(topic: str, data: Any, id: Any = None) -> str:
    """``{"op": "publish", "topic": ..., "data": ...}``, ready to send."""
    return _dumps(_with_id({"op": "publish", "topic": topic, "data": data}, id))


def parse_server_message(text: str | bytes) -> ServerMessage:
    """Parse what a hub sent; raises :class:`SubscriptionError` if it is not ours."""
    try:
        obj = json.loads(text)
    except ValueError as exc:
        raise SubscriptionError(f"not JSON: {exc}") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("op"), str):
        raise SubscriptionError('not a protocol message (a JSON object with an "op")')
    topics = obj.get("topics") or ()
    return ServerMessage(
        op=obj["op"], topic=obj.get("topic"),
        topics=tuple(topics) if isinstance(topics, list) else (),
        data=obj.get("data"), id=obj.get("id"), error=obj.get("error"), raw=obj,
    )


# -- server side ------------------------------------------------------------------


def parse_request(text: str | bytes) -> ClientRequest:
    """Parse and check a client request; raises :class:`SubscriptionError`."""
    try:
        obj = json.loads(text)
    except ValueError as exc:
        raise SubscriptionError(f"not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise SubscriptionError("a request is a JSON object")
    id = obj.get("id")
    op = obj.get("op")
    if op not in _CLIENT_OPS:
        raise SubscriptionError(f"unknown op {op!r} (use subscribe, unsubscribe or publish)",
                                id)
    if op == "publish":
        return ClientRequest(op, topic=_check_topic(obj.get("topic"), id),
                             data=obj.get("data"), id=id)
    topics = obj.get("topics")
    if isinstance(topics, str):
        topics = [topics]
    if not isinstance(topics, list):
        raise SubscriptionError('"topics" is a list of strings', id)
    if len(topics) > MAX_TOPICS_PER_REQUEST:
        raise SubscriptionError(f"more than {MAX_TOPICS_PER_REQUEST} topics in one request",
                                id)
    checked = tuple(dict.fromkeys(_check_topic(t, id) for t in topics))
    return ClientRequest(op, topics=checked, id=id)


def ack(op: str, topics: Iterable[str] = (), id: Any = None, topic: str | None = None) -> str:
    """The acknowledgement of a request: ``subscribed``, ``unsubscribed``, ``published``."""
    obj: dict[str, Any] = {"op": op}
    if topic is not None:
        obj["topic"] = topic
    else:
        obj["topics"] = list(topics)
    return _dumps(_with_id(obj, id))


def error(text: str, id: Any = None, topics: Iterable[str] = ()) -> str:
    """``{"op": "error", "error": text}``."""
    obj: dict[str, Any] = {"op": "error", "error": text}
    topics = list(topics)
    if topics:
        obj["topics"] = topics
    return _dumps(_with_id(obj, id))


def message(topic: str, data: Any) -> str:
    """A published message as subscribers receive it: ``{"op": "message", ...}``.

    Build it once and hand the string to :meth:`Hub.publish`: it is framed once too.
    """
    return _dumps({"op": "message", "topic": topic, "data": data})


def gap(started: float, ended: float) -> str:
    """Tell a client that messages from other servers may be missing for that time."""
    return _dumps({"op": "gap", "started": started, "ended": ended})
