"""tether.core.proxy: proxy URLs, environment variables, no_proxy, CONNECT and SOCKS5."""

from __future__ import annotations

import base64
import contextlib
import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tether.core.http11 import parse_request
from tether.core.proxy import (
    DEFAULT_PORTS,
    HttpConnectHandshake,
    Proxy,
    Socks5Handshake,
    build_connect_request,
    get_proxy,
    looks_like_tls_client_hello,
    parse_connect_response,
    parse_proxy,
    proxy_bypass,
    proxy_handshake,
)
from tether.exceptions import ProxyError

# --------------------------------------------------------------------------- parse_proxy


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://proxy:3128", Proxy("http", "proxy", 3128)),
        ("http://proxy", Proxy("http", "proxy", 80)),
        ("http://proxy/", Proxy("http", "proxy", 80)),
        ("https://proxy", Proxy("https", "proxy", 443)),
        ("socks5://proxy", Proxy("socks5", "proxy", 1080)),
        ("socks5h://proxy", Proxy("socks5h", "proxy", 1080)),
        ("SOCKS5H://Proxy.Example:9050", Proxy("socks5h", "proxy.example", 9050)),
        ("proxy.corp:8080", Proxy("http", "proxy.corp", 8080)),
        ("  http://proxy:3128  ", Proxy("http", "proxy", 3128)),
        ("http://[::1]:3128", Proxy("http", "::1", 3128)),
        ("http://127.0.0.1:8888", Proxy("http", "127.0.0.1", 8888)),
        ("http://user:pass@proxy:3128", Proxy("http", "proxy", 3128, "user", "pass")),
        ("http://user@proxy:3128", Proxy("http", "proxy", 3128, "user", "")),
        ("http://us%40er:p%3Aa%2Fss%20@proxy", Proxy("http", "proxy", 80, "us@er", "p:a/ss ")),
        ("socks5://us%3Aer:pw@proxy", Proxy("socks5", "proxy", 1080, "us:er", "pw")),
        ("http://user:p%C3%A4ss@proxy", Proxy("http", "proxy", 80, "user", "päss")),
        ("http://bücher.example:1", Proxy("http", "xn--bcher-kva.example", 1)),
    ],
)
def test_parse_proxy(url: str, expected: Proxy) -> None:
    assert parse_proxy(url) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "empty"),
        ("ftp://proxy", "'ftp' is not one of"),
        ("socks4://proxy", "only SOCKS5"),
        ("http://", "no host name"),
        ("http://:8080", "no host name"),
        ("http://proxy:99999", "out of range"),
        ("http://proxy:port", "Port could not be cast"),
        ("http://proxy:0", "port 0"),
        ("http://proxy/path", "no path"),
        ("http://proxy?q=1", "no query"),
        ("http://proxy#frag", "no query or fragment"),
        ("http://:pw@proxy", "empty user name"),
        ("http://us%3Aer:pw@proxy", "cannot contain ':'"),
        ("http://user:%ff@proxy", "not percent-encoded UTF-8"),
        ("socks5://" + "u" * 256 + ":p@proxy", "at most 255 bytes"),
    ],
)
def test_parse_proxy_errors(url: str, message: str) -> None:
    with pytest.raises(ValueError, match="invalid proxy URL") as info:
        parse_proxy(url)
    assert message in str(info.value)


def test_parse_proxy_error_hides_password() -> None:
    with pytest.raises(ValueError) as info:
        parse_proxy("http://user:s3cret@proxy:bad")
    assert "s3cret" not in str(info.value)
    assert "user:***@proxy" in str(info.value)


def test_parse_proxy_type_error() -> None:
    with pytest.raises(TypeError):
        parse_proxy(b"http://proxy")  # type: ignore[arg-type]


def test_proxy_properties_and_repr() -> None:
    proxy = parse_proxy("socks5://user:s3cret@[::1]:1080")
    assert proxy.is_socks and not proxy.remote_dns and not proxy.tls
    assert proxy.address == "[::1]:1080"
    assert proxy.url == "socks5://[::1]:1080"
    assert "s3cret" not in repr(proxy)
    assert parse_proxy("socks5h://p").remote_dns
    assert parse_proxy("https://p").tls
    assert parse_proxy("http://p").remote_dns and not parse_proxy("http://p").is_socks
    assert DEFAULT_PORTS == {"http": 80, "https": 443, "socks5": 1080, "socks5h": 1080}


# --------------------------------------------------------------------------- get_proxy


def _get(secure: bool, env: dict[str, str]) -> str | None:
    proxy = get_proxy(secure, "example.com", 443, env)
    return None if proxy is None else proxy.url


@pytest.mark.parametrize(
    ("secure", "env", "expected"),
    [
        (True, {}, None),
        (False, {}, None),
        # wss: wss_proxy, https_proxy, all_proxy
        (True, {"wss_proxy": "http://w:1", "https_proxy": "http://s:1"}, "http://w:1"),
        (True, {"https_proxy": "http://s:1", "all_proxy": "http://a:1"}, "http://s:1"),
        (True, {"all_proxy": "socks5h://a:1"}, "socks5h://a:1"),
        (True, {"http_proxy": "http://h:1", "ws_proxy": "http://ws:1"}, None),
        # ws: ws_proxy, http_proxy, all_proxy
        (False, {"ws_proxy": "http://ws:1", "http_proxy": "http://h:1"}, "http://ws:1"),
        (False, {"http_proxy": "http://h:1", "all_proxy": "http://a:1"}, "http://h:1"),
        (False, {"ALL_PROXY": "http://a:1"}, "http://a:1"),
        (False, {"https_proxy": "http://s:1", "wss_proxy": "http://w:1"}, None),
        # lower case wins over upper case
        (True, {"HTTPS_PROXY": "http://up:1", "https_proxy": "http://low:1"}, "http://low:1"),
        (True, {"HTTPS_PROXY": "http://up:1"}, "http://up:1"),
        (False, {"HTTP_PROXY": "http://up:1"}, "http://up:1"),
        (True, {"WSS_PROXY": "http://w:1", "https_proxy": "http://s:1"}, "http://w:1"),
        # a set-but-empty lower-case variable hides the upper-case one
        (True, {"https_proxy": "", "HTTPS_PROXY": "http://up:1"}, None),
        (
            True,
            {"https_proxy": " ", "HTTPS_PROXY": "http://up:1", "all_proxy": "http://a:1"},
            "http://a:1",
        ),
        # httpoxy: in a CGI script HTTP_PROXY may come from a request header
        (False, {"HTTP_PROXY": "http://evil:1", "REQUEST_METHOD": "GET"}, None),
        (False, {"http_proxy": "http://ok:1", "REQUEST_METHOD": "GET"}, "http://ok:1"),
        (True, {"HTTPS_PROXY": "http://s:1", "REQUEST_METHOD": "GET"}, "http://s:1"),
        # scheme-less values are HTTP proxies
        (False, {"http_proxy": "proxy:3128"}, "http://proxy:3128"),
    ],
)
def test_get_proxy_variables(secure: bool, env: dict[str, str], expected: str | None) -> None:
    assert _get(secure, env) == expected


def test_get_proxy_credentials() -> None:
    proxy = get_proxy(False, "h", 80, {"http_proxy": "http://u%20x:p%40w@proxy:3128"})
    assert proxy == Proxy("http", "proxy", 3128, "u x", "p@w")


def test_get_proxy_bad_variable_names_it() -> None:
    with pytest.raises(ValueError, match="https_proxy / HTTPS_PROXY: invalid proxy URL"):
        get_proxy(True, "h", 443, {"HTTPS_PROXY": "ftp://proxy"})


def test_get_proxy_reads_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("wss_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("https_proxy", "http://envproxy:3128")
    assert get_proxy(True, "example.com", 443) == Proxy("http", "envproxy", 3128)
    monkeypatch.setenv("NO_PROXY", "example.com")
    assert get_proxy(True, "example.com", 443) is None
    monkeypatch.setenv("no_proxy", "other.com")  # lower case wins
    assert get_proxy(True, "example.com", 443) is not None


@pytest.mark.parametrize(
    ("no_proxy", "host", "port", "bypass"),
    [
        ("*", "anything.example", 1, True),
        ("a.com, *", "b.com", 1, True),
        ("", "example.com", 443, False),
        # names: the host and its subdomains, however written
        ("example.com", "example.com", 443, True),
        ("example.com", "www.example.com", 443, True),
        ("example.com", "a.b.example.com", 443, True),
        (".example.com", "example.com", 443, True),
        (".example.com", "www.example.com", 443, True),
        ("*.example.com", "www.example.com", 443, True),
        ("example.com", "badexample.com", 443, False),
        ("example.com", "example.com.evil.net", 443, False),
        ("www.example.com", "example.com", 443, False),
        ("EXAMPLE.com", "Www.Example.COM", 443, True),
        ("example.com.", "example.com", 443, True),
        ("example.com", "example.com.", 443, True),
        ("localhost", "localhost", 8000, True),
        ("localhost", "127.0.0.1", 8000, False),  # no resolution
        # separators: commas, spaces, tabs, newlines, empty entries
        ("a.com,b.com", "b.com", 1, True),
        (" a.com ,\tb.com\n", "b.com", 1, True),
        ("a.com b.com", "b.com", 1, True),
        (",,a.com,,", "a.com", 1, True),
        # host:port entries apply to that port only
        ("example.com:8080", "example.com", 8080, True),
        ("example.com:8080", "example.com", 443, False),
        ("example.com:8080", "www.example.com", 8080, True),
        ("127.0.0.1:8080", "127.0.0.1", 8080, True),
        ("127.0.0.1:8080", "127.0.0.1", 8081, False),
        ("[::1]:8080", "::1", 8080, True),
        ("[::1]:8080", "::1", 9090, False),
        ("example.com:", "example.com", 443, False),  # malformed: ignored
        ("example.com:http", "example.com", 80, False),
        # IPv4 and IPv6 addresses compare as addresses, never by suffix
        ("127.0.0.1", "127.0.0.1", 80, True),
        ("127.0.0.1", "127.0.0.10", 80, False),
        ("0.0.1", "10.0.0.1", 80, False),
        ("::1", "::1", 80, True),
        ("::1", "0:0:0:0:0:0:0:1", 80, True),
        ("[::1]", "::1", 80, True),
        ("::1", "[::1]", 80, True),
        ("fe80::1", "fe80::2", 80, False),
        ("example.com", "10.0.0.1", 80, False),
        ("10.0.0.1", "example.com", 80, False),
        # CIDR blocks
        ("10.0.0.0/8", "10.1.2.3", 80, True),
        ("10.0.0.0/8", "11.1.2.3", 80, False),
        ("192.168.1.0/24", "192.168.1.255", 80, True),
        ("192.168.1.0/24", "192.168.2.1", 80, False),
        ("127.0.0.1/8", "127.9.9.9", 80, True),  # host bits set: accepted, like requests
        ("fd00::/8", "fd12:3456::1", 80, True),
        ("fd00::/8", "fe80::1", 80, False),
        ("10.0.0.0/8", "::ffff:10.0.0.1", 80, False),  # no v4/v6 mixing
        ("10.0.0.0/8", "ten.example", 80, False),
        ("10.0.0.0/99", "10.0.0.1", 80, False),  # malformed: ignored
        ("[fd00::]/8", "fd00::1", 80, False),  # brackets around a CIDR: not a valid entry
    ],
)
def test_proxy_bypass(no_proxy: str, host: str, port: int, bypass: bool) -> None:
    assert proxy_bypass(host, port, no_proxy) is bypass


def test_get_proxy_honours_no_proxy() -> None:
    env = {"https_proxy": "http://p:1", "NO_PROXY": "internal.corp, 10.0.0.0/8"}
    assert get_proxy(True, "svc.internal.corp", 443, env) is None
    assert get_proxy(True, "10.2.3.4", 443, env) is None
    assert get_proxy(True, "example.com", 443, env) == Proxy("http", "p", 1)
    env["no_proxy"] = ""  # set but empty: hides NO_PROXY
    assert get_proxy(True, "10.2.3.4", 443, env) is not None


_CIDR_CASES = st.one_of(
    st.tuples(st.ip_addresses(v=4), st.ip_addresses(v=4), st.integers(0, 32)),
    st.tuples(st.ip_addresses(v=6), st.ip_addresses(v=6), st.integers(0, 128)),
)


@given(_CIDR_CASES)
def test_proxy_bypass_cidr_matches_ipaddress(case: tuple[object, object, int]) -> None:
    """A CIDR entry matches exactly the addresses that ipaddress puts in the block."""
    base, address, prefix = case
    network = ipaddress.ip_network(f"{base}/{prefix}", strict=False)
    assert proxy_bypass(str(address), 1, str(network)) is (address in network)
    assert proxy_bypass(str(network.network_address), 1, str(network))


# --------------------------------------------------------------------------- HTTP CONNECT

HTTP = Proxy("http", "proxy", 3128)
HTTP_AUTH = Proxy("http", "proxy", 3128, "Aladdin", "open sesame")


def test_build_connect_request() -> None:
    raw = build_connect_request("example.com", 443, HTTP)
    assert raw == b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"
    parsed = parse_request(raw)
    assert parsed is not None
    request, used = parsed
    assert used == len(raw)
    assert request.method == "CONNECT" and request.target == "example.com:443"


def test_build_connect_request_ipv6_and_user_agent() -> None:
    raw = build_connect_request("2001:db8::1", 8080, HTTP, user_agent="tether/1")
    assert raw.startswith(b"CONNECT [2001:db8::1]:8080 HTTP/1.1\r\n")
    assert b"\r\nHost: [2001:db8::1]:8080\r\n" in raw
    assert b"\r\nUser-Agent: tether/1\r\n" in raw
    assert build_connect_request("[::1]", 80, HTTP).startswith(b"CONNECT [::1]:80 ")


def test_build_connect_request_basic_auth() -> None:
    raw = build_connect_request("example.com", 443, HTTP_AUTH)
    # RFC 7617 section 2's example credentials.
    assert b"\r\nProxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n" in raw
    raw = build_connect_request("h", 1, Proxy("http", "p", 1, "usér", "päss"))
    value = raw.split(b"Proxy-Authorization: Basic ")[1].split(b"\r\n")[0]
    assert base64.b64decode(value).decode() == "usér:päss"


def test_connect_response_ok_with_leftover() -> None:
    head = b"HTTP/1.1 200 Connection established\r\nProxy-Agent: test\r\n\r\n"
    assert parse_connect_response(head[:10], HTTP) is None
    assert parse_connect_response(head, HTTP) == b""
    assert parse_connect_response(head + b"\x81\x05hello", HTTP) == b"\x81\x05hello"


@pytest.mark.parametrize("status", [b"200 OK", b"204 No Content", b"299 Whatever", b"200"])
def test_connect_response_any_2xx(status: bytes) -> None:
    assert parse_connect_response(b"HTTP/1.0 " + status + b"\r\n\r\n", HTTP) == b""


def test_connect_response_ignores_content_length_on_2xx() -> None:
    # RFC 9110 section 9.3.6: the client MUST ignore Content-Length on a 2xx to CONNECT.
    raw = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nDATA!"
    assert parse_connect_response(raw, HTTP) == b"DATA!"


def test_connect_response_skips_1xx() -> None:
    raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\nrest"
    assert parse_connect_response(raw, HTTP) == b"rest"
    assert parse_connect_response(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 2", HTTP) is None


def test_connect_response_407_without_credentials() -> None:
    raw = (
        b"HTTP/1.1 407 Proxy Authentication Required\r\n"
        b'Proxy-Authenticate: Basic realm="corp"\r\nContent-Length: 0\r\n\r\n'
    )
    with pytest.raises(ProxyError) as info:
        parse_connect_response(raw, HTTP)
    assert info.value.status == 407
    message = str(info.value)
    assert message.startswith("proxy authentication required")
    assert "no credentials were given" in message
    assert 'Basic realm="corp"' in message
    assert "proxy:3128" in message


def test_connect_response_407_with_credentials() -> None:
    with pytest.raises(ProxyError) as info:
        parse_connect_response(b"HTTP/1.1 407 Denied\r\n\r\n", HTTP_AUTH)
    assert info.value.status == 407
    assert str(info.value).startswith("proxy authentication refused")
    assert "'Aladdin'" in str(info.value)
    assert "open sesame" not in str(info.value)


def test_connect_response_401_is_an_authentication_failure() -> None:
    """tinyproxy answers 401 (not 407) to wrong credentials; the status is kept."""
    raw = b'HTTP/1.0 401 Unauthorized\r\nWWW-Authenticate: Basic realm="x"\r\n\r\n'
    with pytest.raises(ProxyError) as info:
        parse_connect_response(raw, HTTP_AUTH)
    assert info.value.status == 401
    assert str(info.value).startswith("proxy authentication refused")
    assert 'Basic realm="x"' in str(info.value)
    with pytest.raises(ProxyError, match=r"^proxy authentication required"):
        parse_connect_response(raw, HTTP)


@pytest.mark.parametrize(
    ("raw", "status", "text"),
    [
        (b"HTTP/1.1 403 Forbidden\r\n\r\n", 403, "HTTP 403 Forbidden"),
        (b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 3\r\n\r\nbad", 502, "HTTP 502 Bad Gateway"),
        (b"HTTP/1.1 301 Moved\r\nLocation: x\r\n\r\n", 301, "HTTP 301 Moved"),
        (b"HTTP/1.1 500 \r\n\r\n", 500, "HTTP 500"),
    ],
)
def test_connect_response_refused(raw: bytes, status: int, text: str) -> None:
    with pytest.raises(ProxyError) as info:
        parse_connect_response(raw, HTTP)
    assert info.value.status == status
    assert "refused the tunnel" in str(info.value)
    assert text in str(info.value)


@pytest.mark.parametrize("raw", [b"\x05\x00", b"SSH-2.0-OpenSSH", b"HTTP/1.1 2OO OK"])
def test_connect_response_not_http(raw: bytes) -> None:
    with pytest.raises(ProxyError, match="did not answer CONNECT with valid HTTP") as info:
        parse_connect_response(raw + b"\r\n\r\n", HTTP)
    assert info.value.status is None


def test_http_connect_handshake_state_machine() -> None:
    hs = HttpConnectHandshake("example.com", 443, HTTP_AUTH, user_agent="ua")
    out = hs.data_to_send()
    assert out.startswith(b"CONNECT example.com:443 HTTP/1.1\r\n")
    assert hs.data_to_send() == b""
    assert not hs.done and hs.leftover == b""
    for byte in b"HTTP/1.1 200 OK\r\n\r":
        hs.receive_data(bytes([byte]))
        assert not hs.done
    hs.receive_data(b"\nabc")
    assert hs.done and hs.leftover == b"abc"
    hs.receive_data(b"def")
    assert hs.leftover == b"abcdef"
    hs.receive_eof()  # fine once done


def test_http_connect_handshake_eof() -> None:
    hs = HttpConnectHandshake("example.com", 443, HTTP)
    hs.receive_data(b"HTTP/1.1 200")
    with pytest.raises(ProxyError, match="closed the connection after 12 bytes before answering"):
        hs.receive_eof()


def test_http_connect_handshake_eof_from_socks_proxy() -> None:
    hs = HttpConnectHandshake("example.com", 443, HTTP)
    hs.receive_data(b"\x05\xff")
    with pytest.raises(ProxyError, match="answered like a SOCKS5 proxy"):
        hs.receive_eof()


def test_proxy_handshake_factory() -> None:
    assert isinstance(proxy_handshake(HTTP, "h", 1), HttpConnectHandshake)
    assert isinstance(proxy_handshake(Proxy("https", "p", 1), "h", 1), HttpConnectHandshake)
    assert isinstance(proxy_handshake(Proxy("socks5h", "p", 1), "h", 1), Socks5Handshake)
    hs = proxy_handshake(Proxy("socks5", "p", 1), "h", 1, resolved_ip="10.0.0.1")
    assert isinstance(hs, Socks5Handshake)


# --------------------------------------------------------------------------- SOCKS5


def _socks_reply(rep: int = 0, atyp: int = 1, addr: bytes = b"\x7f\x00\x00\x01") -> bytes:
    return bytes([5, rep, 0, atyp]) + addr + b"\x1f\x90"


def test_socks5_no_auth_domain() -> None:
    hs = Socks5Handshake("example.com", 443)
    # RFC 1928 section 3: VER=5, NMETHODS=1, METHODS=[X'00' NO AUTHENTICATION REQUIRED]
    assert hs.data_to_send() == b"\x05\x01\x00"
    assert hs.data_to_send() == b""
    hs.receive_data(b"\x05")
    assert hs.data_to_send() == b""
    hs.receive_data(b"\x00")
    # VER=5 CMD=CONNECT RSV=0 ATYP=DOMAINNAME len "example.com" port 443
    assert hs.data_to_send() == b"\x05\x01\x00\x03\x0bexample.com\x01\xbb"
    reply = _socks_reply()
    hs.receive_data(reply[:6])
    assert not hs.done
    hs.receive_data(reply[6:] + b"tunnel")
    assert hs.done and hs.leftover == b"tunnel"
    hs.receive_data(b"!")
    assert hs.leftover == b"tunnel!"


def test_socks5_byte_by_byte_with_auth() -> None:
    hs = Socks5Handshake("example.com", 80, "user", "pass")
    assert hs.data_to_send() == b"\x05\x02\x00\x02"
    sent = b""
    for byte in b"\x05\x02" + b"\x01\x00" + _socks_reply(atyp=4, addr=bytes(16)):
        assert not hs.done
        hs.receive_data(bytes([byte]))
        sent += hs.data_to_send()
    assert hs.done and hs.leftover == b""
    hs.receive_data(b"x")
    assert hs.leftover == b"x"
    # RFC 1929: VER=1 ULEN UNAME PLEN PASSWD, then the request
    assert sent == b"\x01\x04user\x04pass" + b"\x05\x01\x00\x03\x0bexample.com\x00\x50"


def test_socks5_replies_in_one_chunk() -> None:
    hs = Socks5Handshake("example.com", 80, "user", "pass")
    hs.data_to_send()
    hs.receive_data(b"\x05\x02\x01\x00" + _socks_reply(atyp=3, addr=b"\x04host") + b"data")
    assert hs.done and hs.leftover == b"data"
    assert hs.data_to_send() == b"\x01\x04user\x04pass\x05\x01\x00\x03\x0bexample.com\x00\x50"


def test_socks5_server_skips_auth_when_credentials_given() -> None:
    hs = Socks5Handshake("example.com", 80, "user", "pass")
    hs.data_to_send()
    hs.receive_data(b"\x05\x00")
    assert hs.data_to_send() == b"\x05\x01\x00\x03\x0bexample.com\x00\x50"


@pytest.mark.parametrize(
    ("host", "remote_dns", "resolved", "encoded"),
    [
        ("10.1.2.3", True, None, b"\x01\x0a\x01\x02\x03"),
        ("10.1.2.3", False, None, b"\x01\x0a\x01\x02\x03"),
        ("::1", True, None, b"\x04" + bytes(15) + b"\x01"),
        ("[::1]", False, None, b"\x04" + bytes(15) + b"\x01"),
        ("example.com", False, "93.184.216.34", b"\x01\x5d\xb8\xd8\x22"),
        ("example.com", False, "2001:db8::1", b"\x04\x20\x01\x0d\xb8" + bytes(11) + b"\x01"),
        ("example.com", True, "93.184.216.34", b"\x03\x0bexample.com"),  # socks5h: the name
        ("bücher.example", True, None, b"\x03\x15xn--bcher-kva.example"),
    ],
)
def test_socks5_address_types(
    host: str, remote_dns: bool, resolved: str | None, encoded: bytes
) -> None:
    hs = Socks5Handshake(host, 443, remote_dns=remote_dns, resolved_ip=resolved)
    hs.data_to_send()
    hs.receive_data(b"\x05\x00")
    assert hs.data_to_send() == b"\x05\x01\x00" + encoded + b"\x01\xbb"


def test_socks5_local_dns_needs_an_address() -> None:
    with pytest.raises(ValueError, match="pass resolved_ip"):
        Socks5Handshake("example.com", 443, remote_dns=False)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"host": "a" * 256, "port": 1}, "longer than SOCKS5 allows"),
        ({"host": "h", "port": 0}, "port 0"),
        ({"host": "h", "port": 65536}, "port 65536"),
        ({"host": "h", "port": 1, "username": "", "password": "p"}, "1-255 bytes"),
        ({"host": "h", "port": 1, "username": "u", "password": "p" * 256}, "0-255 bytes"),
    ],
)
def test_socks5_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Socks5Handshake(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("credentials", "method", "message"),
    [
        (False, 0xFF, "authentication required"),
        (False, 0x02, "authentication required"),
        (True, 0xFF, "accepts none of our authentication methods"),
        (False, 0x01, "method 0x01, which was not offered"),
    ],
)
def test_socks5_method_refused(credentials: bool, method: int, message: str) -> None:
    hs = Socks5Handshake("h", 1, *(("u", "p") if credentials else ()))
    hs.data_to_send()
    with pytest.raises(ProxyError, match=message):
        hs.receive_data(bytes([5, method]))


def test_socks5_auth_refused() -> None:
    hs = Socks5Handshake("h", 1, "user", "wrong")
    hs.data_to_send()
    hs.receive_data(b"\x05\x02")
    with pytest.raises(ProxyError, match=r"authentication refused.*status 0x01") as info:
        hs.receive_data(b"\x01\x01")
    assert "wrong" not in str(info.value)


@pytest.mark.parametrize(
    ("rep", "text"),
    [
        (1, "general SOCKS server failure"),
        (2, "connection not allowed by ruleset"),
        (3, "network unreachable"),
        (4, "host unreachable"),
        (5, "connection refused by the destination host"),
        (6, "TTL expired"),
        (7, "command not supported"),
        (8, "address type not supported"),
        (0x42, "unassigned reply code"),
    ],
)
def test_socks5_reply_codes(rep: int, text: str) -> None:
    hs = Socks5Handshake("example.com", 8080)
    hs.data_to_send()
    hs.receive_data(b"\x05\x00")
    with pytest.raises(ProxyError) as info:
        hs.receive_data(_socks_reply(rep=rep))
    assert str(info.value) == (
        f"SOCKS5 proxy could not connect to example.com:8080: {text} (reply {rep:#04x})"
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"HT", "not a SOCKS5 proxy"),
        (b"\x05\x00\x04\x00\x00\x01\x00", "malformed SOCKS5 reply: version 0x04"),
        (b"\x05\x00\x05\x00\x00\x07\x00", "malformed SOCKS5 reply: address type 0x07"),
    ],
)
def test_socks5_malformed(data: bytes, message: str) -> None:
    hs = Socks5Handshake("h", 1)
    hs.data_to_send()
    with pytest.raises(ProxyError, match=message):
        hs.receive_data(data)


def test_socks5_eof() -> None:
    hs = Socks5Handshake("h", 1, "u", "p")
    hs.data_to_send()
    hs.receive_data(b"\x05\x02")
    with pytest.raises(ProxyError, match="closed the connection during the authentication step"):
        hs.receive_eof()


@given(st.binary(max_size=64), st.lists(st.integers(1, 8), max_size=20))
def test_socks5_random_input_never_crashes(data: bytes, cuts: list[int]) -> None:
    """Any bytes from the proxy give progress, done, or ProxyError -- nothing else."""
    hs = Socks5Handshake("example.com", 443, "u", "p")
    hs.data_to_send()
    try:
        pos = 0
        for cut in [*cuts, len(data)]:
            hs.receive_data(data[pos : pos + cut])
            hs.data_to_send()
            pos += cut
    except ProxyError:
        pass


@given(st.binary(max_size=200))
def test_connect_random_input_never_crashes(data: bytes) -> None:
    hs = HttpConnectHandshake("example.com", 443, HTTP)
    with contextlib.suppress(ProxyError):
        hs.receive_data(data)


# --------------------------------------------------------------------------- TLS sniffing


@pytest.mark.parametrize(
    ("data", "tls"),
    [
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", True),  # a real ClientHello start
        (b"\x16\x03\x03", True),
        (b"\x16", True),
        (b"GET / HTTP/1.1\r\n", False),
        (b"", False),
        (b"\x16\x00", False),
        (b"\x15\x03\x03", False),  # an alert record is not a ClientHello
    ],
)
def test_looks_like_tls_client_hello(data: bytes, tls: bool) -> None:
    assert looks_like_tls_client_hello(data) is tls
