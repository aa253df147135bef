"""Real proxy servers for the tests, from Debian packages, on free 127.0.0.1 ports.

Fixtures (session scope; register with ``pytest_plugins = ["tests.support.proxies"]``):

- ``http_proxy``: tinyproxy, no authentication, CONNECT to any port.
- ``http_proxy_auth``: tinyproxy with ``BasicAuth user pass``.
- ``http_proxy_restricted``: tinyproxy allowing CONNECT to port 1 only (others: 403).
- ``https_proxy``: stunnel (TLS, test certificate) in front of ``http_proxy``.
- ``socks5_proxy``: microsocks, no authentication.
- ``socks5_proxy_auth``: microsocks with ``-u user -P pass``.

A missing binary FAILS the test with a pointer to scripts/install-system-deps.sh.
"""

from __future__ import annotations

import dataclasses
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from .certs import CertBundle

__all__ = [
    "PROXY_PASSWORD",
    "PROXY_USER",
    "ProxyServer",
    "free_port",
    "http_proxy",
    "http_proxy_auth",
    "http_proxy_restricted",
    "https_proxy",
    "socks5_proxy",
    "socks5_proxy_auth",
    "start_proxy",
]

PROXY_USER = "user"
PROXY_PASSWORD = "pass"
INSTALL_HINT = "run scripts/install-system-deps.sh (needs root and apt)"


@dataclasses.dataclass
class ProxyServer:
    """A running proxy process."""

    name: str
    scheme: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    host: str = "127.0.0.1"
    username: str | None = None
    password: str | None = None

    @property
    def url(self) -> str:
        """The proxy URL without credentials."""
        return f"{self.scheme}://{self.host}:{self.port}"

    def url_with(self, username: str, password: str, scheme: str | None = None) -> str:
        """The proxy URL with the given credentials (not percent-encoded)."""
        return f"{scheme or self.scheme}://{username}:{password}@{self.host}:{self.port}"

    @property
    def auth_url(self) -> str:
        """The URL with the right credentials."""
        assert self.username is not None and self.password is not None
        return self.url_with(self.username, self.password)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _binary(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if path is None:
        pytest.fail(f"{name} is not installed: {INSTALL_HINT}", pytrace=False)
    return path


def start_proxy(
    name: str,
    scheme: str,
    argv: Sequence[str],
    port: int,
    directory: Path,
    username: str | None = None,
    password: str | None = None,
    timeout: float = 10.0,
) -> ProxyServer:
    """Start ``argv`` and wait until it listens on 127.0.0.1:``port``."""
    log = directory / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=directory,
            start_new_session=True,
        )
    server = ProxyServer(name, scheme, port, process, log, username=username, password=password)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            pytest.fail(
                f"{name} exited with {process.returncode} at start:\n{server.log_text()}",
                pytrace=False,
            )
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return server
        except OSError:
            if time.monotonic() > deadline:
                stop_proxy(server)
                pytest.fail(
                    f"{name} did not listen on port {port} within {timeout}s:\n{server.log_text()}",
                    pytrace=False,
                )
            time.sleep(0.05)


def stop_proxy(server: ProxyServer) -> None:
    """Stop the process (SIGTERM, then SIGKILL) and reap it."""
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(5)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(5)


def _tinyproxy(
    name: str, directory: Path, extra: Sequence[str], username: str | None = None
) -> Iterator[ProxyServer]:
    binary = _binary("tinyproxy")
    port = free_port()
    config = directory / f"{name}.conf"
    lines = [
        f"Port {port}",
        "Listen 127.0.0.1",
        "Timeout 30",
        "MaxClients 100",
        "LogLevel Info",
        "DisableViaHeader Yes",
        "Allow 127.0.0.1",
        *extra,
    ]
    config.write_text("\n".join(lines) + "\n")
    server = start_proxy(
        name,
        "http",
        [binary, "-d", "-c", str(config)],
        port,
        directory,
        username,
        PROXY_PASSWORD if username else None,
    )
    try:
        yield server
    finally:
        stop_proxy(server)


@pytest.fixture(scope="session")
def http_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyServer]:
    """tinyproxy without authentication."""
    yield from _tinyproxy("tinyproxy", tmp_path_factory.mktemp("tinyproxy"), [])


@pytest.fixture(scope="session")
def http_proxy_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyServer]:
    """tinyproxy that wants ``Proxy-Authorization: Basic`` for user/pass."""
    yield from _tinyproxy(
        "tinyproxy-auth",
        tmp_path_factory.mktemp("tinyproxy-auth"),
        [f"BasicAuth {PROXY_USER} {PROXY_PASSWORD}"],
        username=PROXY_USER,
    )


@pytest.fixture(scope="session")
def http_proxy_restricted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyServer]:
    """tinyproxy that allows CONNECT to port 1 only: any real target gets 403."""
    yield from _tinyproxy(
        "tinyproxy-restricted", tmp_path_factory.mktemp("tinyproxy-restricted"), ["ConnectPort 1"]
    )


@pytest.fixture(scope="session")
def https_proxy(
    http_proxy: ProxyServer, tls_certs: CertBundle, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ProxyServer]:
    """An https:// proxy: stunnel terminates TLS (test CA) in front of tinyproxy."""
    binary = _binary("stunnel4")
    directory = tmp_path_factory.mktemp("stunnel")
    port = free_port()
    config = directory / "stunnel.conf"
    config.write_text(
        "\n".join(
            [
                "foreground = yes",
                "pid =",
                "debug = 4",
                "[https-proxy]",
                f"accept = 127.0.0.1:{port}",
                f"connect = 127.0.0.1:{http_proxy.port}",
                f"cert = {tls_certs.server.cert}",
                f"key = {tls_certs.server.key}",
            ]
        )
        + "\n"
    )
    server = start_proxy("stunnel", "https", [binary, str(config)], port, directory)
    try:
        yield server
    finally:
        stop_proxy(server)


def _microsocks(name: str, directory: Path, auth: bool) -> Iterator[ProxyServer]:
    binary = _binary("microsocks")
    port = free_port()
    argv = [binary, "-i", "127.0.0.1", "-p", str(port)]
    if auth:
        argv += ["-u", PROXY_USER, "-P", PROXY_PASSWORD]
    server = start_proxy(
        name,
        "socks5h",
        argv,
        port,
        directory,
        PROXY_USER if auth else None,
        PROXY_PASSWORD if auth else None,
    )
    try:
        yield server
    finally:
        stop_proxy(server)


@pytest.fixture(scope="session")
def socks5_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyServer]:
    """microsocks without authentication."""
    yield from _microsocks("microsocks", tmp_path_factory.mktemp("microsocks"), auth=False)


@pytest.fixture(scope="session")
def socks5_proxy_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyServer]:
    """microsocks with username/password authentication (RFC 1929)."""
    yield from _microsocks("microsocks-auth", tmp_path_factory.mktemp("microsocks-auth"), auth=True)
