"""``tether serve --mode broadcast`` and ``--static DIR``, with real clients."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.cli_support import tether, tether_serve
from tether.asyncio import connect


def http(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send a raw HTTP request (the path exactly as given); status, headers, body."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body


def get(port: int, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    return http(port, f"{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())


# ---------------------------------------------------------------- broadcast


def test_broadcast_reaches_every_client_echo_only_the_sender() -> None:
    async def three_clients(port: int) -> list[list[str | bytes]]:
        url = f"ws://127.0.0.1:{port}/"
        clients = [await connect(url) for _ in range(3)]
        try:
            # All three are subscribed once each has had its own message back.
            for i, ws in enumerate(clients):
                await ws.send(f"hello from {i}")
            got: list[list[str | bytes]] = [[] for _ in clients]
            for i, ws in enumerate(clients):
                while len(got[i]) < 3:
                    got[i].append(await asyncio.wait_for(ws.recv(), 10))
            await clients[1].send(b"\x01binary")
            for i, ws in enumerate(clients):
                got[i].append(await asyncio.wait_for(ws.recv(), 10))
            return got
        finally:
            for ws in clients:
                await ws.close()

    with tether_serve("--mode", "broadcast") as (port, startup):
        assert "tether broadcast server on" in startup[-1]
        got = asyncio.run(three_clients(port))
    for messages in got:
        # Every client got every client's message (the order between senders may vary).
        assert sorted(messages[:3], key=str) == ["hello from 0", "hello from 1", "hello from 2"]
        assert messages[3] == b"\x01binary"

    async def echo_only(port: int) -> list[str | bytes]:
        url = f"ws://127.0.0.1:{port}/"
        async with connect(url) as a, connect(url) as b:
            await a.send("just me")
            assert await asyncio.wait_for(a.recv(), 10) == "just me"
            await b.send("me too")
            return [await asyncio.wait_for(b.recv(), 10)]

    with tether_serve() as (port, startup):
        assert "tether echo server on" in startup[-1]
        assert asyncio.run(echo_only(port)) == ["me too"]  # b did not get a's message


def test_broadcast_with_the_connect_command() -> None:
    with tether_serve("--mode", "broadcast") as (port, _):
        result = tether("connect", "-x", "all of you", f"ws://127.0.0.1:{port}/")
        assert result.returncode == 0, result.stderr
        assert result.stdout == "< all of you\n"


# ---------------------------------------------------------------- static files


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    (root / "sub").mkdir(parents=True)
    (root / "index.html").write_text("<h1>home</h1>\n")
    (root / "app.js").write_text("console.log(1)\n")
    (root / "style.css").write_text("body {}\n")
    (root / "data.json").write_text('{"a": 1}\n')
    (root / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    (root / "notes.unknownext").write_bytes(b"\x00\x01")
    (root / "sub" / "index.html").write_text("<p>sub</p>\n")
    (root / "empty").mkdir()
    (tmp_path / "secret.txt").write_text("outside the root\n")
    (root / "link-out").symlink_to(tmp_path / "secret.txt")
    return root


@pytest.fixture
def static_port(site: Path) -> Iterator[int]:
    with tether_serve("--static", str(site)) as (port, startup):
        assert f"files from {site}" in startup[-1]
        yield port


@pytest.mark.parametrize(("path", "ctype", "body"), [
    ("/", "text/html; charset=utf-8", b"<h1>home</h1>\n"),
    ("/index.html", "text/html; charset=utf-8", b"<h1>home</h1>\n"),
    ("/app.js", "javascript; charset=utf-8", b"console.log(1)\n"),
    ("/style.css", "text/css; charset=utf-8", b"body {}\n"),
    ("/data.json", "application/json; charset=utf-8", b'{"a": 1}\n'),
    ("/logo.png", "image/png", b"\x89PNG\r\n\x1a\n" + bytes(range(256))),
    ("/notes.unknownext", "application/octet-stream", b"\x00\x01"),
    ("/sub/", "text/html; charset=utf-8", b"<p>sub</p>\n"),
    ("/style.css?v=2", "text/css; charset=utf-8", b"body {}\n"),
    ("/%73tyle.css", "text/css; charset=utf-8", b"body {}\n"),
])
def test_files_with_their_content_types(static_port: int, path: str, ctype: str,
                                        body: bytes) -> None:
    status, headers, got = get(static_port, path)
    assert status == 200
    assert headers["content-type"].endswith(ctype)
    assert got == body
    assert headers["content-length"] == str(len(body))


def test_head_gives_the_headers_without_the_body(static_port: int) -> None:
    status, headers, body = get(static_port, "/app.js", "HEAD")
    assert status == 200
    assert headers["content-length"] == str(len(b"console.log(1)\n"))
    assert "javascript" in headers["content-type"]
    assert body == b""


@pytest.mark.parametrize(("path", "expected"), [
    ("/missing.html", 404),
    ("/sub/missing", 404),
    ("/empty/", 404),  # a directory without index.html
    ("/../etc/passwd", 403),
    ("/%2e%2e/%2e%2e/etc/passwd", 403),
    ("/%2E%2E/secret.txt", 403),
    ("/sub/../../secret.txt", 403),
    ("/sub/%2e%2e%2f%2e%2e%2fsecret.txt", 403),
    ("/..%5csecret.txt", 403),
    ("/link-out", 403),  # a symbolic link out of the root
    ("/%00index.html", 403),
])
def test_nothing_outside_the_root(static_port: int, path: str, expected: int) -> None:
    status, _, body = get(static_port, path)
    assert status == expected, (path, status, body)
    assert b"outside the root" not in body and b"root:" not in body


def test_directory_without_slash_redirects(static_port: int) -> None:
    status, headers, _ = get(static_port, "/sub")
    assert status == 301
    assert headers["location"] == "/sub/"


def test_other_methods_are_refused(static_port: int) -> None:
    status, headers, _ = http(
        static_port, b"POST /index.html HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
    assert status == 405
    assert headers["allow"] == "GET, HEAD"


def test_websocket_health_and_metrics_beside_the_files(static_port: int) -> None:
    result = tether("connect", "-x", "still echoing", f"ws://127.0.0.1:{static_port}/")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "< still echoing\n"
    assert get(static_port, "/healthz")[2] == b"ok\n"
    status, _, metrics = get(static_port, "/metrics")
    assert status == 200 and b"tether" in metrics


def test_static_directory_must_exist(tmp_path: Path) -> None:
    result = tether("serve", "--port", "0", "--static", str(tmp_path / "nope"))
    assert result.returncode == 2
    assert "not a directory" in result.stderr


def test_broadcast_and_static_together_on_tls(site: Path, tls_certs: object) -> None:
    from tests.support.certs import CertBundle

    assert isinstance(tls_certs, CertBundle)
    with tether_serve("--mode", "broadcast", "--static", str(site),
                      "--certfile", str(tls_certs.server.cert),
                      "--keyfile", str(tls_certs.server.key)) as (port, startup):
        assert f"wss://127.0.0.1:{port}/" in startup[-1]
        assert f"https://127.0.0.1:{port}/" in startup[-1]
        result = tether("connect", "--cafile", str(tls_certs.ca_file), "-x", "secure",
                        f"wss://localhost:{port}/")
        assert result.returncode == 0, result.stderr
        assert result.stdout == "< secure\n"


def test_static_and_broadcast_with_workers(site: Path) -> None:
    with tether_serve("--workers", "2", "--mode", "broadcast", "--static", str(site)) as (
            port, startup):
        assert "(worker " in startup[-1]
        for _ in range(6):  # whichever worker takes the connection serves the files
            status, _, body = get(port, "/sub/")
            assert (status, body) == (200, b"<p>sub</p>\n")
        result = tether("connect", "-x", "one worker", f"ws://127.0.0.1:{port}/")
        assert result.returncode == 0, result.stderr
        assert result.stdout == "< one worker\n"
