"""The exceptions tether raises, all below one root.

::

    TetherError
    ├── ConnectionClosed                 the connection is closed (carries codes and reasons)
    │   ├── ConnectionClosedOK           ... cleanly: 1000 or 1001 both ways
    │   └── ConnectionClosedError        ... otherwise
    ├── InvalidHandshake                 the opening handshake failed
    │   ├── InvalidMessage               the HTTP request or response is malformed
    │   ├── InvalidStatus                the server answered something other than 101
    │   ├── InvalidRedirect              a redirect that may not be followed, or too many
    │   ├── InvalidHeader                a header is missing or has a wrong value
    │   │   ├── InvalidUpgrade           Upgrade / Connection are wrong
    │   │   ├── InvalidOrigin            the Origin is not allowed
    │   │   └── NegotiationError         subprotocol or extension negotiation failed
    │   └── InvalidURI                   the ws:// or wss:// URI is not valid
    ├── ProxyError                       the proxy refused or failed the tunnel
    ├── ProtocolError                    the peer broke RFC 6455; carries the close code to send
    │   ├── PayloadTooBig                a frame or message passed the size limit (1009)
    │   └── InvalidUTF8                  text or a close reason is not UTF-8 (1007)
    └── UsageError                       the program used tether wrongly (a programmer error)
        └── ConcurrencyError             two coroutines read (or write) at once
"""

from __future__ import annotations

__all__ = [
    "ConcurrencyError",
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "InvalidHandshake",
    "InvalidHeader",
    "InvalidMessage",
    "InvalidOrigin",
    "InvalidRedirect",
    "InvalidStatus",
    "InvalidURI",
    "InvalidUTF8",
    "InvalidUpgrade",
    "NegotiationError",
    "PayloadTooBig",
    "ProtocolError",
    "ProxyError",
    "TetherError",
    "UsageError",
]


class TetherError(Exception):
    """The root of every exception tether raises."""


class ConnectionClosed(TetherError):
    """The connection is closed; says which close frames were sent and received.

    ``rcvd_code``/``rcvd_reason`` are what the peer sent (``None`` when no close frame
    arrived); ``sent_code``/``sent_reason`` are what we sent.
    """

    def __init__(
        self,
        rcvd_code: int | None,
        rcvd_reason: str,
        sent_code: int | None,
        sent_reason: str,
        rcvd_then_sent: bool | None = None,
    ) -> None:
        self.rcvd_code = rcvd_code
        self.rcvd_reason = rcvd_reason
        self.sent_code = sent_code
        self.sent_reason = sent_reason
        self.rcvd_then_sent = rcvd_then_sent
        super().__init__(self._describe())

    @property
    def code(self) -> int:
        """The close code that describes this close (1006 when no close frame came)."""
        if self.rcvd_code is not None:
            return self.rcvd_code
        return 1006

    @property
    def reason(self) -> str:
        """The close reason that goes with :attr:`code`."""
        return self.rcvd_reason if self.rcvd_code is not None else ""

    def _describe(self) -> str:
        if self.rcvd_code is None and self.sent_code is None:
            return "no close frame received or sent"
        if self.rcvd_code is None:
            return (f"sent {self.sent_code} ({self.sent_reason or 'no reason'}); "
                    "no close frame received")
        if self.sent_code is None:
            return (f"received {self.rcvd_code} ({self.rcvd_reason or 'no reason'}); "
                    "no close frame sent")
        return (
            f"received {self.rcvd_code} ({self.rcvd_reason or 'no reason'}); "
            f"then sent {self.sent_code} ({self.sent_reason or 'no reason'})"
        )


class ConnectionClosedOK(ConnectionClosed):
    """The connection closed cleanly (1000 or 1001, or 1005 = no status, both ways)."""


class ConnectionClosedError(ConnectionClosed):
    """The connection closed with an error code, or without a closing handshake."""


class InvalidHandshake(TetherError):
    """The opening handshake failed."""


class InvalidMessage(InvalidHandshake):
    """The HTTP request or response of the handshake is malformed.

    ``status`` is the HTTP status a server answers with (400, 431, ...).
    """

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class InvalidStatus(InvalidHandshake):
    """The server answered the upgrade request with a status other than 101."""

    def __init__(
        self, status: int, reason: str, headers: list[tuple[str, str]], body: bytes
    ) -> None:
        super().__init__(f"server rejected WebSocket connection: HTTP {status} {reason}".rstrip())
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body

    def header(self, name: str) -> str | None:
        """The first value of the response header ``name`` (case-insensitive), or None."""
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return None

    @property
    def location(self) -> str | None:
        """The ``Location`` of a redirect (3xx) answer."""
        return self.header("Location")

    @property
    def challenge(self) -> str | None:
        """The ``WWW-Authenticate`` challenge of a 401 answer (RFC 9110 section 11.6.1)."""
        return self.header("WWW-Authenticate")

    @property
    def realm(self) -> str | None:
        """The ``realm`` parameter of the :attr:`challenge`, if there is one."""
        challenge = self.challenge
        if challenge is None:
            return None
        lowered = challenge.lower()
        at = lowered.find("realm=")
        if at < 0:
            return None
        rest = challenge[at + 6:].lstrip()
        if rest.startswith('"'):
            end = rest.find('"', 1)
            return rest[1:end] if end > 0 else rest[1:]
        return rest.split(",", 1)[0].strip()


class InvalidRedirect(InvalidHandshake):
    """A redirect the client refused to follow: a ``wss://`` to ``ws://`` downgrade,
    a missing or unusable ``Location``, or more than ``max_redirects`` in a row.

    ``status`` and ``location`` describe the answer that was refused (None for the
    too-many case when unknown).
    """

    def __init__(self, message: str, status: int | None = None,
                 location: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.location = location


class InvalidHeader(InvalidHandshake):
    """A handshake header is missing or has a wrong value; ``status`` is the HTTP answer."""

    def __init__(self, name: str, value: str | None = None, status: int = 400) -> None:
        self.name = name
        self.value = value
        self.status = status
        if value is None:
            msg = f"missing {name} header"
        elif value == "":
            msg = f"empty {name} header"
        else:
            msg = f"invalid {name} header: {value}"
        super().__init__(msg)


class InvalidUpgrade(InvalidHeader):
    """The Upgrade or Connection header does not ask for a WebSocket."""


class InvalidOrigin(InvalidHeader):
    """The Origin header is not in the server's allow-list (answered with 403)."""

    def __init__(self, origin: str | None) -> None:
        super().__init__("Origin", origin, status=403)


class NegotiationError(InvalidHeader):
    """Subprotocol or extension negotiation failed."""


class InvalidURI(InvalidHandshake):
    """The URI is not a valid ws:// or wss:// URI."""

    def __init__(self, uri: str, why: str) -> None:
        super().__init__(f"{uri!r} is not a valid WebSocket URI: {why}")
        self.uri = uri


class ProxyError(InvalidHandshake):
    """The proxy refused the tunnel or failed; ``status`` holds the HTTP status if any."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ProtocolError(TetherError):
    """The peer broke the protocol; ``code`` is the close code to answer with."""

    code = 1002

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class PayloadTooBig(ProtocolError):
    """A frame or message is larger than the configured limit (close 1009)."""

    code = 1009


class InvalidUTF8(ProtocolError):
    """A text message or close reason is not valid UTF-8 (close 1007)."""

    code = 1007


class UsageError(TetherError):
    """The program used tether wrongly; the message says what to do instead."""


class ConcurrencyError(UsageError, RuntimeError):
    """Two coroutines or threads tried to read (or write) the same connection at once."""
