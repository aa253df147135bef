"""Proxies, sans I/O: proxy URLs, the environment, HTTP CONNECT and SOCKS5 handshakes.

Nothing here touches the network.  An engine (asyncio or blocking) connects to
:attr:`Proxy.host`/:attr:`Proxy.port` (with TLS when :attr:`Proxy.tls`), builds a
handshake with :func:`proxy_handshake`, and then loops::

    send(handshake.data_to_send())
    while not handshake.done:
        data = recv()
        if data: handshake.receive_data(data)   # may raise ProxyError
        else:    handshake.receive_eof()        # raises ProxyError
        send(handshake.data_to_send())
    tunnel_bytes = handshake.leftover           # bytes that already belong to the tunnel

For ``socks5://`` (local name resolution) the engine resolves the target host first
and passes the address as ``resolved_ip``.
"""

from __future__ import annotations

import base64
import dataclasses
import ipaddress
import os
import urllib.parse
from collections.abc import Mapping
from typing import Final, Protocol

from ..exceptions import InvalidMessage, ProxyError
from .http11 import Headers, Request, build_request, parse_response

__all__ = [
    "DEFAULT_PORTS",
    "HttpConnectHandshake",
    "Proxy",
    "ProxyHandshake",
    "Socks5Handshake",
    "build_connect_request",
    "get_proxy",
    "looks_like_tls_client_hello",
    "parse_connect_response",
    "parse_proxy",
    "proxy_bypass",
    "proxy_handshake",
]

#: Port used when a proxy URL has none.  Like requests, httpx and pip: the scheme's own
#: port for HTTP(S) proxies and 1080, SOCKS' registered port, for SOCKS.  (curl differs
#: only for ``http://``, where it assumes 1080.)
DEFAULT_PORTS: Final[Mapping[str, int]] = {
    "http": 80,
    "https": 443,
    "socks5": 1080,
    "socks5h": 1080,
}


@dataclasses.dataclass(frozen=True, slots=True)
class Proxy:
    """A proxy server: where it is, how to talk to it, and the credentials for it.

    ``scheme`` is ``http`` (CONNECT), ``https`` (CONNECT over TLS to the proxy),
    ``socks5`` (the client resolves the target's name) or ``socks5h`` (the proxy
    resolves it).  The password is left out of ``repr()``.
    """

    scheme: str
    host: str
    port: int
    username: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)

    @property
    def tls(self) -> bool:
        """Whether the connection to the proxy itself is wrapped in TLS."""
        return self.scheme == "https"

    @property
    def is_socks(self) -> bool:
        """Whether this is a SOCKS5 proxy (else an HTTP CONNECT proxy)."""
        return self.scheme in ("socks5", "socks5h")

    @property
    def remote_dns(self) -> bool:
        """Whether the proxy resolves the target's host name (always, for HTTP proxies)."""
        return self.scheme != "socks5"

    @property
    def address(self) -> str:
        """``host:port`` with IPv6 addresses in brackets, for messages."""
        return f"{_bracket(self.host)}:{self.port}"

    @property
    def url(self) -> str:
        """The proxy's URL without credentials (safe to log)."""
        return f"{self.scheme}://{self.address}"


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def parse_proxy(url: str) -> Proxy:
    """Parse ``scheme://[user:password@]host[:port][/]`` into a :class:`Proxy`.

    Schemes: ``http``, ``https``, ``socks5``, ``socks5h``; a URL without a scheme is
    taken as ``http://`` (as curl and requests do for ``http_proxy=host:3128``).
    Credentials are percent-decoded.  Raises :exc:`ValueError` saying what is wrong.
    """
    if not isinstance(url, str):
        raise TypeError(f"a proxy URL is a str, not {type(url).__name__}")

    def invalid(why: str) -> ValueError:
        # Never echo the password back in an error message.
        return ValueError(f"invalid proxy URL {_redact(url)!r}: {why}")

    text = url.strip()
    if not text:
        raise invalid("it is empty")
    if "://" not in text:
        text = "http://" + text
    try:
        parsed = urllib.parse.urlsplit(text)
        port = parsed.port
    except ValueError as exc:
        raise invalid(str(exc)) from None
    scheme = parsed.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        hint = ""
        if scheme.startswith("socks"):
            hint = " (only SOCKS5 is supported: socks5:// or socks5h://)"
        raise invalid(f"scheme {scheme!r} is not one of http, https, socks5, socks5h{hint}")
    if not parsed.hostname:
        raise invalid("no host name")
    if parsed.path not in ("", "/"):
        raise invalid("a proxy URL has no path")
    if parsed.query or parsed.fragment:
        raise invalid("a proxy URL has no query or fragment")
    if port == 0:
        raise invalid("port 0")
    username = password = None
    if parsed.username is not None:
        try:
            username = urllib.parse.unquote(parsed.username, errors="strict")
            password = urllib.parse.unquote(parsed.password or "", errors="strict")
        except UnicodeDecodeError:
            raise invalid("the credentials are not percent-encoded UTF-8") from None
        if not username:
            raise invalid("empty user name before '@'")
        if scheme.startswith("socks"):
            # RFC 1929: ULEN and PLEN are one byte; UNAME needs at least one byte.
            if len(username.encode()) > 255 or len(password.encode()) > 255:
                raise invalid("SOCKS5 user name and password are at most 255 bytes each")
        elif ":" in username:
            # RFC 7617 section 2: "a user-id containing a colon character is invalid".
            raise invalid("an HTTP proxy user name cannot contain ':' (Basic authentication)")
    host = parsed.hostname  # lower case, brackets removed
    try:
        host.encode("ascii")
    except UnicodeEncodeError:
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise invalid(f"host name is not valid IDNA: {exc}") from None
    return Proxy(scheme, host, port or DEFAULT_PORTS[scheme], username, password)


def _redact(url: str) -> str:
    """``url`` with any password replaced by ``***``."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    userinfo, at, hostpart = rest.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    user = userinfo.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{hostpart}"


# --------------------------------------------------------------------------- environment


def _env(environ: Mapping[str, str], name: str) -> str | None:
    """Read ``name`` the way curl and urllib do: lower case first, then upper case.

    A lower-case variable that is set but empty hides the upper-case one.  In a CGI
    script (``REQUEST_METHOD`` set) ``HTTP_PROXY`` is ignored: a client's ``Proxy:``
    request header arrives there as ``HTTP_PROXY`` ("httpoxy", CVE-2016-5385).
    """
    value = environ.get(name)
    if value is None:
        upper = name.upper()
        if upper == "HTTP_PROXY" and "REQUEST_METHOD" in environ:
            return None
        value = environ.get(upper)
    value = value.strip() if value is not None else None
    return value or None


def get_proxy(
    ws_uri_secure: bool,
    host: str,
    port: int,
    environ: Mapping[str, str] | None = None,
) -> Proxy | None:
    """The proxy the environment asks for to reach ``host:port``, or ``None``.

    Variables, first one set wins: for wss ``wss_proxy``, ``https_proxy``,
    ``all_proxy``; for ws ``ws_proxy``, ``http_proxy``, ``all_proxy``; each in lower
    case, else upper case.  ``no_proxy`` (see :func:`proxy_bypass`) is checked first.
    A malformed proxy URL raises :exc:`ValueError` naming the variable.
    """
    env = os.environ if environ is None else environ
    no_proxy = _env(env, "no_proxy")
    if no_proxy is not None and proxy_bypass(host, port, no_proxy):
        return None
    names = (
        ("wss_proxy", "https_proxy", "all_proxy")
        if ws_uri_secure
        else ("ws_proxy", "http_proxy", "all_proxy")
    )
    for name in names:
        value = _env(env, name)
        if value is not None:
            try:
                return parse_proxy(value)
            except ValueError as exc:
                raise ValueError(f"{name} / {name.upper()}: {exc}") from None
    return None


def _parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def proxy_bypass(host: str, port: int, no_proxy: str) -> bool:
    """Whether ``no_proxy`` says to connect to ``host:port`` directly.

    ``no_proxy`` is a list separated by commas and/or whitespace, matched without
    regard to case.  Entries:

    - ``*``: every host.
    - a name: that host and its subdomains; ``example.com``, ``.example.com`` and
      ``*.example.com`` all match ``example.com`` and ``a.b.example.com``.
    - an IP address (IPv6 with or without brackets): that address, compared as an
      address (``::1`` matches ``0:0::1``); no suffix matching for addresses.
    - a CIDR block, ``10.0.0.0/8`` or ``fd00::/8``: addresses inside it.
    - any of these with ``:port`` (``[::1]:8080`` for IPv6): only that port.

    Names are not resolved: ``localhost`` does not match ``127.0.0.1``.
    """
    host = host.strip("[]").rstrip(".").lower()
    host_ip = _parse_ip(host)
    for raw in no_proxy.replace(",", " ").split():
        entry = raw.lower()
        if entry == "*":
            return True
        entry_port: int | None = None
        # Split a :port off, unless the colons belong to a bare IPv6 address or block.
        if entry.startswith("["):
            addr, _, rest = entry[1:].partition("]")
            if rest.startswith(":") and rest[1:].isdigit():
                entry_port = int(rest[1:])
            entry = addr
        elif entry.count(":") == 1:
            name, _, port_text = entry.partition(":")
            if not port_text.isdigit():
                continue  # not a valid entry; ignore it as curl does
            entry, entry_port = name, int(port_text)
        if entry_port is not None and entry_port != port:
            continue
        if "/" in entry:
            try:
                network = ipaddress.ip_network(entry, strict=False)
            except ValueError:
                continue
            if host_ip is not None and host_ip.version == network.version and host_ip in network:
                return True
            continue
        entry_ip = _parse_ip(entry)
        if entry_ip is not None:
            if host_ip is not None and host_ip == entry_ip:
                return True
            continue
        if host_ip is not None:
            continue  # a name never matches an address
        entry = entry.removeprefix("*").lstrip(".").rstrip(".")
        if entry and (host == entry or host.endswith("." + entry)):
            return True
    return False


# --------------------------------------------------------------------------- handshakes


class ProxyHandshake(Protocol):
    """What both proxy handshakes offer to the I/O layer."""

    @property
    def done(self) -> bool:
        """The tunnel is open; :attr:`leftover` holds bytes that belong to it."""

    @property
    def leftover(self) -> bytes:
        """Bytes received past the end of the handshake (tunnel data)."""

    def data_to_send(self) -> bytes:
        """Bytes to write to the proxy now (and forget); may be empty."""

    def receive_data(self, data: bytes) -> None:
        """Feed bytes read from the proxy; raises :exc:`ProxyError` on failure."""

    def receive_eof(self) -> None:
        """The proxy closed the connection: raises :exc:`ProxyError` unless done."""


def _authority(host: str, port: int) -> str:
    return f"{_bracket(host.strip('[]'))}:{port}"


def build_connect_request(
    host: str, port: int, proxy: Proxy, user_agent: str | None = None
) -> bytes:
    """The ``CONNECT host:port HTTP/1.1`` request that asks ``proxy`` for a tunnel.

    RFC 9110 section 9.3.6: "the request-target consists of only the host name and
    port number of the tunnel destination, separated by a colon", with IPv6
    addresses in brackets (RFC 3986 authority form).  Credentials go in
    ``Proxy-Authorization: Basic`` (RFC 9110 section 11.7.2, RFC 7617 with UTF-8).
    """
    authority = _authority(host, port)
    headers = Headers([("Host", authority)])
    if user_agent is not None:
        headers.add("User-Agent", user_agent)
    if proxy.username is not None:
        credentials = f"{proxy.username}:{proxy.password or ''}".encode()
        headers.add("Proxy-Authorization", "Basic " + base64.b64encode(credentials).decode())
    return build_request(Request("CONNECT", authority, headers))


def parse_connect_response(buf: bytes | bytearray, proxy: Proxy) -> bytes | None:
    """Read the proxy's answer to CONNECT from the start of ``buf``.

    Returns the bytes after the response head (they belong to the tunnel) once a 2xx
    answer is complete, ``None`` while more bytes are needed, and raises
    :exc:`ProxyError` for any other answer.  Interim 1xx answers are skipped (RFC 9110
    section 15.2: "A client MUST be able to parse one or more 1xx responses received
    prior to a final response").  Section 9.3.6: "A client MUST ignore any
    Content-Length or Transfer-Encoding header fields received in a successful
    response to CONNECT", so a 2xx has no body.
    """
    offset = 0
    while True:
        try:
            parsed = parse_response(buf[offset:])
        except InvalidMessage as exc:
            raise ProxyError(
                f"the proxy at {proxy.address} did not answer CONNECT with valid HTTP ({exc}); "
                f"is it an HTTP proxy? (its URL says {proxy.scheme}://)"
            ) from exc
        if parsed is None:
            return None
        response, used = parsed
        offset += used
        status = response.status
        if 100 <= status < 200:
            continue
        if 200 <= status < 300:
            return bytes(buf[offset:])
        where = f"the proxy at {proxy.address}"
        reason = f"{status} {response.reason}".rstrip()
        # RFC 9110 section 15.5.8: 407 "indicates that the client needs to authenticate
        # itself in order to use a proxy".  A 401 to CONNECT can only come from the proxy
        # too (no tunnel exists yet); some proxies, tinyproxy among them, answer 401 to
        # wrong credentials.  ``status`` keeps the code the proxy sent.
        if status == 407 or status == 401:
            challenge = response.headers.get("Proxy-Authenticate") or response.headers.get(
                "WWW-Authenticate"
            )
            asks = f"; it asks for: {challenge}" if challenge else ""
            if proxy.username is None:
                message = (
                    f"proxy authentication required: {where} answered {reason} and no "
                    f"credentials were given (put them in the proxy URL: "
                    f"http://user:password@host:port){asks}"
                )
            else:
                message = (
                    f"proxy authentication refused: {where} answered {reason} to the "
                    f"credentials of user {proxy.username!r}{asks}"
                )
            raise ProxyError(message, status=status)
        raise ProxyError(f"{where} refused the tunnel: HTTP {reason}", status=status)


class HttpConnectHandshake:
    """An HTTP CONNECT tunnel request (RFC 9110 section 9.3.6) as a state machine."""

    def __init__(self, host: str, port: int, proxy: Proxy, user_agent: str | None = None) -> None:
        self._proxy = proxy
        self._outgoing = build_connect_request(host, port, proxy, user_agent)
        self._buffer = bytearray()
        self._leftover: bytes | None = None

    @property
    def done(self) -> bool:
        """The proxy answered 2xx: the tunnel is open."""
        return self._leftover is not None

    @property
    def leftover(self) -> bytes:
        """Bytes after the response head (tunnel data); empty before :attr:`done`."""
        return self._leftover or b""

    def data_to_send(self) -> bytes:
        """The CONNECT request the first time, then nothing."""
        out, self._outgoing = self._outgoing, b""
        return out

    def receive_data(self, data: bytes) -> None:
        """Feed the proxy's answer; raises :exc:`ProxyError` when it is not 2xx."""
        if self._leftover is not None:
            self._leftover += data
            return
        self._buffer += data
        self._leftover = parse_connect_response(self._buffer, self._proxy)

    def receive_eof(self) -> None:
        """The proxy closed the connection."""
        if self._leftover is None:
            got = f" after {len(self._buffer)} bytes" if self._buffer else ""
            hint = ""
            if self._buffer[:1] == b"\x05":
                hint = "; it answered like a SOCKS5 proxy: use socks5:// or socks5h://"
            raise ProxyError(
                f"the proxy at {self._proxy.address} closed the connection{got} before "
                f"answering CONNECT{hint}"
            )


# RFC 1928 section 6: "X'00' succeeded ... X'09' to X'FF' unassigned".
SOCKS5_REPLIES: Final[Mapping[int, str]] = {
    0x01: "general SOCKS server failure",
    0x02: "connection not allowed by ruleset",
    0x03: "network unreachable",
    0x04: "host unreachable",
    0x05: "connection refused by the destination host",
    0x06: "TTL expired",
    0x07: "command not supported",
    0x08: "address type not supported",
}

_SOCKS_VERSION = 0x05
_AUTH_NONE = 0x00
_AUTH_USERPASS = 0x02
_AUTH_NO_ACCEPTABLE = 0xFF
_CMD_CONNECT = 0x01
_ATYP_IPV4 = 0x01
_ATYP_DOMAIN = 0x03
_ATYP_IPV6 = 0x04


class Socks5Handshake:
    """A SOCKS5 CONNECT (RFC 1928) with optional username/password (RFC 1929).

    ``remote_dns=True`` (``socks5h://``) sends the host name for the proxy to resolve;
    ``remote_dns=False`` (``socks5://``) sends ``resolved_ip``, which the I/O layer
    looked up.  IP literals are always sent as addresses.
    """

    def __init__(
        self,
        host: str,
        port: int,
        username: str | None = None,
        password: str | None = None,
        remote_dns: bool = True,
        resolved_ip: str | None = None,
    ) -> None:
        if not 0 < port < 65536:
            raise ValueError(f"port {port} is not in 1-65535")
        self._target = _authority(host, port)
        self._credentials: tuple[bytes, bytes] | None = None
        if username is not None:
            user, pw = username.encode(), (password or "").encode()
            # RFC 1929: "UNAME ... ULEN ... 1 to 255"; "PLEN ... 1 to 255" (one byte each).
            if not 0 < len(user) < 256 or len(pw) > 255:
                raise ValueError("SOCKS5 user name must be 1-255 bytes, password 0-255 bytes")
            self._credentials = (user, pw)
        address = self._encode_address(host, remote_dns, resolved_ip)
        self._address = address + port.to_bytes(2, "big")
        self._buffer = bytearray()
        self._state = "greeting"
        self._leftover = b""
        # RFC 1928 section 3: "+----+----------+----------+
        #                      |VER | NMETHODS | METHODS  |"
        methods = bytes([_AUTH_NONE, _AUTH_USERPASS] if self._credentials else [_AUTH_NONE])
        self._outgoing = bytes([_SOCKS_VERSION, len(methods)]) + methods

    @staticmethod
    def _encode_address(host: str, remote_dns: bool, resolved_ip: str | None) -> bytes:
        # RFC 1928 section 5: "ATYP address type of following address: IP V4 address:
        # X'01', DOMAINNAME: X'03', IP V6 address: X'04'".
        ip = _parse_ip(host) or (None if remote_dns else _parse_ip(resolved_ip or ""))
        if ip is None and not remote_dns:
            raise ValueError(
                f"socks5:// resolves names locally: pass resolved_ip for {host!r} "
                "(or use socks5h:// to let the proxy resolve it)"
            )
        if isinstance(ip, ipaddress.IPv4Address):
            return bytes([_ATYP_IPV4]) + ip.packed
        if isinstance(ip, ipaddress.IPv6Address):
            return bytes([_ATYP_IPV6]) + ip.packed
        name = host.rstrip(".").encode("idna") if not host.isascii() else host.encode()
        # "the first octet of the address field contains the number of octets of name
        # that follow, there is no terminating NUL octet."
        if not 0 < len(name) < 256:
            raise ValueError(f"host name {host!r} is longer than SOCKS5 allows (255 bytes)")
        return bytes([_ATYP_DOMAIN, len(name)]) + name

    @property
    def done(self) -> bool:
        """The proxy answered "succeeded": the tunnel is open."""
        return self._state == "done"

    @property
    def leftover(self) -> bytes:
        """Bytes after the proxy's reply (tunnel data)."""
        return self._leftover

    def data_to_send(self) -> bytes:
        """Bytes to write to the proxy now."""
        out, self._outgoing = self._outgoing, b""
        return out

    def receive_eof(self) -> None:
        """The proxy closed the connection."""
        if self._state != "done":
            raise ProxyError(
                f"the SOCKS5 proxy closed the connection during the {self._state} step "
                f"(connecting to {self._target})"
            )

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the proxy; raises :exc:`ProxyError` on refusal."""
        if self._state == "done":
            self._leftover += data
            return
        self._buffer += data
        while self._state != "done" and self._step():
            pass

    def _take(self, n: int) -> bytes | None:
        if len(self._buffer) < n:
            return None
        out = bytes(self._buffer[:n])
        del self._buffer[:n]
        return out

    def _step(self) -> bool:
        """Advance by one reply if it is complete; ``False`` when more bytes are needed."""
        buf = self._buffer
        if self._state == "greeting":
            # "+----+--------+
            #  |VER | METHOD |"
            reply = self._take(2)
            if reply is None:
                return False
            if reply[0] != _SOCKS_VERSION:
                raise ProxyError(
                    f"not a SOCKS5 proxy: it answered the greeting with {reply!r} "
                    "(is it an HTTP proxy? then use http://)"
                )
            method = reply[1]
            if method == _AUTH_NONE:
                self._send_request()
            elif method == _AUTH_USERPASS and self._credentials is not None:
                # RFC 1929 section 2: "+----+------+----------+------+----------+
                #                      |VER | ULEN |  UNAME   | PLEN |  PASSWD  |"
                user, pw = self._credentials
                self._outgoing += bytes([0x01, len(user)]) + user + bytes([len(pw)]) + pw
                self._state = "authentication"
            elif method == _AUTH_USERPASS or (
                method == _AUTH_NO_ACCEPTABLE and self._credentials is None
            ):
                raise ProxyError(
                    "SOCKS5 proxy authentication required: the proxy wants a user name and "
                    "password and none were given (socks5://user:password@host:port)"
                )
            elif method == _AUTH_NO_ACCEPTABLE:
                # "If the selected METHOD is X'FF', none of the methods listed by the
                # client are acceptable, and the client MUST close the connection."
                raise ProxyError(
                    "SOCKS5 proxy accepts none of our authentication methods "
                    "(no authentication, username/password)"
                )
            else:
                raise ProxyError(
                    f"SOCKS5 proxy chose authentication method {method:#04x}, which was not offered"
                )
            return True
        if self._state == "authentication":
            # RFC 1929: "+----+--------+
            #            |VER | STATUS |"  "A STATUS field of X'00' indicates success."
            reply = self._take(2)
            if reply is None:
                return False
            if reply[1] != 0x00:
                raise ProxyError(
                    "SOCKS5 proxy authentication refused: the proxy rejected the user name "
                    f"and password (status {reply[1]:#04x})"
                )
            self._send_request()
            return True
        # state == "request": "+----+-----+-------+------+----------+----------+
        #                      |VER | REP |  RSV  | ATYP | BND.ADDR | BND.PORT |"
        if len(buf) < 5:
            return False
        if buf[0] != _SOCKS_VERSION:
            raise ProxyError(f"malformed SOCKS5 reply: version {buf[0]:#04x}")
        rep = buf[1]
        if rep != 0x00:
            text = SOCKS5_REPLIES.get(rep, "unassigned reply code")
            raise ProxyError(
                f"SOCKS5 proxy could not connect to {self._target}: {text} (reply {rep:#04x})"
            )
        atyp = buf[3]
        if atyp == _ATYP_IPV4:
            length = 4 + 4 + 2
        elif atyp == _ATYP_IPV6:
            length = 4 + 16 + 2
        elif atyp == _ATYP_DOMAIN:
            length = 4 + 1 + buf[4] + 2
        else:
            raise ProxyError(f"malformed SOCKS5 reply: address type {atyp:#04x}")
        if self._take(length) is None:
            return False
        self._leftover = bytes(self._buffer)
        self._buffer.clear()
        self._state = "done"
        return True

    def _send_request(self) -> None:
        # RFC 1928 section 4: "+----+-----+-------+------+----------+----------+
        #                      |VER | CMD |  RSV  | ATYP | DST.ADDR | DST.PORT |"
        self._outgoing += bytes([_SOCKS_VERSION, _CMD_CONNECT, 0x00]) + self._address
        self._state = "request"


def proxy_handshake(
    proxy: Proxy,
    host: str,
    port: int,
    resolved_ip: str | None = None,
    user_agent: str | None = None,
) -> ProxyHandshake:
    """The handshake that asks ``proxy`` for a tunnel to ``host:port``.

    For ``socks5://`` pass ``resolved_ip`` (an address of ``host``) unless ``host`` is
    already an IP address.
    """
    if proxy.is_socks:
        return Socks5Handshake(
            host, port, proxy.username, proxy.password, proxy.remote_dns, resolved_ip
        )
    return HttpConnectHandshake(host, port, proxy, user_agent)


def looks_like_tls_client_hello(data: bytes | bytearray) -> bool:
    """Whether the first bytes a server read are a TLS handshake, not an HTTP request.

    A TLS record starts with its content type, 22 (0x16) for a handshake, then the
    major version 3 (RFC 8446 section 5.1, RFC 5246 section 6.2.1); no HTTP method
    starts with byte 0x16.  A ws:// server that sees this was reached by a wss://
    client and can log "TLS handshake received on a plain-text port".
    """
    if not data or data[0] != 0x16:
        return False
    return len(data) < 2 or data[1] == 0x03
