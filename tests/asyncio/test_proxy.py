"""ws:// and wss:// through real proxies: tinyproxy (HTTP CONNECT), stunnel (https://),
microsocks (SOCKS5); errors; the environment and no_proxy."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

import tether
from tests.support.certs import CertBundle
from tests.support.proxies import ProxyServer, free_port
from tether.asyncio.proxy import create_connection_via_proxy, open_tunnel
from tether.core.proxy import Proxy, parse_proxy

pytestmark = pytest.mark.timeout(60)

PROXY_VARIABLES = [
    name
    for base in ("ws", "wss", "http", "https", "all", "no")
    for name in (f"{base}_proxy", f"{base.upper()}_PROXY")
]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No proxy variable from the machine leaks into these tests."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    yield


#: The event loop kind of the running test (see the ``loop_factory`` fixture).
_LOOP_FACTORY: list[Any] = [None]


@pytest.fixture(autouse=True)
def _each_loop(loop_factory: Any) -> Iterator[None]:
    """Run every test here on asyncio's loop and on uvloop's (tests/asyncio/conftest.py)."""
    _LOOP_FACTORY[0] = loop_factory
    yield
    _LOOP_FACTORY[0] = None


def run(coro: Awaitable[Any], timeout: float = 20) -> Any:
    """Run ``coro`` on a fresh event loop of the test's kind, with a deadline."""

    async def main() -> Any:
        async with asyncio.timeout(timeout):
            return await coro

    with asyncio.Runner(loop_factory=_LOOP_FACTORY[0]) as runner:
        return runner.run(main())


async def echo(ws: tether.ServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


async def through(
    url_of: Callable[[int], str],
    server_ctx: ssl.SSLContext | None = None,
    host: str = "127.0.0.1",
    **connect_kwargs: Any,
) -> tuple[Any, int]:
    """Serve an echo, connect to ``url_of(port)`` with ``connect_kwargs``, echo once."""
    async with tether.serve(echo, host, 0, ssl=server_ctx) as server:
        url = url_of(server.port)
        async with tether.connect(url, open_timeout=10, **connect_kwargs) as ws:
            await ws.send("through the proxy")
            return await ws.recv(), server.port


def connect_error(
    url_of: Callable[[int], str], server_ctx: ssl.SSLContext | None = None, **kwargs: Any
) -> BaseException:
    async def main() -> BaseException:
        with pytest.raises(Exception) as info:
            await through(url_of, server_ctx, **kwargs)
        return info.value

    exc: BaseException = run(main())
    return exc


def assert_tunnelled(proxy: ProxyServer, port: int) -> None:
    """tinyproxy logged the CONNECT to our server's port."""
    assert f"CONNECT 127.0.0.1:{port} " in proxy.log_text() or f"CONNECT localhost:{port} " in (
        proxy.log_text()
    )


# --------------------------------------------------------------------------- HTTP CONNECT


def test_ws_through_http_proxy(http_proxy: ProxyServer) -> None:
    answer, port = run(through(lambda p: f"ws://127.0.0.1:{p}/", proxy=http_proxy.url))
    assert answer == "through the proxy"
    assert_tunnelled(http_proxy, port)


def test_wss_through_http_proxy(http_proxy: ProxyServer, tls_certs: CertBundle) -> None:
    answer, port = run(
        through(
            lambda p: f"wss://localhost:{p}/",
            tls_certs.server_context(),
            host="localhost",
            proxy=http_proxy.url,
            ssl=tls_certs.client_context(),
        )
    )
    assert answer == "through the proxy"
    assert_tunnelled(http_proxy, port)


def test_wss_through_http_proxy_checks_certificate(
    http_proxy: ProxyServer, tls_certs: CertBundle
) -> None:
    """TLS runs end to end through the tunnel: a wrong name is still caught."""
    exc = connect_error(
        lambda p: f"wss://localhost:{p}/",
        tls_certs.server_context("wrong_name"),
        host="localhost",
        proxy=http_proxy.url,
        ssl=tls_certs.client_context(),
    )
    assert isinstance(exc, ssl.SSLCertVerificationError)
    assert "is for another host name" in str(exc)


@pytest.mark.parametrize("secure", [False, True])
def test_http_proxy_auth_good_credentials(
    http_proxy_auth: ProxyServer, tls_certs: CertBundle, secure: bool
) -> None:
    scheme = "wss" if secure else "ws"
    answer, port = run(
        through(
            lambda p: f"{scheme}://127.0.0.1:{p}/",
            tls_certs.server_context() if secure else None,
            proxy=http_proxy_auth.auth_url,
            ssl=tls_certs.client_context() if secure else None,
        )
    )
    assert answer == "through the proxy"
    assert_tunnelled(http_proxy_auth, port)


def test_http_proxy_auth_missing_credentials(http_proxy_auth: ProxyServer) -> None:
    exc = connect_error(lambda p: f"ws://127.0.0.1:{p}/", proxy=http_proxy_auth.url)
    assert isinstance(exc, tether.ProxyError)
    assert exc.status == 407
    assert str(exc).startswith("proxy authentication required")
    assert "no credentials were given" in str(exc)
    assert 'Basic realm="Tinyproxy"' in str(exc)


def test_http_proxy_auth_wrong_credentials(http_proxy_auth: ProxyServer) -> None:
    exc = connect_error(
        lambda p: f"ws://127.0.0.1:{p}/", proxy=http_proxy_auth.url_with("user", "wrong")
    )
    assert isinstance(exc, tether.ProxyError)
    # tinyproxy answers 401 Unauthorized to wrong credentials (407 when there are none).
    assert exc.status in (401, 407)
    assert str(exc).startswith("proxy authentication refused")
    assert "'user'" in str(exc) and "wrong" not in str(exc)


def test_http_proxy_denied_port(http_proxy_restricted: ProxyServer) -> None:
    exc = connect_error(lambda p: f"ws://127.0.0.1:{p}/", proxy=http_proxy_restricted.url)
    assert isinstance(exc, tether.ProxyError)
    assert exc.status == 403
    assert f"the proxy at 127.0.0.1:{http_proxy_restricted.port} refused the tunnel" in str(exc)
    assert "HTTP 403" in str(exc)


def test_http_proxy_target_down(http_proxy: ProxyServer) -> None:
    """The proxy is up but the WebSocket server is not: the proxy's error status."""
    port = free_port()
    exc = run(_error(f"ws://127.0.0.1:{port}/", proxy=http_proxy.url))
    assert isinstance(exc, tether.ProxyError)
    assert exc.status is not None and exc.status >= 500


async def _error(url: str, **kwargs: Any) -> BaseException:
    kwargs.setdefault("open_timeout", 10)
    with pytest.raises(Exception) as info:
        async with tether.connect(url, **kwargs):
            pass
    return info.value


# --------------------------------------------------------------------------- https:// proxy


def test_open_tunnel_https_proxy(https_proxy: ProxyServer, tls_certs: CertBundle) -> None:
    """TLS to the proxy (stunnel), then CONNECT inside it: the transport is the TLS one."""

    async def main() -> Any:
        async with tether.serve(echo, "127.0.0.1", 0) as server:
            proxy = parse_proxy(https_proxy.url)
            assert proxy.tls

            transport, leftover = await open_tunnel(
                proxy, "127.0.0.1", server.port, ssl_to_proxy=tls_certs.client_context()
            )
            assert leftover == b""
            assert transport.get_extra_info("ssl_object") is not None
            transport.abort()
            await asyncio.sleep(0)
            return server.port

    run(main())


@pytest.mark.parametrize("secure", [False, True])
def test_connect_through_https_proxy(
    https_proxy: ProxyServer, tls_certs: CertBundle, secure: bool
) -> None:
    """proxy_ssl= is the context for TLS to the proxy; ssl= the one for the server."""
    scheme = "wss" if secure else "ws"
    answer, _ = run(
        through(
            lambda p: f"{scheme}://127.0.0.1:{p}/",
            tls_certs.server_context() if secure else None,
            proxy=https_proxy.url,
            proxy_ssl=tls_certs.client_context(),
            ssl=tls_certs.client_context() if secure else None,
        )
    )
    assert answer == "through the proxy"


def test_https_proxy_default_context_uses_system_cas(
    https_proxy: ProxyServer, tls_certs: CertBundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without proxy_ssl=, TLS to the proxy uses the default CAs (here: SSL_CERT_FILE)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_certs.ca_file))
    answer, _ = run(through(lambda p: f"ws://127.0.0.1:{p}/", proxy=https_proxy.url))
    assert answer == "through the proxy"


def test_https_proxy_untrusted(https_proxy: ProxyServer) -> None:
    """The proxy's own certificate is checked (the default CAs don't know the test CA)."""
    exc = connect_error(lambda p: f"ws://127.0.0.1:{p}/", proxy=https_proxy.url)
    assert isinstance(exc, tether.ProxyError)
    assert str(exc).startswith(f"TLS to the proxy at 127.0.0.1:{https_proxy.port} failed")
    assert "is not trusted" in str(exc)
    assert isinstance(exc.__cause__, ssl.SSLCertVerificationError)


def test_https_scheme_for_plain_proxy(socks5_proxy: ProxyServer) -> None:
    """https:// for a proxy that does not speak TLS: the TLS handshake fails, said so."""
    exc = connect_error(
        lambda p: f"ws://127.0.0.1:{p}/", proxy=f"https://127.0.0.1:{socks5_proxy.port}"
    )
    assert isinstance(exc, tether.ProxyError)
    assert str(exc).startswith(f"TLS to the proxy at 127.0.0.1:{socks5_proxy.port} failed")


# --------------------------------------------------------------------------- SOCKS5


@pytest.mark.parametrize("scheme", ["socks5", "socks5h"])
@pytest.mark.parametrize("secure", [False, True])
def test_socks5_auth(
    socks5_proxy_auth: ProxyServer, tls_certs: CertBundle, scheme: str, secure: bool
) -> None:
    ws = "wss" if secure else "ws"
    answer, _ = run(
        through(
            lambda p: f"{ws}://localhost:{p}/",
            tls_certs.server_context() if secure else None,
            host="localhost",
            proxy=socks5_proxy_auth.url_with("user", "pass", scheme=scheme),
            ssl=tls_certs.client_context() if secure else None,
        )
    )
    assert answer == "through the proxy"


def test_socks5_no_auth(socks5_proxy: ProxyServer) -> None:
    answer, _ = run(through(lambda p: f"ws://127.0.0.1:{p}/", proxy=socks5_proxy.url))
    assert answer == "through the proxy"


def test_socks5_wrong_password(socks5_proxy_auth: ProxyServer) -> None:
    exc = connect_error(
        lambda p: f"ws://127.0.0.1:{p}/", proxy=socks5_proxy_auth.url_with("user", "nope")
    )
    assert isinstance(exc, tether.ProxyError)
    assert str(exc).startswith("SOCKS5 proxy authentication refused")
    assert "nope" not in str(exc)


def test_socks5_missing_credentials(socks5_proxy_auth: ProxyServer) -> None:
    exc = connect_error(lambda p: f"ws://127.0.0.1:{p}/", proxy=socks5_proxy_auth.url)
    assert isinstance(exc, tether.ProxyError)
    assert str(exc).startswith("SOCKS5 proxy authentication required")


def test_socks5_target_down(socks5_proxy: ProxyServer) -> None:
    port = free_port()
    exc = run(_error(f"ws://127.0.0.1:{port}/", proxy=socks5_proxy.url))
    assert isinstance(exc, tether.ProxyError)
    assert f"SOCKS5 proxy could not connect to 127.0.0.1:{port}" in str(exc)


def test_socks5_local_resolution_failure() -> None:
    """socks5:// resolves the name itself, before contacting the proxy."""

    async def main() -> BaseException:
        with pytest.raises(tether.ProxyError) as info:
            await open_tunnel(Proxy("socks5", "127.0.0.1", free_port()), "nonexistent.invalid", 80)
        return info.value

    exc = run(main())
    assert "could not resolve 'nonexistent.invalid'" in str(exc)


def test_http_scheme_for_socks_proxy(socks5_proxy: ProxyServer) -> None:
    """http:// pointing at a SOCKS5 proxy: it hangs up on the CONNECT request."""
    exc = connect_error(
        lambda p: f"ws://127.0.0.1:{p}/", proxy=f"http://127.0.0.1:{socks5_proxy.port}"
    )
    assert isinstance(exc, tether.ProxyError)
    assert "answered like a SOCKS5 proxy: use socks5:// or socks5h://" in str(exc)


@pytest.mark.parametrize("scheme", ["socks5h", "https"])
def test_wrong_scheme_for_http_proxy_times_out(http_proxy: ProxyServer, scheme: str) -> None:
    """tinyproxy waits for a request line that never comes: open_timeout ends it."""
    exc = run(
        _error(
            "ws://127.0.0.1:9/", proxy=f"{scheme}://127.0.0.1:{http_proxy.port}", open_timeout=0.5
        )
    )
    assert isinstance(exc, TimeoutError)


# --------------------------------------------------------------------------- failures


@pytest.mark.parametrize("scheme", ["http", "https", "socks5", "socks5h"])
def test_proxy_down(scheme: str) -> None:
    port = free_port()
    exc = run(_error("ws://127.0.0.1:9/", proxy=f"{scheme}://127.0.0.1:{port}"))
    assert isinstance(exc, tether.ProxyError)
    assert str(exc) == (
        f"could not reach the proxy at 127.0.0.1:{port} ({scheme}://127.0.0.1:{port}): "
        "Connection refused"
    )
    assert isinstance(exc.__cause__, ConnectionRefusedError)


def test_proxy_host_does_not_resolve() -> None:
    exc = run(_error("ws://127.0.0.1:9/", proxy="http://nonexistent.invalid:3128"))
    assert isinstance(exc, tether.ProxyError)
    assert "could not reach the proxy at nonexistent.invalid:3128" in str(exc)
    assert "cannot resolve the proxy's host name" in str(exc)


async def _fake_proxy(reply: bytes | None) -> asyncio.Server:
    """A TCP server that reads the request, then sends ``reply`` and closes (or hangs)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.read(1000)
            if reply is None:
                await asyncio.sleep(30)
            else:
                writer.write(reply)
                await writer.drain()
        finally:
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


def test_proxy_hangs_open_timeout() -> None:
    async def main() -> BaseException:
        server = await _fake_proxy(None)
        async with server:
            port = server.sockets[0].getsockname()[1]
            with pytest.raises(TimeoutError) as info:
                async with tether.connect(
                    "ws://127.0.0.1:9/", proxy=f"http://127.0.0.1:{port}", open_timeout=0.5
                ):
                    pass
            return info.value

    run(main())


def test_proxy_closes_before_answering() -> None:
    async def main() -> BaseException:
        server = await _fake_proxy(b"")
        async with server:
            port = server.sockets[0].getsockname()[1]
            return await _error("ws://127.0.0.1:9/", proxy=f"http://127.0.0.1:{port}")

    exc = run(main())
    assert isinstance(exc, tether.ProxyError)
    assert "closed the connection before answering CONNECT" in str(exc)


def test_proxy_answers_garbage() -> None:
    async def main() -> BaseException:
        server = await _fake_proxy(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
        async with server:
            port = server.sockets[0].getsockname()[1]
            return await _error("ws://127.0.0.1:9/", proxy=f"http://127.0.0.1:{port}")

    exc = run(main())
    assert isinstance(exc, tether.ProxyError)
    assert "did not answer CONNECT with valid HTTP" in str(exc)


def test_bad_proxy_url() -> None:
    exc = run(_error("ws://127.0.0.1:9/", proxy="ftp://proxy"))
    assert isinstance(exc, ValueError)
    assert "invalid proxy URL" in str(exc)


# --------------------------------------------------------------------------- environment


def test_env_http_proxy_used(monkeypatch: pytest.MonkeyPatch, http_proxy: ProxyServer) -> None:
    monkeypatch.setenv("http_proxy", http_proxy.url)
    answer, port = run(through(lambda p: f"ws://127.0.0.1:{p}/"))
    assert answer == "through the proxy"
    assert_tunnelled(http_proxy, port)


def test_env_https_proxy_for_wss(
    monkeypatch: pytest.MonkeyPatch, http_proxy_auth: ProxyServer, tls_certs: CertBundle
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", http_proxy_auth.auth_url)
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")  # for ws:// only: not used
    answer, port = run(
        through(
            lambda p: f"wss://127.0.0.1:{p}/",
            tls_certs.server_context(),
            ssl=tls_certs.client_context(),
        )
    )
    assert answer == "through the proxy"
    assert_tunnelled(http_proxy_auth, port)


def test_env_all_proxy_socks(
    monkeypatch: pytest.MonkeyPatch, socks5_proxy_auth: ProxyServer
) -> None:
    monkeypatch.setenv("all_proxy", socks5_proxy_auth.auth_url)
    answer, _ = run(through(lambda p: f"ws://127.0.0.1:{p}/"))
    assert answer == "through the proxy"
    # Proof that the proxy was used: the same without the password fails.
    monkeypatch.setenv("all_proxy", socks5_proxy_auth.url)
    exc = connect_error(lambda p: f"ws://127.0.0.1:{p}/")
    assert isinstance(exc, tether.ProxyError)


def test_env_proxy_is_used_proof(
    monkeypatch: pytest.MonkeyPatch, http_proxy_auth: ProxyServer
) -> None:
    monkeypatch.setenv("ws_proxy", http_proxy_auth.url)  # no credentials: 407
    exc = connect_error(lambda p: f"ws://127.0.0.1:{p}/")
    assert isinstance(exc, tether.ProxyError) and exc.status == 407


@pytest.mark.parametrize("no_proxy", ["127.0.0.1", "127.0.0.0/8", "*", "example.com, 127.0.0.1"])
def test_env_no_proxy_bypasses(
    monkeypatch: pytest.MonkeyPatch, http_proxy_auth: ProxyServer, no_proxy: str
) -> None:
    monkeypatch.setenv("http_proxy", http_proxy_auth.url)  # would answer 407
    monkeypatch.setenv("NO_PROXY", no_proxy)
    answer, _ = run(through(lambda p: f"ws://127.0.0.1:{p}/"))
    assert answer == "through the proxy"


def test_env_no_proxy_port_entry(
    monkeypatch: pytest.MonkeyPatch, http_proxy_auth: ProxyServer
) -> None:
    monkeypatch.setenv("http_proxy", http_proxy_auth.url)
    monkeypatch.setenv("no_proxy", "127.0.0.1:1")  # another port: the proxy is used
    exc = connect_error(lambda p: f"ws://127.0.0.1:{p}/")
    assert isinstance(exc, tether.ProxyError) and exc.status == 407


def test_proxy_none_ignores_environment(
    monkeypatch: pytest.MonkeyPatch, http_proxy_auth: ProxyServer
) -> None:
    monkeypatch.setenv("http_proxy", http_proxy_auth.url)
    for value in (None, False):
        answer, _ = run(through(lambda p: f"ws://127.0.0.1:{p}/", proxy=value))
        assert answer == "through the proxy"


# --------------------------------------------------------------------------- low level


def test_open_tunnel_raw_bytes(http_proxy: ProxyServer, socks5_proxy: ProxyServer) -> None:
    """open_tunnel gives a paused transport; create_connection_via_proxy wires a protocol."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.readexactly(5))
        await writer.drain()
        writer.close()

    class Collect(asyncio.Protocol):
        def __init__(self) -> None:
            self.data = b""
            self.done = asyncio.get_running_loop().create_future()

        def data_received(self, data: bytes) -> None:
            self.data += data

        def connection_lost(self, exc: Exception | None) -> None:
            self.done.set_result(self.data)

    async def main() -> list[bytes]:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        results = []
        async with server:
            port = server.sockets[0].getsockname()[1]
            for url in (http_proxy.url, socks5_proxy.url, "socks5://" + socks5_proxy.url[10:]):
                transport, protocol = await create_connection_via_proxy(
                    Collect, parse_proxy(url), "127.0.0.1", port
                )
                assert isinstance(protocol, Collect)
                transport.write(b"hello")
                results.append(await protocol.done)
        return results

    assert run(main()) == [b"hello"] * 3


def test_open_tunnel_socket_is_tcp(http_proxy: ProxyServer) -> None:
    async def main() -> None:
        async with tether.serve(echo, "127.0.0.1", 0) as server:
            transport, _ = await open_tunnel(parse_proxy(http_proxy.url), "127.0.0.1", server.port)
            sock = transport.get_extra_info("socket")
            assert sock.family == socket.AF_INET
            assert sock.getpeername()[1] == http_proxy.port
            transport.close()

    run(main())
