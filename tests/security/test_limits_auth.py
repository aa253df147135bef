"""Resource limits (connections, per-IP, memory per connection) and origin / auth checks."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Iterator

import pytest

import tether
from tether.auth import basic_auth, bearer_auth, callable_auth, check_password, hash_password

from ..asyncio.conftest import read_response_head, read_to_eof, run, upgrade_request
from .conftest import HOST, ServerProcess, server_process, watched


async def status_of(port: int, extra: str = "", path: str = "/") -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        data, _ = upgrade_request(path, extra=extra)
        writer.write(data)
        status, _ = await read_response_head(reader)
        body = b"" if status == 101 else await read_to_eof(reader)
        return status, body
    finally:
        writer.close()


# ------------------------------------------------------------------ connection limits

def test_max_connections_answers_503_before_the_upgrade() -> None:
    with server_process(max_connections=6) as server:  # 1 of them is the good client
        async def main() -> None:
            async with watched(server, "limits:max_connections"):
                held = [await tether.connect(f"ws://{HOST}:{server.port}/", proxy=None)
                        for _ in range(5)]
                status, body = await status_of(server.port)
                assert status == 503 and b"Too many connections" in body
                await held[0].close()
                await asyncio.sleep(0.05)  # the server sees the close
                ok = await tether.connect(f"ws://{HOST}:{server.port}/", proxy=None)
                await ok.send("back")
                assert await ok.recv() == "back"
                for ws in [ok, *held[1:]]:
                    await ws.close()

        run(main)


def test_max_connections_counts_pending_handshakes() -> None:
    """Slowloris against the limit: silent sockets count until the handshake deadline."""
    with server_process(max_connections=20, open_timeout=1) as server:
        async def main() -> None:
            async with watched(server, "limits:max_connections_silent"):
                silent = [await asyncio.open_connection(HOST, server.port) for _ in range(19)]
                await asyncio.sleep(0.1)
                assert (await status_of(server.port))[0] == 503
                t0 = time.perf_counter()
                await asyncio.gather(*(read_to_eof(r) for r, _ in silent))  # deadline
                print(f"silent sockets dropped after {time.perf_counter() - t0:.2f}s")
                assert (await status_of(server.port))[0] == 101
                for _, w in silent:
                    w.close()

        run(main)


def test_per_ip_limit() -> None:
    with server_process(max_connections_per_ip=4) as server:
        async def main() -> None:
            async with watched(server, "limits:per_ip"):  # the good client is one
                held = [await tether.connect(f"ws://{HOST}:{server.port}/", proxy=None)
                        for _ in range(3)]
                status, body = await status_of(server.port)
                assert status == 503 and b"your address" in body
                for ws in held:
                    await ws.close()

        run(main)


def test_memory_per_idle_connection_is_reported_and_bounded() -> None:
    with server_process() as server:
        async def main() -> None:
            async with watched(server, "limits:idle_connections", budget=64 << 20) as w:
                base = server.rss()
                conns = [await tether.connect(f"ws://{HOST}:{server.port}/", proxy=None)
                         for _ in range(300)]
                await asyncio.sleep(0.1)
                per = (server.rss() - base) / len(conns)
                print(f"server memory per idle connection: {per / 1024:.1f} KiB")
                assert per < 200 * 1024
                await asyncio.gather(*(c.close() for c in conns))
            assert w.rss_growth >= 0

        run(main)


# ------------------------------------------------------------------ origins

ORIGIN = "https://app.example"


@pytest.fixture(scope="module")
def origin_server() -> Iterator[ServerProcess]:
    # None in the list lets non-browser clients (no Origin header) in: the good client.
    with server_process(origins=[ORIGIN, None]) as server:
        yield server


@pytest.mark.parametrize(("origin", "status"), [
    (ORIGIN, 101),
    ("https://app.example.evil.com", 403),  # suffix attack on a substring check
    ("https://evil.com/https://app.example", 403),
    ("https://evilapp.example", 403),
    ("http://app.example", 403),  # scheme differs
    ("https://app.example:8443", 403),  # port differs
    ("null", 403),  # sandboxed iframe, file://
    ("HTTPS://APP.EXAMPLE", 403),  # origins are serialized lower-case by browsers
])
def test_origin_is_matched_whole(origin_server: ServerProcess, origin: str, status: int) -> None:
    async def main() -> None:
        async with watched(origin_server, f"origin:{origin}"):
            assert (await status_of(origin_server.port, f"Origin: {origin}\r\n"))[0] == status

    run(main)


def test_two_origin_headers_are_refused(origin_server: ServerProcess) -> None:
    async def main() -> None:
        async with watched(origin_server, "origin:duplicate"):
            extra = f"Origin: {ORIGIN}\r\nOrigin: https://evil.com\r\n"
            assert (await status_of(origin_server.port, extra))[0] == 403

    run(main)


# ------------------------------------------------------------------ auth

def basic(user: str, password: str) -> str:
    return "Authorization: Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture(scope="module")
def auth_server() -> Iterator[ServerProcess]:
    users = {"alice": hash_password("wonderland", iterations=50_000), "bob": "plain-pw"}
    with server_process(basic_users=users) as server:
        yield server


@pytest.mark.parametrize(("header", "status"), [
    (basic("alice", "wonderland"), 101),
    (basic("bob", "plain-pw"), 101),
    (basic("alice", "wrong"), 401),
    (basic("mallory", "wonderland"), 401),  # unknown user: same answer as a wrong password
    ("Authorization: Basic !!!notbase64", 401),
    ("Authorization: Bearer wonderland", 401),
    ("", 401),
])
def test_basic_auth(header: str, status: int) -> None:
    users = {"alice": hash_password("wonderland", iterations=50_000), "bob": "plain-pw"}

    async def main() -> None:
        async with tether.serve(_echo, HOST, 0, process_request=basic_auth(users)) as server:
            extra = header + "\r\n" if header else ""
            got, body = await status_of(server.port, extra)
            assert got == status
            if status == 401:
                assert body.endswith(b"Unauthorized\n")

    run(main)


def test_unknown_user_and_wrong_password_cost_the_same(auth_server: ServerProcess) -> None:
    """No user-existence oracle: both answers are identical; the times are printed.

    An unknown user is checked against a dummy hash of the same PBKDF2 cost.
    """
    async def timed(header: str) -> tuple[float, int, bytes]:
        t0 = time.perf_counter()
        status, body = await status_of(auth_server.port, header + "\r\n")
        return time.perf_counter() - t0, status, body

    async def main() -> None:
        good = dict([basic("bob", "plain-pw").split(": ", 1)])
        async with watched(auth_server, "auth:oracle", good_headers=good):
            wrong = [await timed(basic("alice", "nope")) for _ in range(10)]
            unknown = [await timed(basic("nobody", "nope")) for _ in range(10)]
            assert {(s, b) for _, s, b in wrong} == {(s, b) for _, s, b in unknown}
            w = sorted(t for t, _, _ in wrong)[5]
            u = sorted(t for t, _, _ in unknown)[5]
            print(f"median 401 time: wrong password {w * 1000:.2f} ms, "
                  f"unknown user {u * 1000:.2f} ms")

    run(main)


def test_check_password_hashed_and_plain() -> None:
    users = {"a": hash_password("pw", iterations=1000), "b": "pw"}
    assert check_password(users, "a", "pw") and check_password(users, "b", "pw")
    assert not check_password(users, "a", "pW") and not check_password(users, "zz", "pw")
    assert not check_password({}, "a", "pw")


@pytest.mark.parametrize(("header", "path", "status"), [
    ("Authorization: Bearer t0ken-1", "/", 101),
    ("Authorization: Bearer t0ken-2", "/", 401),
    ("", "/?access_token=t0ken-1", 101),
    ("", "/?access_token=t0ken-1&access_token=x", 401),
    ("", "/", 401),
])
def test_bearer_auth(header: str, path: str, status: int) -> None:
    seen: list[object] = []

    async def handler(ws: tether.ServerConnection) -> None:
        seen.append(getattr(ws, "username", None))

    async def main() -> None:
        hook = bearer_auth({"t0ken-1": "service-a"}, query_param="access_token")
        async with tether.serve(handler, HOST, 0, process_request=hook) as server:
            got, _ = await status_of(server.port, header + "\r\n" if header else "", path)
            assert got == status
            if status == 101:
                await asyncio.sleep(0.05)
                assert seen == ["service-a"]

    run(main)


def test_callable_auth_async_and_custom_answer() -> None:
    async def check(conn: tether.ServerConnection, request: tether.Request) -> object:
        await asyncio.sleep(0)
        key = request.headers.get("X-Key")
        if key == "banned":
            return tether.basic_http_response(403, "banned\n")
        return "k-user" if key == "good" else None

    async def main() -> None:
        async with tether.serve(_echo, HOST, 0, process_request=callable_auth(check)) as s:
            assert (await status_of(s.port, "X-Key: good\r\n"))[0] == 101
            assert (await status_of(s.port, "X-Key: bad\r\n"))[0] == 401
            assert (await status_of(s.port, "X-Key: banned\r\n"))[0] == 403

    run(main)


async def _echo(ws: tether.ServerConnection) -> None:
    async for m in ws:
        await ws.send(m)
