"""wss:// with the asyncio engine: certificates, host names, SNI, clear errors, interop."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
import websockets.asyncio.client
import websockets.asyncio.server

import tether
from tests.support.certs import CertBundle
from tether.tls import (
    clarify_tls_error,
    client_ssl_context,
    describe_tls_error,
    server_ssl_context,
)

pytestmark = pytest.mark.timeout(30)


#: The event loop kind of the running test (see the ``loop_factory`` fixture).
_LOOP_FACTORY: list[Any] = [None]


@pytest.fixture(autouse=True)
def _each_loop(loop_factory: Any) -> Iterator[None]:
    """Run every test here on asyncio's loop and on uvloop's (tests/asyncio/conftest.py)."""
    _LOOP_FACTORY[0] = loop_factory
    yield
    _LOOP_FACTORY[0] = None


def run(coro: Awaitable[Any], timeout: float = 15) -> Any:
    """Run ``coro`` on a fresh event loop of the test's kind, with a deadline."""

    async def main() -> Any:
        async with asyncio.timeout(timeout):
            return await coro

    with asyncio.Runner(loop_factory=_LOOP_FACTORY[0]) as runner:
        return runner.run(main())


async def echo(ws: tether.ServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


async def echo_once(url: str, **kwargs: Any) -> Any:
    """Connect, send one message, return the echo."""
    async with tether.connect(url, proxy=None, open_timeout=5, **kwargs) as ws:
        await ws.send("hello over TLS")
        return await ws.recv()


Handler = Callable[[tether.ServerConnection], Awaitable[None]]


async def with_server(
    ctx: ssl.SSLContext | None, body: Callable[[int], Awaitable[Any]], handler: Handler = echo
) -> Any:
    async with tether.serve(handler, "127.0.0.1", 0, ssl=ctx) as server:
        return await body(server.port)


# --------------------------------------------------------------------------- contexts


def test_client_context_defaults() -> None:
    ctx = client_ssl_context()
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    assert ctx.check_hostname
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2


def test_client_context_insecure_warns() -> None:
    with pytest.warns(UserWarning, match="certificate verification is disabled"):
        ctx = client_ssl_context(insecure=True)
    assert ctx.verify_mode == ssl.CERT_NONE
    assert not ctx.check_hostname


def test_server_context(tls_certs: CertBundle) -> None:
    ctx = server_ssl_context(tls_certs.server.cert, tls_certs.server.key)
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    with pytest.raises(FileNotFoundError):
        server_ssl_context(tls_certs.directory / "missing.pem")


def test_server_context_encrypted_key(tls_certs: CertBundle, tmp_path: Any) -> None:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(tls_certs.server.key.read_bytes(), None)
    encrypted = tmp_path / "encrypted.key"
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"s3cret"),
        )
    )
    server_ssl_context(tls_certs.server.cert, encrypted, password="s3cret")
    with pytest.raises(ssl.SSLError):
        server_ssl_context(tls_certs.server.cert, encrypted, password="wrong")


# --------------------------------------------------------------------------- wss works


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_wss_echo(tls_certs: CertBundle, host: str) -> None:
    async def body(port: int) -> Any:
        return await echo_once(f"wss://{host}:{port}/", ssl=tls_certs.client_context())

    assert run(with_server(tls_certs.server_context(), body)) == "hello over TLS"


def test_wss_binary_and_large_message(tls_certs: CertBundle) -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB, many TLS records

    async def body(port: int) -> Any:
        url = f"wss://localhost:{port}/"
        async with tether.connect(url, ssl=tls_certs.client_context(), proxy=None) as ws:
            await ws.send(payload)
            return await ws.recv()

    assert run(with_server(tls_certs.server_context(), body)) == payload


def test_server_hostname_override(tls_certs: CertBundle) -> None:
    """server_hostname= checks the certificate against another name than the URL's."""

    async def body(port: int) -> Any:
        return await echo_once(
            f"wss://127.0.0.1:{port}/",
            ssl=tls_certs.client_context(),
            server_hostname="wrong.example",
        )

    assert run(with_server(tls_certs.server_context("wrong_name"), body)) == "hello over TLS"


def test_sni_seen_by_server(tls_certs: CertBundle) -> None:
    """The client sends the URL's host name as SNI (RFC 6066), but not an IP address."""
    seen: list[str | None] = []
    ctx = tls_certs.server_context()

    def remember(sock: ssl.SSLObject | ssl.SSLSocket, name: str | None, c: Any) -> None:
        seen.append(name)

    ctx.sni_callback = remember

    async def body(port: int) -> None:
        await echo_once(f"wss://localhost:{port}/", ssl=tls_certs.client_context())
        await echo_once(f"wss://127.0.0.1:{port}/", ssl=tls_certs.client_context())

    run(with_server(ctx, body))
    # RFC 6066 section 3: "Literal IPv4 and IPv6 addresses are not permitted in HostName."
    assert seen == ["localhost", None]


def test_insecure_switch(tls_certs: CertBundle) -> None:
    """insecure=True accepts an untrusted certificate for a wrong name."""
    with pytest.warns(UserWarning):
        insecure = client_ssl_context(insecure=True)

    async def body(port: int) -> Any:
        return await echo_once(f"wss://localhost:{port}/", ssl=insecure)

    assert run(with_server(tls_certs.server_context("untrusted"), body)) == "hello over TLS"
    assert run(with_server(tls_certs.server_context("wrong_name"), body)) == "hello over TLS"


# --------------------------------------------------------------------------- clear errors


def connect_error(ctx: ssl.SSLContext | None, url: str, **kwargs: Any) -> BaseException:
    """The exception that connecting to a server with ``ctx`` raises."""

    async def body(port: int) -> BaseException:
        with pytest.raises(Exception) as info:
            await echo_once(url.format(port=port), **kwargs)
        return info.value

    exc: BaseException = run(with_server(ctx, body))
    return exc


def test_untrusted_certificate(tls_certs: CertBundle) -> None:
    exc = connect_error(
        tls_certs.server_context("untrusted"),
        "wss://localhost:{port}/",
        ssl=tls_certs.client_context(),
    )
    assert isinstance(exc, ssl.SSLCertVerificationError)
    assert str(exc).startswith("TLS certificate of the server 'localhost' is not trusted")
    assert "client_ssl_context(ca_file=...)" in str(exc)
    assert exc.verify_code == 20
    assert isinstance(exc.__cause__, ssl.SSLCertVerificationError)


def test_default_context_does_not_trust_test_ca(tls_certs: CertBundle) -> None:
    exc = connect_error(tls_certs.server_context(), "wss://localhost:{port}/")
    assert isinstance(exc, ssl.SSLCertVerificationError)
    assert "is not trusted" in str(exc)


def test_wrong_hostname(tls_certs: CertBundle) -> None:
    exc = connect_error(
        tls_certs.server_context("wrong_name"),
        "wss://localhost:{port}/",
        ssl=tls_certs.client_context(),
    )
    assert isinstance(exc, ssl.SSLCertVerificationError)
    assert str(exc).startswith("TLS certificate of the server 'localhost' is for another host")
    assert "not valid for 'localhost'" in str(exc)


def test_wrong_ip_address(tls_certs: CertBundle) -> None:
    exc = connect_error(
        tls_certs.server_context("wrong_name"),
        "wss://127.0.0.1:{port}/",
        ssl=tls_certs.client_context(),
    )
    assert isinstance(exc, ssl.SSLCertVerificationError)
    assert "is for another host name" in str(exc)


def test_expired_certificate(tls_certs: CertBundle) -> None:
    exc = connect_error(
        tls_certs.server_context("expired"),
        "wss://localhost:{port}/",
        ssl=tls_certs.client_context(),
    )
    assert isinstance(exc, ssl.SSLCertVerificationError)
    assert "has expired" in str(exc)


def test_tls_to_plain_port(tls_certs: CertBundle, caplog: pytest.LogCaptureFixture) -> None:
    """wss:// to a ws:// server: the client says so, and so does the server's log."""
    caplog.set_level(logging.INFO, logger="tether")
    exc = connect_error(None, "wss://localhost:{port}/", ssl=tls_certs.client_context())
    assert isinstance(exc, ssl.SSLError)
    assert str(exc).startswith("TLS spoken to a plain-text port")
    assert "TLS handshake received on a plain-text port" in caplog.text


def test_plain_to_tls_port(tls_certs: CertBundle) -> None:
    """ws:// to a wss:// server: the TLS server hangs up; the client fails the handshake."""
    exc = connect_error(tls_certs.server_context(), "ws://localhost:{port}/")
    assert isinstance(exc, tether.InvalidHandshake)
    assert "closed the connection during the handshake" in str(exc)


def test_describe_tls_error_messages() -> None:
    """describe_tls_error on OpenSSL errors made without a network."""
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    outgoing, incoming = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = server.wrap_bio(incoming, outgoing, server_side=True)
    incoming.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    with pytest.raises(ssl.SSLError) as info:
        obj.do_handshake()
    assert info.value.reason == "HTTP_REQUEST"
    text = describe_tls_error(info.value, server_side=True)
    assert text is not None and text.startswith("plain-text HTTP received on a TLS port")
    # The client's view of a server answering in plain text.
    client = client_ssl_context()
    outgoing, incoming = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = client.wrap_bio(incoming, outgoing, server_hostname="example.com")
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    incoming.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    with pytest.raises(ssl.SSLError) as info:
        obj.do_handshake()
    clear = clarify_tls_error(info.value, "example.com")
    assert type(clear) is type(info.value)
    assert clear.reason == info.value.reason
    assert str(clear).startswith("TLS spoken to a plain-text port: the server 'example.com'")
    # Nothing clearer to say: the same exception back.
    other = ssl.SSLError(1, "something else")
    assert clarify_tls_error(other) is other
    assert describe_tls_error(ValueError("x")) is None


# --------------------------------------------------------------------------- interop


def test_interop_tether_client_websockets_server(tls_certs: CertBundle) -> None:
    async def ws_echo(ws: websockets.asyncio.server.ServerConnection) -> None:
        async for message in ws:
            await ws.send(message)

    async def main() -> Any:
        async with websockets.asyncio.server.serve(
            ws_echo, "127.0.0.1", 0, ssl=tls_certs.server_context()
        ) as server:
            port = server.sockets[0].getsockname()[1]
            return await echo_once(f"wss://localhost:{port}/", ssl=tls_certs.client_context())

    assert run(main()) == "hello over TLS"


def test_interop_websockets_client_tether_server(tls_certs: CertBundle) -> None:
    async def body(port: int) -> Any:
        async with websockets.asyncio.client.connect(
            f"wss://localhost:{port}/", ssl=tls_certs.client_context(), proxy=None
        ) as ws:
            await ws.send(b"binary over TLS")
            return await ws.recv()

    assert run(with_server(tls_certs.server_context(), body)) == b"binary over TLS"
