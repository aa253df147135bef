"""The opening handshake, both roles (RFC 6455 section 4), without I/O.

The client builds its upgrade :class:`~tether.core.http11.Request` with
:class:`ClientHandshake` and checks the answer; the server checks a request with
:class:`ServerHandshake` and gets either a 101 answer or an error answer.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import http
import os
from collections.abc import Callable, Sequence

from ..exceptions import (
    InvalidHandshake,
    InvalidHeader,
    InvalidMessage,
    InvalidOrigin,
    InvalidStatus,
    InvalidUpgrade,
    NegotiationError,
)
from ..version import __version__
from .extensions.base import (
    ClientExtensionFactory,
    Extension,
    ExtensionParameter,
    ServerExtensionFactory,
)
from .headers import build_extensions, parse_extensions, parse_token_list
from .http11 import Headers, Request, Response
from .uri import WebSocketURI

__all__ = [
    "GUID",
    "ClientHandshake",
    "HeadersLike",
    "ServerHandshake",
    "accept_key",
    "generate_key",
    "http_response",
    "reject",
]

#: "258EAFA5-E914-47DA-95CA-C5AB0DC85B11" (section 1.3): concatenated to the key.
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
USER_AGENT = f"tether/{__version__}"

HeadersLike = Headers | Sequence[tuple[str, str]] | dict[str, str]


def _headers_from(value: HeadersLike | None) -> list[tuple[str, str]]:
    if value is None:
        return []
    if isinstance(value, dict):
        return list(value.items())
    return list(value)


def generate_key() -> str:
    """A random 16-byte nonce, base64-encoded (section 4.1)."""
    return base64.b64encode(os.urandom(16)).decode()


def accept_key(key: str) -> str:
    """``Sec-WebSocket-Accept``: base64(SHA-1(key + GUID)) (section 4.2.2)."""
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def _reason(status: int) -> str:
    """The standard reason phrase for ``status`` ("Error" or "OK" when unknown)."""
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error" if status >= 400 else "OK"


def http_response(
    status: int,
    body: str | bytes,
    content_type: str = "text/plain; charset=utf-8",
    headers: HeadersLike | None = None,
) -> Response:
    """A plain HTTP answer that closes the connection (a page, a health check, an error)."""
    h = Headers(_headers_from(headers))
    h.set("Content-Type", content_type)
    h.set("Connection", "close")
    data = body.encode() if isinstance(body, str) else body
    return Response(status, _reason(status), h, data)


def reject(status: int, text: str, headers: HeadersLike | None = None) -> Response:
    """A plain-text HTTP error answer that closes the connection."""
    return http_response(status, text + "\n", headers=headers)


def _has_token(headers: Headers, name: str, token: str) -> bool:
    values = headers.get_all(name)
    return any(t.lower() == token for v in values for t in parse_token_list(v, name))


@dataclasses.dataclass(slots=True)
class Negotiated:
    """What the handshake settled: subprotocol and extensions in order."""

    subprotocol: str | None
    extensions: list[Extension]


class ClientHandshake:
    """Builds the client's upgrade request and validates the server's answer."""

    def __init__(
        self,
        uri: WebSocketURI,
        *,
        origin: str | None = None,
        subprotocols: Sequence[str] | None = None,
        extensions: Sequence[ClientExtensionFactory] | None = None,
        additional_headers: HeadersLike | None = None,
        user_agent_header: str | None = USER_AGENT,
    ) -> None:
        self.uri = uri
        self.key = generate_key()
        self.subprotocols = list(subprotocols or [])
        for sp in self.subprotocols:
            if not sp or any(c in ", \t\"" for c in sp):
                raise ValueError(f"invalid subprotocol name {sp!r}: it must be an HTTP token")
        self.factories = list(extensions or [])
        h = Headers()
        h.add("Host", uri.host_header)
        h.add("Upgrade", "websocket")
        h.add("Connection", "Upgrade")
        h.add("Sec-WebSocket-Key", self.key)
        h.add("Sec-WebSocket-Version", "13")
        if origin is not None:
            h.add("Origin", origin)
        if self.factories:
            h.add(
                "Sec-WebSocket-Extensions",
                build_extensions([(f.name, f.get_request_params()) for f in self.factories]),
            )
        if self.subprotocols:
            h.add("Sec-WebSocket-Protocol", ", ".join(self.subprotocols))
        if uri.user_info is not None:
            creds = base64.b64encode(":".join(uri.user_info).encode()).decode()
            h.add("Authorization", f"Basic {creds}")
        if user_agent_header is not None:
            h.add("User-Agent", user_agent_header)
        for name, value in _headers_from(additional_headers):
            h.set(name, value)
        self.request = Request("GET", uri.resource_name, h)

    def process_response(self, response: Response) -> Negotiated:
        """Check the server's answer; raises an :class:`InvalidHandshake` subclass."""
        if response.status != 101:
            raise InvalidStatus(
                response.status, response.reason, response.headers.items(), response.body
            )
        h = response.headers
        # "If the response lacks an |Upgrade| header field or the |Upgrade| header
        # field contains a value that is not an ASCII case-insensitive match for the
        # value "websocket", the client MUST _Fail the WebSocket Connection_." (4.1)
        if not _has_token(h, "Upgrade", "websocket"):
            raise InvalidUpgrade("Upgrade", h.get("Upgrade"))
        if not _has_token(h, "Connection", "upgrade"):
            raise InvalidUpgrade("Connection", h.get("Connection"))
        accepts = h.get_all("Sec-WebSocket-Accept")
        if len(accepts) != 1 or accepts[0] != accept_key(self.key):
            raise InvalidHeader("Sec-WebSocket-Accept", h.get("Sec-WebSocket-Accept"))

        extensions: list[Extension] = []
        for name, params in parse_extensions(h.get_all("Sec-WebSocket-Extensions")):
            # "If the response includes a |Sec-WebSocket-Extensions| header field and
            # this header field indicates the use of an extension that was not present
            # in the client's handshake ... the client MUST _Fail the WebSocket Connection_."
            for factory in self.factories:
                if factory.name == name:
                    extensions.append(factory.process_response_params(params, extensions))
                    break
            else:
                raise NegotiationError("Sec-WebSocket-Extensions", f"unexpected extension {name}")

        subprotocol = None
        protos = [p for v in h.get_all("Sec-WebSocket-Protocol") for p in parse_token_list(
            v, "Sec-WebSocket-Protocol")]
        if protos:
            if len(protos) > 1:
                raise NegotiationError("Sec-WebSocket-Protocol", ", ".join(protos))
            if protos[0] not in self.subprotocols:
                raise NegotiationError("Sec-WebSocket-Protocol", protos[0])
            subprotocol = protos[0]
        return Negotiated(subprotocol, extensions)


#: A function the server uses to choose the subprotocol from the client's offer.
SelectSubprotocol = Callable[[Sequence[str]], str | None]


class ServerHandshake:
    """Checks an upgrade request and builds the 101 answer or an error answer."""

    def __init__(
        self,
        *,
        origins: Sequence[str | None] | None = None,
        subprotocols: Sequence[str] | None = None,
        select_subprotocol: SelectSubprotocol | None = None,
        extensions: Sequence[ServerExtensionFactory] | None = None,
        server_header: str | None = USER_AGENT,
    ) -> None:
        self.origins = None if origins is None else list(origins)
        self.subprotocols = list(subprotocols or [])
        self.select_subprotocol = select_subprotocol
        self.factories = list(extensions or [])
        self.server_header = server_header

    def check_request(self, request: Request) -> str:
        """Validate the upgrade request and return its ``Sec-WebSocket-Key``.

        Raises :class:`InvalidHandshake` subclasses whose ``status`` is the HTTP answer.
        """
        h = request.headers
        if request.method != "GET":
            # "The method of the request MUST be GET" (4.1)
            raise InvalidMessage(f"method {request.method} is not GET", 405)
        if request.version != "HTTP/1.1":
            # "the HTTP version MUST be at least 1.1" (4.1)
            raise InvalidMessage("WebSocket upgrade needs HTTP/1.1", 400)
        hosts = h.get_all("Host")
        if len(hosts) != 1:
            raise InvalidHeader("Host", None if not hosts else ", ".join(hosts))
        if ("Content-Length" in h and h.get("Content-Length") != "0") or "Transfer-Encoding" in h:
            raise InvalidMessage("an upgrade request must not have a body", 400)
        if not _has_token(h, "Upgrade", "websocket"):
            raise InvalidUpgrade("Upgrade", h.get("Upgrade"), status=426)
        if not _has_token(h, "Connection", "upgrade"):
            raise InvalidUpgrade("Connection", h.get("Connection"), status=426)
        keys = h.get_all("Sec-WebSocket-Key")
        if len(keys) != 1:
            raise InvalidHeader("Sec-WebSocket-Key", None if not keys else ", ".join(keys))
        try:
            raw = base64.b64decode(keys[0].encode(), validate=True)
        except (binascii.Error, UnicodeEncodeError):
            raise InvalidHeader("Sec-WebSocket-Key", keys[0]) from None
        if len(raw) != 16:
            # "a base64-encoded value that, when decoded, is 16 bytes in length" (4.1)
            raise InvalidHeader("Sec-WebSocket-Key", keys[0])
        versions = h.get_all("Sec-WebSocket-Version")
        if versions != ["13"]:
            raise InvalidHeader(
                "Sec-WebSocket-Version", ", ".join(versions) if versions else None, status=426
            )
        if self.origins is not None:
            origins = h.get_all("Origin")
            if len(origins) > 1:
                raise InvalidHeader("Origin", ", ".join(origins), status=403)
            origin = origins[0] if origins else None
            # Whole-origin comparison (scheme, host, port), never substrings.
            if origin not in self.origins:
                raise InvalidOrigin(origin)
        return keys[0]

    def negotiate(self, request: Request) -> tuple[list[tuple[str, list[ExtensionParameter]]],
                                                   list[Extension], str | None]:
        """Choose extensions and subprotocol for a valid request."""
        h = request.headers
        accepted: list[Extension] = []
        response_exts: list[tuple[str, list[ExtensionParameter]]] = []
        if self.factories:
            offers = parse_extensions(h.get_all("Sec-WebSocket-Extensions"))
            for name, params in offers:
                for factory in self.factories:
                    if factory.name != name or any(e.name == name for e in accepted):
                        continue
                    try:
                        rparams, ext = factory.process_request_params(params, accepted)
                    except NegotiationError:
                        continue  # decline this offer; try the client's next one
                    accepted.append(ext)
                    response_exts.append((name, rparams))
                    break
        offered = [p for v in h.get_all("Sec-WebSocket-Protocol")
                   for p in parse_token_list(v, "Sec-WebSocket-Protocol")]
        subprotocol: str | None = None
        if self.select_subprotocol is not None:
            subprotocol = self.select_subprotocol(offered)
            if subprotocol is not None and subprotocol not in offered:
                raise NegotiationError("Sec-WebSocket-Protocol", subprotocol, status=500)
        else:
            # The server's order is its preference.
            for sp in self.subprotocols:
                if sp in offered:
                    subprotocol = sp
                    break
        return response_exts, accepted, subprotocol

    def accept(self, request: Request) -> tuple[Response, Negotiated]:
        """Answer a request: ``(101 response, negotiated)`` or raise ``InvalidHandshake``."""
        key = self.check_request(request)
        response_exts, extensions, subprotocol = self.negotiate(request)
        h = Headers()
        h.add("Upgrade", "websocket")
        h.add("Connection", "Upgrade")
        h.add("Sec-WebSocket-Accept", accept_key(key))
        if response_exts:
            h.add("Sec-WebSocket-Extensions", build_extensions(response_exts))
        if subprotocol is not None:
            h.add("Sec-WebSocket-Protocol", subprotocol)
        if self.server_header is not None:
            h.add("Server", self.server_header)
        return Response(101, "Switching Protocols", h), Negotiated(subprotocol, extensions)

    @staticmethod
    def error_response(exc: InvalidHandshake) -> Response:
        """The HTTP answer for a failed handshake."""
        status = getattr(exc, "status", 400) or 400
        headers: list[tuple[str, str]] = []
        if status == 426:
            headers.append(("Upgrade", "websocket"))
            # "send an appropriate HTTP error code (such as 426 Upgrade Required) and a
            # |Sec-WebSocket-Version| header field indicating the version(s) the server
            # is capable of understanding" (4.2.2)
            headers.append(("Sec-WebSocket-Version", "13"))
        if status == 405:
            headers.append(("Allow", "GET"))
        return reject(status, f"Failed to open a WebSocket connection: {exc}.", headers)
