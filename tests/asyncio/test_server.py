"""The asyncio server: handshake hooks, HTTP answers, origins, subprotocols, shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import pytest

import tether
from tether import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidStatus,
    Request,
    Response,
    State,
    basic_http_response,
)
from tether.asyncio import ServerConnection

from .conftest import (
    HOST,
    client_frame,
    http_exchange,
    raw_client,
    read_frame,
    read_until_close,
    run,
    upgrade_request,
    wait_for,
)


async def echo(ws: ServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


def uri(server: tether.Server, path: str = "/") -> str:
    return f"ws://{HOST}:{server.port}{path}"


# ------------------------------------------------------------------ process_request


def health_or_token(ws: ServerConnection, request: Request) -> Response | None:
    if request.target == "/health":
        return basic_http_response(200, "OK\n")
    if request.target == "/page":
        return basic_http_response(200, "<h1>hi</h1>", "text/html; charset=utf-8",
                                   {"X-Page": "1"})
    if request.headers.get("Authorization") != "Bearer secret":
        return basic_http_response(403, "Forbidden\n")
    return None


def test_process_request_serves_plain_http_on_the_same_port() -> None:
    async def main() -> None:
        async with tether.serve(echo, HOST, 0, process_request=health_or_token) as server:
            status, headers, body = await http_exchange(
                server.port, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            assert (status, body) == (200, b"OK\n")
            assert headers["Content-Length"] == "3"
            assert headers["Connection"] == "close"
            status, headers, body = await http_exchange(
                server.port, b"GET /page HTTP/1.1\r\nHost: x\r\n\r\n")
            assert (status, body) == (200, b"<h1>hi</h1>")
            assert headers["Content-Type"] == "text/html; charset=utf-8"
            assert headers["X-Page"] == "1"
            # WebSocket on the same port, once authorized.
            async with tether.connect(uri(server), additional_headers={
                    "Authorization": "Bearer secret"}) as ws:
                await ws.send("x")
                assert await ws.recv() == "x"
            assert server.handshakes[200] == 2
            assert server.handshakes[101] == 1

    run(main)


def test_process_request_rejects_with_403() -> None:
    async def main() -> None:
        async with tether.serve(echo, HOST, 0, process_request=health_or_token) as server:
            with pytest.raises(InvalidStatus) as info:
                await tether.connect(uri(server))
            assert info.value.status == 403
            assert info.value.body == b"Forbidden\n"
            assert not server.connections
            assert server.handshakes[403] == 1

    run(main)


def test_async_process_request() -> None:
    async def check(ws: ServerConnection, request: Request) -> Response | None:
        await asyncio.sleep(0)
        if request.target != "/ok":
            return basic_http_response(404, "Not Found\n")
        return None

    async def main() -> None:
        async with tether.serve(echo, HOST, 0, process_request=check) as server:
            with pytest.raises(InvalidStatus) as info:
                await tether.connect(uri(server, "/nope"))
            assert info.value.status == 404
            async with tether.connect(uri(server, "/ok")) as ws:
                await ws.send("hi")
                assert await ws.recv() == "hi"

    run(main)


def test_process_request_crash_is_500(caplog: pytest.LogCaptureFixture) -> None:
    def crash(ws: ServerConnection, request: Request) -> Response | None:
        raise RuntimeError("bug in hook")

    async def main() -> None:
        async with tether.serve(echo, HOST, 0, process_request=crash) as server:
            with pytest.raises(InvalidStatus) as info:
                await tether.connect(uri(server))
            assert info.value.status == 500
            # The next connection is served as usual (and answered 500 again).
            with pytest.raises(InvalidStatus):
                await tether.connect(uri(server))

    with caplog.at_level(logging.ERROR, "tether"):
        run(main)
    assert any("hook" in r.getMessage() or r.exc_info for r in caplog.records)


def test_process_response_can_add_headers_or_refuse() -> None:
    def hook(ws: ServerConnection, request: Request, response: Response) -> Response | None:
        if request.target == "/refuse":
            return basic_http_response(401, "no\n")
        response.headers.set("X-Extra", "1")
        return None

    async def main() -> None:
        async with tether.serve(echo, HOST, 0, process_response=hook,
                                additional_headers={"X-Server-Extra": "2"}) as server:
            async with tether.connect(uri(server)) as ws:
                assert ws.response_headers["X-Extra"] == "1"
                assert ws.response_headers["X-Server-Extra"] == "2"
            with pytest.raises(InvalidStatus) as info:
                await tether.connect(uri(server, "/refuse"))
            assert info.value.status == 401

    run(main)


def test_server_header() -> None:
    async def main() -> None:
        async with (
            tether.serve(echo, HOST, 0, server_header="custom/2") as server,
            tether.connect(uri(server)) as ws,
        ):
            assert ws.response_headers["Server"] == "custom/2"
        async with tether.serve(echo, HOST, 0) as server, tether.connect(uri(server)) as ws:
            assert ws.response_headers["Server"].startswith("tether/")

    run(main)


# ------------------------------------------------------------------ handshake errors on the wire


def test_plain_http_without_hook_gets_426() -> None:
    async def main() -> None:
        async with tether.serve(echo, HOST, 0) as server:
            status, headers, body = await http_exchange(
                server.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert status == 426
            assert headers["Upgrade"] == "websocket"
            assert b"Upgrade" in body

    run(main)


def test_wrong_version_gets_426_with_supported_version() -> None:
    async def main() -> None:
        async with tether.serve(echo, HOST, 0) as server:
            data, _ = upgrade_request()
            data = data.replace(b"Sec-WebSocket-Version: 13", b"Sec-WebSocket-Version: 8")
            status, headers, _ = await http_exchange(server.port, data)
            assert status == 426
            assert headers["Sec-WebSocket-Version"] == "13"

    run(main)


@pytest.mark.parametrize(
    "mutate,status",
    [
        (lambda d: d.replace(b"GET ", b"POST "), 405),
        (lambda d: d.replace(b"HTTP/1.1", b"HTTP/1.0"), 400),
        (lambda d: d.replace(b"Host: localhost\r\n", b""), 400),
        (lambda d: d.replace(b"Host: localhost\r\n", b"Host: a\r\nHost: b\r\n"), 400),
        (lambda d: d.replace(b"Sec-WebSocket-Key: ", b"Sec-WebSocket-Key: AAAA"), 400),
        (lambda d: d.replace(b"\r\n\r\n",
                             b"\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"), 400),
        (lambda d: d.replace(b"Connection: Upgrade", b"Connection: keep-alive"), 426),
        (lambda d: d.replace(b"Host: localhost", b"Host : localhost"), 400),
        (lambda d: d.replace(b"HTTP/1.1", b"HTTP/2.0"), 505),
    ],
    ids=["post", "http10", "no-host", "two-hosts", "bad-key", "two-keys", "keep-alive",
         "space-before-colon", "http2"],
)
def test_bad_upgrade_requests_get_an_http_error(mutate: Any, status: int) -> None:
    async def main() -> None:
        async with tether.serve(echo, HOST, 0) as server:
            data, _ = upgrade_request()
            got, headers, body = await http_exchange(server.port, mutate(data))
            assert got == status
            assert headers["Connection"] == "close"
            assert int(headers["Content-Length"]) == len(body)
            assert not server.connections

    run(main)


def test_connection_keep_alive_upgrade_is_accepted() -> None:
    async def main() -> None:
        async with tether.serve(echo, HOST, 0) as server:
            data, _ = upgrade_request()
            data = data.replace(b"Connection: Upgrade", b"Connection: keep-alive, Upgrade")
            reader, writer = await asyncio.open_connection(HOST, server.port)
            writer.write(data)
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 101 ")
            writer.close()

    run(main)


def test_tls_bytes_on_plain_port_get_400() -> None:
    client_hello = bytes.fromhex("160301020001") + bytes(40)

    async def main() -> None:
        async with tether.serve(echo, HOST, 0) as server:
            status, _, body = await http_exchange(server.port, client_hello)
            assert status == 400
            assert b"TLS" in body

    run(main)


def test_frames_sent_right_after_the_request_are_read() -> None:
    async def main() -> None:
        async with tether.serve(echo, HOST, 0) as server:
            reader, writer = await asyncio.open_connection(HOST, server.port)
            data, _ = upgrade_request()
            writer.write(data + client_frame(0x1, b"pipelined"))
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 101")
            assert await read_frame(reader) == (0x81, b"pipelined")
            writer.close()

    run(main)


# ------------------------------------------------------------------ origins


def test_origins_allow_list() -> None:
    async def main() -> None:
        async with tether.serve(echo, HOST, 0, origins=["https://example.com"]) as server:
            async with tether.connect(uri(server), origin="https://example.com") as ws:
                await ws.send("ok")
                assert await ws.recv() == "ok"
            for bad in ["https://example.com.evil.com", "https://evil.com", "http://example.com"]:
                with pytest.raises(InvalidStatus) as info:
                    await tether.connect(uri(server), origin=bad)
                assert info.value.status == 403
            with pytest.raises(InvalidStatus) as info:
                await tether.connect(uri(server))  # no Origin at all
            assert info.value.status == 403
            # And on the wire.
            data, _ = upgrade_request(extra="Origin: https://example.com.evil.com\r\n")
            status, _, _ = await http_exchange(server.port, data)
            assert status == 403

    run(main)


def test_origins_allow_list_with_none_accepts_non_browsers() -> None:
    async def main() -> None:
        async with (
            tether.serve(echo, HOST, 0, origins=["https://example.com", None]) as server,
            tether.connect(uri(server)) as ws,
        ):
            assert ws.state is State.OPEN

    run(main)


# ------------------------------------------------------------------ subprotocols


def test_subprotocol_negotiation() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send(str(ws.subprotocol))

    async def main() -> None:
        async with tether.serve(handler, HOST, 0, subprotocols=["chat.v2", "chat.v1"]) as server:
            async with tether.connect(uri(server), subprotocols=["chat.v1", "chat.v2"]) as ws:
                assert ws.subprotocol == "chat.v2"  # the server's preference
                assert await ws.recv() == "chat.v2"
            async with tether.connect(uri(server), subprotocols=["chat.v1"]) as ws:
                assert ws.subprotocol == "chat.v1"
            async with tether.connect(uri(server), subprotocols=["other"]) as ws:
                assert ws.subprotocol is None
                assert await ws.recv() == "None"
            async with tether.connect(uri(server)) as ws:
                assert ws.subprotocol is None

    run(main)


def test_select_subprotocol_hook() -> None:
    async def main() -> None:
        def pick(offered: Any) -> str | None:
            return "b" if "b" in offered else None

        async with (
            tether.serve(echo, HOST, 0, select_subprotocol=pick) as server,
            tether.connect(uri(server), subprotocols=["a", "b"]) as ws,
        ):
            assert ws.subprotocol == "b"

    run(main)


# ------------------------------------------------------------------ handlers and shutdown


def test_server_close_closes_clients_with_1001() -> None:
    async def main() -> None:
        server = await tether.serve(echo, HOST, 0)
        address = uri(server)
        clients = [await tether.connect(address) for _ in range(3)]
        await wait_for(lambda: len(server.connections) == 3)
        await server.close()
        for ws in clients:
            with pytest.raises(ConnectionClosedOK) as info:
                await ws.recv()
            assert info.value.code == 1001
            assert info.value.reason == "server shutting down"
        assert not server.connections
        with pytest.raises(OSError):
            await tether.connect(address)  # no longer listening
        await server.close()  # twice is fine
        await server.wait_closed()

    run(main)


def test_handler_exception_closes_with_1011(caplog: pytest.LogCaptureFixture) -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.recv()
        raise ValueError("handler bug")

    async def main() -> None:
        async with tether.serve(handler, HOST, 0) as server:
            async with tether.connect(uri(server)) as ws:
                await ws.send("boom")
                with pytest.raises(ConnectionClosedError) as info:
                    await ws.recv()
                assert info.value.code == 1011
            # The server keeps serving.
            async with tether.connect(uri(server)) as ws:
                assert ws.state is State.OPEN

    with caplog.at_level(logging.ERROR, "tether"):
        run(main)
    assert any(r.exc_info and "handler bug" in str(r.exc_info[1]) for r in caplog.records)


def test_handler_return_closes_with_1000() -> None:
    async def handler(ws: ServerConnection) -> None:
        return

    async def main() -> None:
        async with (
            tether.serve(handler, HOST, 0) as server,
            tether.connect(uri(server)) as ws,
        ):
            with pytest.raises(ConnectionClosedOK) as info:
                await ws.recv()
            assert info.value.code == 1000

    run(main)


def test_server_connections() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.wait_closed()

    async def main() -> None:
        async with tether.serve(handler, HOST, 0) as server:
            assert server.connections == set()
            a = await tether.connect(uri(server))
            b = await tether.connect(uri(server))
            await wait_for(lambda: len(server.connections) == 2)
            assert all(isinstance(c, ServerConnection) for c in server.connections)
            assert {c.remote_address for c in server.connections} == {
                a.local_address, b.local_address}
            await a.close()
            await wait_for(lambda: len(server.connections) == 1)
            (remaining,) = server.connections
            assert remaining.remote_address == b.local_address
            # A TCP connection that hasn't finished its handshake isn't listed.
            _reader, writer = await asyncio.open_connection(HOST, server.port)
            writer.write(b"GET / HTTP/1.1\r\n")
            await wait_for(lambda: len(server._connections) == 2)
            assert len(server.connections) == 1
            writer.close()
            await b.close()

    run(main)


def test_await_serve_and_serve_forever() -> None:
    async def main() -> None:
        server = await tether.serve(echo, HOST, 0)
        task = asyncio.ensure_future(server.serve_forever())
        async with tether.connect(uri(server)) as ws:
            await ws.send("x")
            assert await ws.recv() == "x"
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            with pytest.raises(ConnectionClosed):
                await ws.recv()
        assert server.closing

    run(main)


def test_serve_on_existing_socket() -> None:
    import socket

    async def main() -> None:
        sock = socket.socket()
        sock.bind((HOST, 0))
        sock.listen()
        async with tether.serve(echo, sock=sock) as server:
            assert server.port == sock.getsockname()[1]
            async with tether.connect(uri(server)) as ws:
                await ws.send("x")
                assert await ws.recv() == "x"

    run(main)


def test_serve_argument_errors() -> None:
    with pytest.raises(TypeError):
        tether.serve(None, HOST, 0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        tether.serve(echo, HOST, 0, ssl=True)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        tether.serve(echo, HOST, 0, compression="brotli")


def test_server_close_during_handshake_hook() -> None:
    started = asyncio.Event

    async def main() -> None:
        entered = started()
        release = started()

        async def slow(ws: ServerConnection, request: Request) -> Response | None:
            entered.set()
            await release.wait()
            return None

        server = await tether.serve(echo, HOST, 0, process_request=slow)
        reader, writer = await asyncio.open_connection(HOST, server.port)
        data, _ = upgrade_request()
        writer.write(data)
        await entered.wait()
        closing = asyncio.ensure_future(server.close())
        await asyncio.sleep(0)
        release.set()
        await closing
        rest = await reader.read()
        # Either dropped, or told the server is going away: never upgraded.
        assert not rest.startswith(b"HTTP/1.1 101")
        writer.close()

    run(main)


def test_raw_client_close_handshake() -> None:
    async def main() -> None:
        async with tether.serve(echo, HOST, 0) as server:
            reader, writer = await raw_client(server.port)
            writer.write(client_frame(0x1, b"hi"))
            assert await read_frame(reader) == (0x81, b"hi")
            writer.write(client_frame(0x8, b"\x0f\xa0bye"))
            _frames, code = await read_until_close(reader)
            assert code == 4000
            assert await reader.read() == b""  # the server closes TCP first
            writer.close()

    run(main)


@pytest.mark.parametrize("status,reason", [(200, "OK"), (404, "Not Found"),
                                           (500, "Internal Server Error"),
                                           (503, "Service Unavailable")])
def test_basic_http_response_reasons(status: int, reason: str) -> None:
    response = basic_http_response(status, "body")
    assert (response.status, response.reason) == (status, reason)
    assert basic_http_response(599, "").reason != "OK"  # never "599 OK"
    assert response.body == b"body"
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
