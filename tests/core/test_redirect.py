"""Following handshake redirects (tether.core.redirect) and the 401 challenge, without I/O."""

from __future__ import annotations

import pytest

from tether.core.redirect import (
    MAX_REDIRECTS,
    is_redirect,
    next_hop,
    redirect_target,
    same_origin,
    strip_credentials,
    too_many_redirects,
)
from tether.core.uri import parse_uri
from tether.exceptions import InvalidHandshake, InvalidRedirect, InvalidStatus


def test_statuses() -> None:
    assert [s for s in range(300, 310) if is_redirect(s)] == [301, 302, 303, 307, 308]
    assert MAX_REDIRECTS == 10


@pytest.mark.parametrize("base, location, expected", [
    ("ws://h/a/b", "ws://o/x", "ws://o/x"),
    ("ws://h/a/b", "http://o:81/x?q=1", "ws://o:81/x?q=1"),
    ("ws://h/a/b", "https://o/x", "wss://o/x"),
    ("wss://h/a/b", "wss://o/x", "wss://o/x"),
    ("ws://h:8/a/b?x=1", "c", "ws://h:8/a/c"),
    ("ws://h:8/a/b", "/root", "ws://h:8/root"),
    ("ws://h:8/a/b", "../up", "ws://h:8/up"),
    ("ws://h/a", "//other:9/p", "ws://other:9/p"),
    ("wss://h/a", "//other/p", "wss://other/p"),
    ("ws://u:p@h/a", "b", "ws://u:p@h/b"),  # same origin, relative: userinfo stays
    ("ws://h/a", "ws://o/x#frag", "ws://o/x"),
    ("ws://h/a", "  /spaced  ", "ws://h/spaced"),
])
def test_targets(base: str, location: str, expected: str) -> None:
    assert redirect_target(base, 302, location) == expected


def test_upgrade_to_wss_is_allowed_but_downgrade_is_refused() -> None:
    assert redirect_target("ws://h/", 301, "wss://h/") == "wss://h/"
    with pytest.raises(InvalidRedirect, match="downgrade") as info:
        redirect_target("wss://h/", 301, "ws://h/")
    assert info.value.status == 301 and info.value.location == "ws://h/"
    with pytest.raises(InvalidRedirect, match="downgrade"):
        redirect_target("wss://h/", 307, "http://h/")


@pytest.mark.parametrize("location", [None, "", "ftp://h/x", "mailto:a@b", "ws://:80/"])
def test_unusable_locations(location: str | None) -> None:
    with pytest.raises(InvalidRedirect):
        redirect_target("ws://h/", 302, location)


def test_too_many() -> None:
    exc = too_many_redirects(3, 302, "/loop")
    assert isinstance(exc, InvalidHandshake)
    assert "too many redirects" in str(exc) and "3" in str(exc)


def test_same_origin() -> None:
    assert same_origin(parse_uri("ws://H/a"), parse_uri("ws://h:80/b"))
    assert not same_origin(parse_uri("ws://h/a"), parse_uri("wss://h/a"))
    assert not same_origin(parse_uri("ws://h/a"), parse_uri("ws://h:81/a"))
    assert not same_origin(parse_uri("ws://h/a"), parse_uri("ws://g/a"))


def test_strip_credentials() -> None:
    headers = [("Authorization", "Basic x"), ("X-Keep", "1"), ("cookie", "a=b")]
    assert strip_credentials(headers) == [("X-Keep", "1")]


def test_invalid_status_carries_challenge_realm_and_location() -> None:
    exc = InvalidStatus(401, "Unauthorized",
                        [("www-authenticate", 'Basic realm="my, realm", charset="UTF-8"')], b"")
    assert exc.challenge == 'Basic realm="my, realm", charset="UTF-8"'
    assert exc.realm == "my, realm"
    assert InvalidStatus(401, "", [("WWW-Authenticate", "Bearer realm=api")], b"").realm == "api"
    assert InvalidStatus(401, "", [("WWW-Authenticate", "Bearer")], b"").realm is None
    assert InvalidStatus(401, "", [], b"").challenge is None
    assert InvalidStatus(302, "", [("Location", "/x")], b"").location == "/x"


def test_next_hop_follows_strips_credentials_across_origins_and_stops() -> None:
    uri = "ws://a.example/chat"
    wsuri = parse_uri(uri)
    headers = [("Authorization", "Basic eA=="), ("Cookie", "s=1"), ("X-Trace", "7")]
    moved = InvalidStatus(302, "Found", [("Location", "/rooms/1")], b"")
    assert next_hop(moved, uri, wsuri, headers, 0, 10) == (
        "ws://a.example/rooms/1", parse_uri("ws://a.example/rooms/1"), headers)
    away = InvalidStatus(301, "", [("Location", "https://b.example/x")], b"")
    target, new, sent = next_hop(away, uri, wsuri, headers, 3, 10)
    assert (target, new.secure, new.host) == ("wss://b.example/x", True, "b.example")
    assert sent == [("X-Trace", "7")]
    with pytest.raises(InvalidRedirect, match="too many redirects"):
        next_hop(moved, uri, wsuri, headers, 10, 10)
    refused = InvalidStatus(403, "Forbidden", [], b"")
    with pytest.raises(InvalidStatus) as info:
        next_hop(refused, uri, wsuri, headers, 0, 10)
    assert info.value is refused
    with pytest.raises(InvalidStatus) as info:
        next_hop(moved, uri, wsuri, headers, 0, 0)  # redirects off: the 3xx itself
    assert info.value is moved
