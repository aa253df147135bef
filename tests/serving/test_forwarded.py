"""Client address from Forwarded / X-Forwarded-For, believed from trusted proxies only."""

from __future__ import annotations

from tether.core.http11 import Headers
from tether.serving.forwarded import TrustedProxies, parse_forwarded


def test_untrusted_peer_is_not_believed() -> None:
    trusted = TrustedProxies.parse("10.0.0.0/8")
    h = Headers([("X-Forwarded-For", "1.2.3.4")])
    assert trusted.client_address(("203.0.113.9", 1234), h) is None
    assert TrustedProxies().client_address(("10.0.0.1", 1), h) is None


def test_rightmost_untrusted_hop_is_the_client() -> None:
    trusted = TrustedProxies.parse("10.0.0.0/8, 127.0.0.1")
    # The client forged the first entry; the proxies appended the real one.
    h = Headers([("X-Forwarded-For", "6.6.6.6, 198.51.100.4"),
                 ("X-Forwarded-For", "10.1.1.1")])
    assert trusted.client_address(("127.0.0.1", 9), h) == ("198.51.100.4", 0)


def test_forwarded_header_wins_and_has_ports() -> None:
    trusted = TrustedProxies.parse("127.0.0.0/8,::1")
    h = Headers([("Forwarded", 'for="[2001:db8::5]:4711";proto=https, for=127.0.0.3'),
                 ("X-Forwarded-For", "9.9.9.9")])
    assert trusted.client_address(("::1", 9), h) == ("2001:db8::5", 4711)
    assert parse_forwarded(["for=_hidden, for=unknown, For=192.0.2.60:80"]) == [
        ("192.0.2.60", 80)]


def test_ipv4_mapped_peer_and_garbage() -> None:
    trusted = TrustedProxies.parse("127.0.0.1")
    assert "::ffff:127.0.0.1" in trusted
    assert "not-an-ip" not in trusted
    h = Headers([("X-Forwarded-For", "garbage, 192.0.2.1")])
    assert trusted.client_address(("::ffff:127.0.0.1", 5), h) == ("192.0.2.1", 0)
