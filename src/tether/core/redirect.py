"""Following redirects of the opening handshake, without I/O.

RFC 6455 section 4.1: "If the status code received from the server is not 101, the
client handles the response per HTTP [RFC2616] procedures.  In particular, the client
might perform authentication if it receives a 401 status code; the server might redirect
the client using a 3xx status code (but clients are not required to follow them), etc."

tether's clients follow 301, 302, 303, 307 and 308 answers that carry a ``Location``
(up to ``max_redirects`` in a row, :data:`MAX_REDIRECTS` by default, as in the
websockets library):

* a relative ``Location`` is resolved against the URI of the request that got it
  (RFC 9110 section 10.2.2);
* ``http://`` becomes ``ws://`` and ``https://`` becomes ``wss://``;
* a ``wss://`` to ``ws://`` downgrade is refused (:exc:`~tether.InvalidRedirect`):
  what was meant to be private would travel in clear;
* credentials (the ``Authorization`` header, the ``auth=`` option, the URI's
  ``user:password@``) are sent on only while the origin (scheme, host, port) stays the
  same: they are not handed to a host the user never named.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable

from ..exceptions import InvalidRedirect, InvalidStatus, InvalidURI
from .uri import WebSocketURI, parse_uri

__all__ = [
    "CREDENTIAL_HEADERS",
    "MAX_REDIRECTS",
    "REDIRECT_STATUSES",
    "is_redirect",
    "next_hop",
    "redirect_target",
    "same_origin",
    "strip_credentials",
    "too_many_redirects",
]

#: How many redirects in a row a client follows before giving up (websockets' default).
MAX_REDIRECTS = 10
#: The answers that redirect: moved permanently, found, see other, temporary and
#: permanent redirect.  The method stays GET for all of them.
REDIRECT_STATUSES: frozenset[int] = frozenset({301, 302, 303, 307, 308})
#: Request headers dropped when a redirect leaves the origin.
CREDENTIAL_HEADERS: frozenset[str] = frozenset({"authorization", "cookie"})

_TO_HTTP = {"ws": "http", "wss": "https"}
_TO_WS = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}


def is_redirect(status: int) -> bool:
    """Whether a handshake answer with ``status`` is a redirect to follow."""
    return status in REDIRECT_STATUSES


def redirect_target(uri: str, status: int, location: str | None) -> str:
    """The ws:// or wss:// URI a redirect from ``uri`` leads to.

    Raises :exc:`~tether.InvalidRedirect` for a missing or unusable ``Location``
    and for a ``wss://`` to ``ws://`` downgrade.
    """
    if location is None or not location.strip():
        raise InvalidRedirect(f"HTTP {status} redirect without a Location header",
                              status, location)
    location = location.strip()
    current = urllib.parse.urlsplit(uri)
    # urljoin() resolves relative references for http(s) only: join in http terms.
    base = current._replace(scheme=_TO_HTTP.get(current.scheme, current.scheme)).geturl()
    joined = urllib.parse.urlsplit(urllib.parse.urljoin(base, location))
    scheme = _TO_WS.get(joined.scheme.lower())
    if scheme is None:
        raise InvalidRedirect(
            f"HTTP {status} redirect to {location!r}: not a ws, wss, http or https URI",
            status, location)
    if current.scheme == "wss" and scheme == "ws":
        raise InvalidRedirect(
            f"HTTP {status} redirect from wss:// to {location!r} refused: it would "
            "downgrade the connection to unencrypted ws://", status, location)
    # A fragment means nothing to a WebSocket URI (RFC 6455 section 3): drop it.
    target = urllib.parse.urlunsplit((scheme, joined.netloc, joined.path, joined.query, ""))
    try:
        parse_uri(target)
    except InvalidURI as exc:
        raise InvalidRedirect(f"HTTP {status} redirect to {location!r}: {exc}",
                              status, location) from None
    return target


def too_many_redirects(max_redirects: int, status: int | None = None,
                       location: str | None = None) -> InvalidRedirect:
    """The error for a chain of redirects longer than ``max_redirects``."""
    return InvalidRedirect(
        f"too many redirects: more than {max_redirects} in a row "
        f"(the last one to {location!r})", status, location)


def same_origin(a: WebSocketURI, b: WebSocketURI) -> bool:
    """Whether two URIs have the same origin: scheme, host and port (RFC 6454)."""
    return (a.secure, a.host.lower(), a.port) == (b.secure, b.host.lower(), b.port)


def strip_credentials(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """``headers`` without those that carry credentials (:data:`CREDENTIAL_HEADERS`)."""
    return [(k, v) for k, v in headers if k.lower() not in CREDENTIAL_HEADERS]


def next_hop(exc: InvalidStatus, uri: str, wsuri: WebSocketURI, headers: list[tuple[str, str]],
             redirects: int, max_redirects: int) -> tuple[str, WebSocketURI,
                                                        list[tuple[str, str]]]:
    """Where to go after the answer ``exc`` to a request for ``uri`` (``wsuri`` parsed),
    the ``redirects``-th redirect in a row: the new URI, parsed, and the headers to send
    there (without credentials when the origin changes).

    Raises ``exc`` itself when it is not a redirect to follow (or redirects are off),
    :class:`InvalidRedirect` for a bad ``Location`` or a chain over ``max_redirects``.
    Both engines follow redirects with it.
    """
    if not is_redirect(exc.status) or max_redirects == 0:
        raise exc
    target = redirect_target(uri, exc.status, exc.location)
    if redirects >= max_redirects:
        raise too_many_redirects(max_redirects, exc.status, exc.location) from exc
    new = parse_uri(target)
    if not same_origin(wsuri, new):
        headers = strip_credentials(headers)
    return target, new, headers
