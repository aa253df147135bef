"""The asyncio client's conveniences: redirects, HTTP authentication, Unix sockets.

Redirects and challenges come from a tiny raw asyncio HTTP server (it answers each
request from a table, and records what it got) and from real tether servers with a
``process_request`` hook; authentication is checked by tether's own ``tether.auth``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import ssl
import tempfile
from collections.abc import AsyncIterator, Iterator

import pytest

import tether
from tests.support.certs import CertBundle, tls_certs  # noqa: F401 - fixture
from tether import InvalidRedirect, InvalidStatus
from tether.asyncio import ServerConnection
from tether.auth import basic_auth, bearer_auth
from tether.core.handshake import reject
from tether.core.http11 import Headers, Request, Response, parse_request

from .conftest import HOST, run


class RawHTTP:
    """Answers every request with ``answer(path)``: (status, headers); records requests."""

    def __init__(self, answers: dict[str, tuple[int, list[tuple[str, str]]]]) -> None:
        self.answers = answers
        self.requests: list[Request] = []
        self.port = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            parsed = parse_request(head)
            assert parsed is not None
            request = parsed[0]
            self.requests.append(request)
            status, headers = self.answers.get(request.target, self.answers.get("*", (404, [])))
            lines = [f"HTTP/1.1 {status} Whatever"]
            lines += [f"{k}: {v}" for k, v in headers]
            lines += ["Content-Length: 0", "Connection: close", "", ""]
            writer.write("\r\n".join(lines).encode())
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    @contextlib.asynccontextmanager
    async def running(self, ssl_ctx: ssl.SSLContext | None = None) -> AsyncIterator[RawHTTP]:
        server = await asyncio.start_server(self._serve, HOST, 0, ssl=ssl_ctx)
        self.port = server.sockets[0].getsockname()[1]
        async with server:
            yield self


class Recorder:
    """A tether handler that records each connection's request, then echoes."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.users: list[str | None] = []

    async def __call__(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        self.requests.append(ws.request)
        self.users.append(getattr(ws, "username", None))
        async for message in ws:
            await ws.send(message)


def redirecting(table: dict[str, tuple[int, str]]) -> object:
    """A ``process_request`` hook that redirects the paths in ``table``."""

    def hook(conn: ServerConnection, request: Request) -> Response | None:
        if request.target in table:
            status, location = table[request.target]
            return reject(status, "moved", headers={"Location": location})
        return None

    return hook


async def echo_once(ws: tether.ClientConnection) -> None:
    await ws.send("ping?")
    assert await ws.recv() == "ping?"


# ------------------------------------------------------------------ redirects


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_follows_each_redirect_status_to_another_server(status: int) -> None:
    async def main() -> None:
        handler = Recorder()
        async with tether.serve(handler, HOST, 0) as server:
            port = server.port
            raw = RawHTTP({"/old": (status, [("Location", f"http://{HOST}:{port}/new?x=1")])})
            async with raw.running(), tether.connect(f"ws://{HOST}:{raw.port}/old",
                                                     ping_interval=None) as ws:
                await echo_once(ws)
        assert [r.target for r in raw.requests] == ["/old"]
        assert [r.target for r in handler.requests] == ["/new?x=1"]
        assert handler.requests[0].headers["Host"] == f"{HOST}:{port}"

    run(main)


def test_a_relative_location_keeps_the_origin_and_its_credentials() -> None:
    async def main() -> None:
        handler = Recorder()
        hook = redirecting({"/a/start": (302, "next"), "/a/next": (307, "/final")})
        async with tether.serve(handler, HOST, 0, process_request=hook) as server:
            url = f"ws://alice:s3cret@{HOST}:{server.port}/a/start"
            async with tether.connect(url, ping_interval=None,
                                      additional_headers={"X-Keep": "yes"}) as ws:
                await echo_once(ws)
        (request,) = handler.requests
        assert request.target == "/final"
        expected = "Basic " + base64.b64encode(b"alice:s3cret").decode()
        assert request.headers["Authorization"] == expected
        assert request.headers["X-Keep"] == "yes"

    run(main)


def test_credentials_are_dropped_when_the_origin_changes() -> None:
    async def main() -> None:
        handler = Recorder()
        async with tether.serve(handler, HOST, 0) as server:
            # "localhost" and HOST are different origins, even on the same port.
            raw = RawHTTP({"*": (302, [("Location", f"ws://localhost:{server.port}/elsewhere")])})
            async with raw.running():
                for kwargs in ({"auth": ("alice", "s3cret")},
                               {"additional_headers": {"Authorization": "Bearer t0k3n",
                                                       "Cookie": "sid=1", "X-Keep": "yes"}}):
                    async with tether.connect(f"ws://bob:pw@{HOST}:{raw.port}/", proxy=None,
                                              ping_interval=None, **kwargs) as ws:
                        await echo_once(ws)
        assert all("Authorization" in r.headers for r in raw.requests)
        assert len(handler.requests) == 2
        for request in handler.requests:
            assert "Authorization" not in request.headers
            assert "Cookie" not in request.headers
        assert handler.requests[1].headers["X-Keep"] == "yes"

    run(main)


def test_too_many_redirects() -> None:
    async def main() -> None:
        raw = RawHTTP({"*": (302, [("Location", "/again")])})
        async with raw.running():
            with pytest.raises(InvalidRedirect, match="too many redirects") as info:
                await tether.connect(f"ws://{HOST}:{raw.port}/", max_redirects=3)
            assert isinstance(info.value, tether.InvalidHandshake)
            assert len(raw.requests) == 4  # the first request and three redirects
            raw.requests.clear()
            with pytest.raises(InvalidStatus) as status:
                await tether.connect(f"ws://{HOST}:{raw.port}/", max_redirects=0)
            assert status.value.status == 302 and status.value.location == "/again"
            assert len(raw.requests) == 1

    run(main)


def test_a_redirect_without_location_or_to_another_scheme_is_refused() -> None:
    async def main() -> None:
        raw = RawHTTP({"/none": (301, []), "/ftp": (301, [("Location", "ftp://h/x")])})
        async with raw.running():
            with pytest.raises(InvalidRedirect, match="without a Location"):
                await tether.connect(f"ws://{HOST}:{raw.port}/none")
            with pytest.raises(InvalidRedirect, match="not a ws, wss, http or https"):
                await tether.connect(f"ws://{HOST}:{raw.port}/ftp")

    run(main)


def test_a_wss_to_ws_downgrade_is_refused(tls_certs: CertBundle) -> None:  # noqa: F811
    async def main() -> None:
        raw = RawHTTP({"*": (301, [("Location", f"ws://{HOST}:1/plain")])})
        async with raw.running(tls_certs.server_context()):
            with pytest.raises(InvalidRedirect, match="downgrade"):
                await tether.connect(f"wss://{HOST}:{raw.port}/",
                                     ssl=tls_certs.client_context())
            assert len(raw.requests) == 1  # the TLS request was made, the redirect refused

    run(main)


def test_a_ws_to_wss_upgrade_is_followed(tls_certs: CertBundle) -> None:  # noqa: F811
    async def main() -> None:
        handler = Recorder()
        async with tether.serve(handler, HOST, 0, ssl=tls_certs.server_context()) as server:
            raw = RawHTTP({"*": (308, [("Location", f"https://{HOST}:{server.port}/tls")])})
            async with raw.running():
                # ssl= is for wss:// URIs only, so the default context is used after the
                # upgrade, and it doesn't trust the test CA: the error proves TLS was used.
                with pytest.raises(ssl.SSLCertVerificationError):
                    await tether.connect(f"ws://{HOST}:{raw.port}/", proxy=None)
        assert handler.requests == []
        assert len(raw.requests) == 1

    run(main)


# ------------------------------------------------------------------ authentication


def test_basic_auth_challenge_then_credentials() -> None:
    async def main() -> None:
        handler = Recorder()
        hook = basic_auth({"alice": "s3cret"}, realm="chat")
        async with tether.serve(handler, HOST, 0, process_request=hook) as server:
            url = f"ws://{HOST}:{server.port}/"
            with pytest.raises(InvalidStatus) as info:
                await tether.connect(url)
            assert info.value.status == 401
            assert info.value.challenge is not None
            assert info.value.challenge.startswith("Basic ")
            assert info.value.realm == "chat"
            with pytest.raises(InvalidStatus):
                await tether.connect(url, auth=("alice", "wrong"))
            async with tether.connect(url, auth=("alice", "s3cret"), ping_interval=None) as ws:
                await echo_once(ws)
            async with tether.connect(f"ws://alice:s3cret@{HOST}:{server.port}/",
                                      ping_interval=None) as ws:
                await echo_once(ws)
            # auth= wins over the URI's credentials.
            async with tether.connect(f"ws://eve:nope@{HOST}:{server.port}/",
                                      auth=("alice", "s3cret"), ping_interval=None) as ws:
                await echo_once(ws)
        assert handler.users == ["alice", "alice", "alice"]

    run(main)


def test_a_bearer_token_goes_in_additional_headers() -> None:
    async def main() -> None:
        handler = Recorder()
        hook = bearer_auth({"t0k3n": "service-a"})
        async with tether.serve(handler, HOST, 0, process_request=hook) as server:
            url = f"ws://{HOST}:{server.port}/"
            with pytest.raises(InvalidStatus) as info:
                await tether.connect(url, additional_headers={"Authorization": "Bearer bad"})
            assert info.value.status == 401 and (info.value.challenge or "").startswith("Bearer")
            async with tether.connect(url, ping_interval=None,
                                      additional_headers=Headers(
                                          [("Authorization", "Bearer t0k3n")])) as ws:
                await echo_once(ws)
        assert handler.users == ["service-a"]

    run(main)


# ------------------------------------------------------------------ Unix sockets


@pytest.fixture
def sock_path() -> Iterator[str]:
    # A short path: AF_UNIX paths are limited to about 100 bytes.
    with tempfile.TemporaryDirectory(prefix="tt") as directory:
        yield os.path.join(directory, "ws.sock")


def test_unix_serve_and_unix_connect(sock_path: str) -> None:
    async def main() -> None:
        handler = Recorder()
        remotes: list[object] = []

        async def who(ws: ServerConnection) -> None:
            remotes.append(ws.remote_address)
            await handler(ws)

        async with (tether.unix_serve(who, sock_path, max_connections_per_ip=1),
                    tether.unix_connect(sock_path, ping_interval=None) as ws):
            await echo_once(ws)
            # a second one at once: Unix peers have no IP, the per-IP limit can't count
            async with tether.connect("ws://example.com/chat?room=1", unix_socket=sock_path,
                                      ping_interval=None) as ws2:
                await echo_once(ws2)
        assert [r.target for r in handler.requests] == ["/", "/chat?room=1"]
        assert handler.requests[1].headers["Host"] == "example.com"
        assert all(not r for r in remotes)  # "" or None, and nothing crashed on it

    run(main)


def test_serve_unix_socket_option_and_reconnection_over_it(sock_path: str) -> None:
    async def main() -> None:
        async def closer(ws: ServerConnection) -> None:
            message = await ws.recv()
            await ws.close(int(message), "bye")

        async with tether.serve(closer, unix_socket=sock_path):
            count = 0
            async for ws in tether.connect("ws://localhost/", unix_socket=sock_path,
                                           backoff_initial=0.01, backoff_max=0.05,
                                           ping_interval=None):
                count += 1
                await ws.send("1012" if count == 1 else "1000")
                with contextlib.suppress(tether.ConnectionClosed):
                    await ws.recv()
        assert count == 2

    run(main)


def test_sock_and_unix_socket_are_exclusive(sock_path: str) -> None:
    with pytest.raises(tether.UsageError):
        tether.connect("ws://localhost/", unix_socket=sock_path, sock=object())
