"""Reconnection without I/O: the backoff policy and the decision to retry or not.

All three client APIs (``async for ws in tether.connect(uri)``,
``for ws in tether.sync.connect(uri, reconnect=True)`` and the Qt-style
``WebSocket.reconnect``) ask this module two questions and do the waiting themselves:

* *how long to wait* before the next attempt: :class:`Backoff` (exponential, with jitter
  and a cap) and :class:`Reconnector` (counts the attempts since the last healthy
  connection);
* *whether to try again at all*: :func:`process_exception` for a failed opening
  handshake, :func:`should_retry_close` for a connection that was lost.

The rules (see docs/clients.md):

* every attempt after the first one waits, even when the previous connection opened
  and was closed at once by the server: a reconnecting client never spins;
* the wait grows by ``factor`` per attempt, up to ``max``, and starts again from
  ``initial`` only after a connection stayed open for ``reset_after`` seconds;
* a close the server meant ends the reconnection: only the codes in
  ``retry_on_close`` (by default :data:`DEFAULT_RETRY_ON_CLOSE`: 1001 going away, 1006
  dropped, 1011 server error, 1012 restart, 1013 try again later, 1014 bad gateway)
  are retried; 1000 (normal) and 1008 (policy violation) are not, nor any other.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Collection

from ..exceptions import InvalidMessage, InvalidStatus

__all__ = [
    "BACKOFF_FACTOR",
    "BACKOFF_INITIAL",
    "BACKOFF_MAX",
    "DEFAULT_RETRY_ON_CLOSE",
    "RETRY_STATUSES",
    "Backoff",
    "ProcessException",
    "Reconnector",
    "describing_close_code",
    "process_exception",
    "should_retry_close",
]

#: Seconds before the first retry (before jitter): long enough for a restarting server
#: to come back, short enough not to be noticed much.
BACKOFF_INITIAL = 3.0
#: Growth per attempt: the golden ratio, as in the websockets library.
BACKOFF_FACTOR = 1.618
#: The longest wait between two attempts, in seconds.
BACKOFF_MAX = 60.0
#: Each wait is ``base * uniform(1 - jitter, 1)``: clients that lost the same server
#: at the same moment come back spread out, and no wait is ever shorter than half the base.
BACKOFF_JITTER = 0.5

#: Close codes after which the client reconnects (RFC 6455 section 7.4.1 and the IANA
#: registry): 1001 "going away" (a server shutting down or restarting), 1006 (no close
#: frame: the connection dropped), 1011 "encountered an unexpected condition", 1012
#: "service restart", 1013 "try again later", 1014 "bad gateway".
DEFAULT_RETRY_ON_CLOSE: frozenset[int] = frozenset({1001, 1006, 1011, 1012, 1013, 1014})

#: HTTP answers to the opening handshake worth another attempt later: 429 Too Many
#: Requests, and the 5xx a restarting or overloaded server or gateway gives.
RETRY_STATUSES: frozenset[int] = frozenset({429, 500, 502, 503, 504})

#: ``process_exception(exc)``: None to retry, or the exception to raise.
ProcessException = Callable[[Exception], Exception | None]


@dataclasses.dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with jitter and a cap.

    The ``n``-th retry (from 0) waits ``min(max, initial * factor ** n)`` seconds times
    a random factor in ``[1 - jitter, 1]``.
    """

    initial: float = BACKOFF_INITIAL
    factor: float = BACKOFF_FACTOR
    max: float = BACKOFF_MAX
    jitter: float = BACKOFF_JITTER
    #: A connection that stayed open this long (seconds) starts the backoff again from
    #: ``initial``; None means ``max``.
    reset_after: float | None = None

    def __post_init__(self) -> None:
        if not self.initial > 0:
            raise ValueError("backoff initial delay must be > 0 (a reconnecting client "
                             "must never retry in a tight loop)")
        if self.factor < 1:
            raise ValueError("backoff factor must be >= 1")
        if self.max < self.initial:
            raise ValueError("backoff max must be >= initial")
        if not 0 <= self.jitter < 1:
            raise ValueError("backoff jitter must be in [0, 1)")

    def base(self, attempt: int) -> float:
        """The wait before retry number ``attempt`` (from 0), without jitter."""
        if attempt < 0:
            raise ValueError("attempt counts from 0")
        delay = self.initial
        for _ in range(attempt):  # no float overflow for large attempts
            delay *= self.factor
            if delay >= self.max:
                return self.max
        return min(delay, self.max)

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """The wait before retry number ``attempt``, with jitter (``rand()`` in [0, 1))."""
        return self.base(attempt) * (1.0 - self.jitter * rand())

    @property
    def healthy_after(self) -> float:
        """How long a connection must last for the backoff to start again."""
        return self.max if self.reset_after is None else self.reset_after


class Reconnector:
    """The backoff state of one reconnecting client: how many attempts in a row."""

    def __init__(self, backoff: Backoff | None = None,
                 rand: Callable[[], float] = random.random) -> None:
        self.backoff = backoff if backoff is not None else Backoff()
        self.rand = rand
        #: Retries since the last healthy connection (0: the next wait is ``initial``).
        self.attempt = 0

    def next_delay(self) -> float:
        """The wait before the next attempt; each call counts one more attempt."""
        delay = self.backoff.delay(self.attempt, self.rand)
        self.attempt += 1
        return delay

    def connection_lasted(self, seconds: float) -> None:
        """Report how long the last connection stayed open; a long one resets the count."""
        if seconds >= self.backoff.healthy_after:
            self.attempt = 0


def describing_close_code(rcvd_code: int | None, sent_code: int | None,
                          rcvd_then_sent: bool | None) -> int:
    """The close code that says how a connection ended: the peer's when the peer started
    the closing handshake (or only the peer sent one), ours when we started it, 1006
    when no close frame was sent or received (RFC 6455 section 7.1.5)."""
    if rcvd_code is not None and (sent_code is None or rcvd_then_sent):
        return rcvd_code
    if sent_code is not None:
        return sent_code
    return 1006


def should_retry_close(code: int,
                       retry_on_close: Collection[int] = DEFAULT_RETRY_ON_CLOSE) -> bool:
    """Whether a connection that ended with ``code`` should be opened again."""
    return code in retry_on_close


def process_exception(exc: Exception) -> Exception | None:
    """The default ``process_exception``: None (retry) for errors that may go away,
    else ``exc`` (raise it).

    Retried: network errors (:exc:`OSError`, connection refused or reset), timeouts,
    a server that closed the connection during the handshake (an
    :exc:`~tether.InvalidMessage` caused by :exc:`EOFError`), and the HTTP statuses in
    :data:`RETRY_STATUSES`.  Anything else (a 4xx answer, a bad URI, a TLS certificate
    error, a broken handshake) would fail the same way again and is raised.
    """
    if _is_certificate_error(exc):
        return exc  # an OSError, but one that no waiting cures
    if isinstance(exc, (OSError, TimeoutError, EOFError)):
        return None
    if isinstance(exc, InvalidMessage) and isinstance(exc.__cause__, EOFError):
        return None
    if isinstance(exc, InvalidStatus) and exc.status in RETRY_STATUSES:
        return None
    return exc


def _is_certificate_error(exc: Exception) -> bool:
    """``ssl.SSLCertVerificationError``, recognised without importing ssl (the core
    does no I/O and imports no I/O module)."""
    return any(cls.__name__ == "SSLCertVerificationError" and cls.__module__ == "ssl"
               for cls in type(exc).__mro__)
