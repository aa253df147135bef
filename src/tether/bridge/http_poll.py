"""HTTP polling -> WebSocket: fetch a JSON endpoint every few seconds and push what
changed to the subscribers of a topic (:class:`tether.pubsub.Hub`).

- Conditional requests: the ``ETag`` of the last answer goes back as
  ``If-None-Match`` (and ``Last-Modified`` as ``If-Modified-Since``); a ``304 Not
  Modified`` costs no parsing and publishes nothing.
- A ``200`` whose JSON value equals the last one publishes nothing either (servers
  without ETags); a new value is published with ``retain=True``, so a client that
  subscribes later gets the current value at once.
- Every fetch has a timeout; failures (connection refused, timeout, 5xx, invalid JSON)
  back off exponentially (``every`` x 2, x 4, ... up to ``max_backoff``) and a
  ``Retry-After`` from a 429/503 is honoured; the first success returns to ``every``.

Subscribers receive :func:`tether.pubsub.protocol.message` envelopes:
``{"op": "message", "topic": "prices", "data": <the JSON document>}``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from typing import Any

from ..pubsub import Hub
from ..pubsub import protocol as proto
from ._background import Background
from ._http import HttpError, fetch

__all__ = ["HttpPoller"]

logger = logging.getLogger("tether.bridge")

_MISSING = object()


class HttpPoller(Background):
    """Poll ``url`` every ``every`` seconds and publish changes to ``topic`` on ``hub``."""

    def __init__(self, hub: Hub, topic: str, url: str, *, every: float = 2.0,
                 timeout: float = 10.0, max_backoff: float = 60.0,
                 headers: Sequence[tuple[str, str]] = ()) -> None:
        if every <= 0:
            raise ValueError("every must be > 0 seconds")
        self.hub = hub
        self.topic = topic
        self.url = url
        self.every = every
        self.timeout = timeout
        self.max_backoff = max_backoff
        self.headers = list(headers)
        self.etag: str | None = None
        self.last_modified: str | None = None
        self.value: Any = _MISSING
        #: Counters: requests made, 304 answers, values published, failures; and the
        #: failures in a row now (what the backoff is based on).
        self.fetches = 0
        self.not_modified = 0
        self.changes = 0
        self.errors = 0
        self.consecutive_errors = 0
        self.last_error: str | None = None
        self._retry_after: float | None = None

    async def poll_once(self) -> bool:
        """One request; True when a new value was published.  Raises :class:`HttpError`."""
        headers = [*list(self.headers), ("Accept", "application/json")]
        if self.etag is not None:
            headers.append(("If-None-Match", self.etag))
        if self.last_modified is not None:
            headers.append(("If-Modified-Since", self.last_modified))
        self.fetches += 1
        response = await fetch(self.url, headers, self.timeout)
        if response.status == 304:
            self.not_modified += 1
            return False
        if response.status != 200:
            retry = response.headers.get("Retry-After")
            if response.status in (429, 503) and retry and retry.strip().isdigit():
                self._retry_after = float(retry.strip())
            raise HttpError(f"{self.url} answered {response.status}")
        try:
            value = json.loads(response.body)
        except ValueError as exc:
            raise HttpError(f"{self.url} sent invalid JSON: {exc}") from exc
        self.etag = response.headers.get("ETag")
        self.last_modified = response.headers.get("Last-Modified")
        if self.value is not _MISSING and value == self.value:
            return False
        self.value = value
        self.changes += 1
        self.hub.publish(self.topic, proto.message(self.topic, value), retain=True)
        return True

    def next_delay(self) -> float:
        """Seconds until the next request: ``every``, or the backoff after failures."""
        if self.consecutive_errors == 0:
            return self.every
        backoff = min(self.max_backoff, self.every * 2.0 ** self.consecutive_errors)
        if self._retry_after is not None:
            backoff = max(backoff, min(self._retry_after, self.max_backoff))
        return backoff

    async def run(self) -> None:
        """Poll until cancelled."""
        while True:
            try:
                await self.poll_once()
            except (HttpError, OSError) as exc:
                self.errors += 1
                self.consecutive_errors += 1
                self.last_error = str(exc)
                delay = self.next_delay()
                logger.warning("poll %s failed (%d in a row): %s; next try in %.1fs",
                               self.url, self.consecutive_errors, exc, delay)
            else:
                if self.consecutive_errors:
                    logger.info("poll %s recovered after %d failures", self.url,
                                self.consecutive_errors)
                self.consecutive_errors = 0
                self._retry_after = None
            await asyncio.sleep(self.next_delay())

