"""ws:// and wss:// URIs (RFC 6455 section 3)."""

from __future__ import annotations

import dataclasses
import urllib.parse

from ..exceptions import InvalidURI

__all__ = ["WebSocketURI", "parse_uri"]


@dataclasses.dataclass(frozen=True, slots=True)
class WebSocketURI:
    """The parts of a WebSocket URI that the handshake needs."""

    secure: bool
    host: str
    port: int
    resource_name: str
    user_info: tuple[str, str] | None = None

    @property
    def host_header(self) -> str:
        """The Host header value: the port is left out when it is the default one."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.port == (443 if self.secure else 80):
            return host
        return f"{host}:{self.port}"

    @property
    def origin_url(self) -> str:
        """``ws[s]://host[:port]`` without the resource name."""
        return ("wss://" if self.secure else "ws://") + self.host_header


def parse_uri(uri: str) -> WebSocketURI:
    """Parse and check a WebSocket URI.

    ``ws-URI = "ws:" "//" host [ ":" port ] path [ "?" query ]`` and likewise for
    wss; "Fragment identifiers are meaningless in the context of WebSocket URIs
    and MUST NOT be used on these URIs" (section 3).
    """
    if not isinstance(uri, str):
        raise TypeError(f"a WebSocket URI is a str, not {type(uri).__name__}")
    try:
        parsed = urllib.parse.urlsplit(uri)
    except ValueError as exc:
        raise InvalidURI(uri, str(exc)) from None
    if parsed.scheme not in ("ws", "wss"):
        raise InvalidURI(uri, "scheme isn't ws or wss")
    if not parsed.hostname:
        raise InvalidURI(uri, "hostname isn't provided")
    if parsed.fragment or uri.endswith("#"):
        raise InvalidURI(uri, "fragment identifiers must not be used")
    secure = parsed.scheme == "wss"
    try:
        port = parsed.port
    except ValueError:
        raise InvalidURI(uri, "port is not a number in 0-65535") from None
    resource_name = parsed.path or "/"
    if parsed.query:
        resource_name += "?" + parsed.query
    # Characters that cannot appear in a request line are percent-encoded.
    resource_name = urllib.parse.quote(resource_name, safe="!#$%&'()*+,/:;=?@[]~")
    user_info = None
    if parsed.username is not None or parsed.password is not None:
        user_info = (
            urllib.parse.unquote(parsed.username or ""),
            urllib.parse.unquote(parsed.password or ""),
        )
    host = parsed.hostname
    try:
        host.encode("ascii")
    except UnicodeEncodeError:
        host = host.encode("idna").decode("ascii")
    return WebSocketURI(secure, host, port or (443 if secure else 80), resource_name, user_info)
