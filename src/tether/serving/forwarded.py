"""The real client address behind reverse proxies: ``Forwarded`` (RFC 7239) and
``X-Forwarded-For``, believed only when the TCP peer is a trusted proxy.

The list is read from the right: each proxy appends the address it saw, so the
rightmost entries were written by our own proxies and the first address, walking
leftwards, that is not a trusted proxy is the client.  Entries left of it were written
by the client itself and can say anything, so they are never used.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from ..core.http11 import Headers

__all__ = ["TrustedProxies", "parse_forwarded", "parse_x_forwarded_for"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    """Addresses or networks (``"127.0.0.1"``, ``"10.0.0.0/8"``, ``"::1"``) of proxies
    whose forwarding headers are believed."""

    def __init__(self, networks: Iterable[str] = ()) -> None:
        self.networks: list[Network] = [ipaddress.ip_network(n.strip(), strict=False)
                                        for n in networks if n.strip()]

    @classmethod
    def parse(cls, text: str | None) -> TrustedProxies:
        """From a comma-separated list (a flag or an environment variable)."""
        return cls((text or "").split(","))

    def __bool__(self) -> bool:
        return bool(self.networks)

    def __contains__(self, host: object) -> bool:
        if not isinstance(host, str):
            return False
        try:
            addr = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        return any(addr.version == n.version and addr in n for n in self.networks)

    def client_address(self, peer: tuple[str, int] | None,
                       headers: Headers) -> tuple[str, int] | None:
        """The client's ``(host, port)`` (port 0 when the proxy didn't say), or None
        when the peer is not trusted or sent no forwarding header."""
        if not peer or peer[0] not in self:  # a Unix socket's peer is ''
            return None
        hops = parse_forwarded(headers.get_all("Forwarded"))
        if not hops:
            hops = parse_x_forwarded_for(headers.get_all("X-Forwarded-For"))
        for host, port in reversed(hops):
            if host not in self:
                return (host, port)
        return hops[0] if hops else None


def _host_port(text: str) -> tuple[str, int] | None:
    text = text.strip().strip('"')
    if not text or text.lower() == "unknown" or text.startswith("_"):
        return None
    port = 0
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return None
        host, rest = text[1:end], text[end + 1:]
        if rest.startswith(":") and rest[1:].isdigit():
            port = int(rest[1:])
    elif text.count(":") == 1:
        host, _, p = text.partition(":")
        port = int(p) if p.isdigit() else 0
    else:
        host = text
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return None
    return (host, port)


def parse_x_forwarded_for(values: list[str]) -> list[tuple[str, int]]:
    """Every address in ``X-Forwarded-For`` header lines, left to right."""
    out = []
    for value in values:
        for item in value.split(","):
            hp = _host_port(item)
            if hp is not None:
                out.append(hp)
    return out


def parse_forwarded(values: list[str]) -> list[tuple[str, int]]:
    """The ``for=`` addresses of ``Forwarded`` header lines, left to right."""
    out = []
    for value in values:
        for element in value.split(","):
            for pair in element.split(";"):
                name, _, val = pair.strip().partition("=")
                if name.lower() == "for":
                    hp = _host_port(val)
                    if hp is not None:
                        out.append(hp)
    return out
