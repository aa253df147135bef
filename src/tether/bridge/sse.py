"""Server-Sent Events -> WebSocket: read an ``text/event-stream`` and publish each event
to the subscribers of a topic.

The stream is parsed as the HTML standard says (``data``/``event``/``id``/``retry``
fields, comments, CRLF/CR/LF line ends, a blank line dispatches).  When the stream
ends the bridge reconnects after the server's ``retry`` (default 3 s) with
``Last-Event-ID``; failures back off exponentially up to ``max_backoff``.

Subscribers receive ``{"op": "message", "topic": T, "data": D}`` where ``D`` is the
event's data parsed as JSON when it is JSON (else the string); events with a name
other than ``message`` also carry ``"event": name`` (and ``"id"`` when they have one).
"""

from __future__ import annotations

import asyncio
import codecs
import dataclasses
import json
import logging
from collections.abc import Iterator, Sequence
from typing import Any

from ..pubsub import Hub
from ._background import Background
from ._http import HttpError, stream

__all__ = ["SseBridge", "SseEvent", "SseParser"]

logger = logging.getLogger("tether.bridge")


@dataclasses.dataclass(frozen=True)
class SseEvent:
    data: str
    event: str = "message"
    id: str | None = None


class SseParser:
    """Incremental ``text/event-stream`` parser: ``feed(bytes)`` yields events."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._buf = ""
        self._data: list[str] = []
        self._event = ""
        self.last_id: str | None = None
        self.retry: float | None = None
        self._first = True

    def feed(self, chunk: bytes) -> Iterator[SseEvent]:
        text = self._decoder.decode(chunk)
        if self._first and text:
            text = text.removeprefix("\ufeff")
            self._first = False
        self._buf += text
        while True:
            cut = -1
            for i, ch in enumerate(self._buf):
                if ch in "\r\n":
                    cut = i
                    break
            if cut < 0:
                return
            if self._buf[cut] == "\r":
                if cut + 1 >= len(self._buf):
                    return  # maybe a CRLF split between chunks
                end = cut + 2 if self._buf[cut + 1] == "\n" else cut + 1
            else:
                end = cut + 1
            line = self._buf[:cut]
            self._buf = self._buf[end:]
            event = self._line(line)
            if event is not None:
                yield event

    def _line(self, line: str) -> SseEvent | None:
        if line == "":
            if not self._data:
                self._event = ""
                return None
            event = SseEvent("\n".join(self._data), self._event or "message", self.last_id)
            self._data = []
            self._event = ""
            return event
        if line.startswith(":"):
            return None
        name, sep, value = line.partition(":")
        if sep:
            value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\x00" not in value:
                self.last_id = value
        elif name == "retry" and value.isdigit():
            self.retry = int(value) / 1000
        return None


class SseBridge(Background):
    """Read ``url`` as Server-Sent Events and publish each event to ``topic`` on ``hub``."""

    def __init__(self, hub: Hub, topic: str, url: str, *, timeout: float = 10.0,
                 retry: float = 3.0, max_backoff: float = 60.0,
                 read_timeout: float | None = None,
                 headers: Sequence[tuple[str, str]] = ()) -> None:
        self.hub = hub
        self.topic = topic
        self.url = url
        self.timeout = timeout
        self.retry = retry
        self.max_backoff = max_backoff
        self.read_timeout = read_timeout
        self.headers = list(headers)
        self.last_id: str | None = None
        self.events = 0
        self.connects = 0
        self.errors = 0
        self.consecutive_errors = 0

    def publish(self, event: SseEvent) -> None:
        data: Any
        try:
            data = json.loads(event.data)
        except ValueError:
            data = event.data
        obj: dict[str, Any] = {"op": "message", "topic": self.topic}
        if event.event != "message":
            obj["event"] = event.event
            if event.id is not None:
                obj["id"] = event.id
        obj["data"] = data
        self.events += 1
        self.hub.publish(self.topic, json.dumps(obj, separators=(",", ":")))

    async def read_stream(self) -> None:
        """One connection: publish its events until the stream ends."""
        headers = [*self.headers, ("Accept", "text/event-stream"), ("Cache-Control", "no-cache")]
        if self.last_id is not None:
            headers.append(("Last-Event-ID", self.last_id))
        async with stream(self.url, headers, self.timeout, self.read_timeout) as (resp, body):
            if resp.status != 200:
                raise HttpError(f"{self.url} answered {resp.status}")
            ctype = (resp.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if ctype != "text/event-stream":
                raise HttpError(f"{self.url} is not an event stream (Content-Type {ctype!r})")
            self.connects += 1
            self.consecutive_errors = 0
            parser = SseParser()
            parser.last_id = self.last_id
            async for chunk in body:
                for event in parser.feed(chunk):
                    self.publish(event)
                self.last_id = parser.last_id
                if parser.retry is not None:
                    self.retry = parser.retry

    async def run(self) -> None:
        while True:
            try:
                await self.read_stream()
                delay = self.retry
                logger.info("event stream %s ended; reconnecting in %.1fs", self.url, delay)
            except (HttpError, OSError, TimeoutError) as exc:
                self.errors += 1
                self.consecutive_errors += 1
                delay = min(self.max_backoff, self.retry * 2 ** (self.consecutive_errors - 1))
                logger.warning("event stream %s failed (%d in a row): %s; retry in %.1fs",
                               self.url, self.consecutive_errors, exc, delay)
            await asyncio.sleep(delay)

