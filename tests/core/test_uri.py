"""ws:// and wss:// URIs."""

from __future__ import annotations

import pytest

from tether.core.uri import WebSocketURI, parse_uri
from tether.exceptions import InvalidURI


@pytest.mark.parametrize(
    "uri,expected",
    [
        ("ws://localhost/", WebSocketURI(False, "localhost", 80, "/")),
        ("ws://localhost", WebSocketURI(False, "localhost", 80, "/")),
        ("wss://localhost/", WebSocketURI(True, "localhost", 443, "/")),
        ("ws://localhost:8765/chat?room=1", WebSocketURI(False, "localhost", 8765, "/chat?room=1")),
        ("WS://LocalHost:80/", WebSocketURI(False, "localhost", 80, "/")),
        ("ws://127.0.0.1:9/", WebSocketURI(False, "127.0.0.1", 9, "/")),
        ("ws://[::1]:9/", WebSocketURI(False, "::1", 9, "/")),
        ("ws://h/a b", WebSocketURI(False, "h", 80, "/a%20b")),
        ("ws://h/%41?x=%20", WebSocketURI(False, "h", 80, "/%41?x=%20")),
        ("ws://h/caf\xe9", WebSocketURI(False, "h", 80, "/caf%C3%A9")),
        ("ws://user:p%40ss@h/", WebSocketURI(False, "h", 80, "/", ("user", "p@ss"))),
        ("ws://user@h/", WebSocketURI(False, "h", 80, "/", ("user", ""))),
        ("ws://b\xfccher.example/", WebSocketURI(False, "xn--bcher-kva.example", 80, "/")),
    ],
)
def test_parse_uri(uri: str, expected: WebSocketURI) -> None:
    assert parse_uri(uri) == expected


@pytest.mark.parametrize(
    "uri",
    [
        "http://localhost/",
        "https://localhost/",
        "localhost:8765",
        "ws:///path",
        "ws://",
        "ws://localhost/#frag",
        "ws://localhost/#",
        "ws://localhost:99999/",
        "ws://localhost:port/",
        "ws://[::1/",
    ],
)
def test_invalid_uris(uri: str) -> None:
    with pytest.raises(InvalidURI) as info:
        parse_uri(uri)
    assert info.value.uri == uri


def test_uri_must_be_str() -> None:
    with pytest.raises(TypeError):
        parse_uri(b"ws://localhost/")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "uri,host_header,origin",
    [
        ("ws://h/", "h", "ws://h"),
        ("ws://h:80/", "h", "ws://h"),
        ("ws://h:443/", "h:443", "ws://h:443"),
        ("wss://h:443/", "h", "wss://h"),
        ("wss://h:8443/", "h:8443", "wss://h:8443"),
        ("ws://[::1]:9/", "[::1]:9", "ws://[::1]:9"),
        ("ws://[::1]/", "[::1]", "ws://[::1]"),
    ],
)
def test_host_header_and_origin(uri: str, host_header: str, origin: str) -> None:
    parsed = parse_uri(uri)
    assert parsed.host_header == host_header
    assert parsed.origin_url == origin


def test_resource_name_never_contains_request_line_breakers() -> None:
    # Whatever the URI holds, the resource name must fit in a request line.
    for uri in ["ws://h/a\tb", "ws://h/a\r\nX: y", "ws://h/a\x00b", "ws://h/\x7f", "ws://h/ ?  "]:
        name = parse_uri(uri).resource_name
        assert all(0x20 < ord(c) < 0x7F for c in name), (uri, name)
