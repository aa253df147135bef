"""tether.serving in-process: health, readiness, metrics, token, limits, PROXY, logs."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from typing import Any

import pytest

import tether
from tether.core import proxy_protocol
from tether.serving import Metrics, ServingOptions, TrustedProxies, serve_app
from tether.serving.logs import JsonFormatter

from .helpers import GUARD, http_get, metric, run, until


async def echo(ws: Any) -> None:
    async for message in ws:
        if message == "whoami":
            await ws.send(json.dumps(list(ws.remote_address)))
        else:
            await ws.send(message)


def opts(**kwargs: Any) -> ServingOptions:
    kwargs.setdefault("port", 0)
    return ServingOptions(**kwargs)


def test_health_ready_and_drain_answers() -> None:
    async def main() -> None:
        app = await serve_app(echo, opts())
        assert (await http_get(app.port, "/healthz"))[0] == 200
        status, _, body = await http_get(app.port, "/readyz")
        assert (status, body) == (200, b"ready\n")
        ws = await tether.connect(f"ws://127.0.0.1:{app.port}/")
        assert await app.drain(5) is True
        with pytest.raises(tether.ConnectionClosedOK) as info:
            await ws.recv()
        assert info.value.rcvd_code == 1001
        assert app.state.ready is False

    run(main())


def test_metrics_count_traffic_and_closes() -> None:
    async def main() -> None:
        metrics = Metrics()
        app = await serve_app(echo, opts(serve_kwargs={"ping_interval": 0.05}),
                              metrics=metrics)
        ws = await tether.connect(f"ws://127.0.0.1:{app.port}/", compression=None)
        for i in range(10):
            await ws.send(f"message {i}")
            assert await ws.recv() == f"message {i}"
        await ws.send(b"\x00" * 1000)
        await ws.recv()
        await until(lambda: metrics.latency_count >= 1, what="a ping answered")
        _, headers, body = await http_get(app.port, "/metrics")
        assert headers["content-type"].startswith("text/plain; version=0.0.4")
        text = body.decode()
        assert metric(text, "tether_connections") == 1
        assert metric(text, "tether_messages_received_total") == 11
        assert metric(text, "tether_messages_sent_total") == 11
        assert metric(text, "tether_bytes_received_total") > 1000 + 10 * 9
        assert metric(text, "tether_bytes_sent_total") > 1000 + 10 * 9
        assert metric(text, "tether_handshakes_total", '{status="101"}') == 1
        assert metric(text, "tether_ping_latency_seconds_count") >= 1
        await ws.close()
        ws2 = await tether.connect(f"ws://127.0.0.1:{app.port}/")
        await ws2.close(4321, "custom")
        await until(lambda: metrics.connections_closed == 2, what="both closes counted")
        text = (await http_get(app.port, "/metrics"))[2].decode()
        assert metric(text, "tether_connections_closed_total", '{code="1000"}') == 1
        assert metric(text, "tether_connections_closed_total", '{code="4321"}') == 1
        assert metric(text, "tether_connections") == 0
        # /healthz and /metrics answers are counted as handshakes answered 200.
        assert metric(text, "tether_handshakes_total", '{status="200"}') == 1
        # Every line is a comment or "name{labels} value".
        for line in text.splitlines():
            assert line.startswith("#") or len(line.rsplit(" ", 1)) == 2
        await app.drain(5)

    run(main())


def test_token_limit_and_origin() -> None:
    async def main() -> None:
        app = await serve_app(echo, opts(token="s3cret", max_connections=1,
                                         origins=["https://ok.example"]))
        uri = f"ws://127.0.0.1:{app.port}/"
        with pytest.raises(tether.InvalidStatus) as info:
            await tether.connect(uri, origin="https://ok.example")
        assert info.value.status == 401
        with pytest.raises(tether.InvalidStatus) as info:
            await tether.connect(uri, origin="https://evil.example",
                                 additional_headers={"Authorization": "Bearer s3cret"})
        assert info.value.status == 403
        ws = await tether.connect(uri + "?token=s3cret", origin="https://ok.example")
        with pytest.raises(tether.InvalidStatus) as info:
            await tether.connect(uri, origin="https://ok.example",
                                 additional_headers={"Authorization": "Bearer s3cret"})
        assert info.value.status == 503
        # Health checks need no token.
        assert (await http_get(app.port, "/healthz"))[0] == 200
        await ws.close()
        await app.drain(5)

    run(main())


async def _whoami_raw(port: int, header: bytes, source: str = "127.0.0.1") -> Any:
    """Open a TCP connection from ``source``, send ``header``, then a WebSocket client."""
    sock = socket.socket()
    sock.bind((source, 0))
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    sock.setblocking(True)
    if header:
        sock.sendall(header)
    ws = await tether.connect(f"ws://127.0.0.1:{port}/", sock=sock)
    await ws.send("whoami")
    answer = json.loads(await ws.recv())
    await ws.close()
    return answer


def test_proxy_protocol_v1_v2_and_trust() -> None:
    async def main() -> None:
        metrics = Metrics()
        app = await serve_app(echo, opts(proxy_protocol=True,
                                         trusted_proxies=TrustedProxies.parse("127.0.0.1")),
                              metrics=metrics)
        v1 = proxy_protocol.build_v1(("198.51.100.7", 40000), ("127.0.0.1", app.port))
        assert await _whoami_raw(app.port, v1) == ["198.51.100.7", 40000]
        v2 = proxy_protocol.build_v2(("2001:db8::9", 41000), ("::1", app.port))
        assert await _whoami_raw(app.port, v2) == ["2001:db8::9", 41000]
        # LOCAL (a health check from the proxy): the socket's address stays.
        local = await _whoami_raw(app.port, proxy_protocol.build_v2(None))
        assert local[0] == "127.0.0.1"
        # From an untrusted peer the header is read but not believed.
        other = await _whoami_raw(app.port, v1.replace(b"127.0.0.1", b"127.0.0.2"),
                                  source="127.0.0.2")
        assert other[0] == "127.0.0.2"
        # No header at all: the connection is refused and counted.
        with pytest.raises((tether.InvalidHandshake, OSError, tether.ConnectionClosed)):
            await asyncio.wait_for(_whoami_raw(app.port, b""), GUARD)
        assert metrics.proxy_protocol_errors == 1
        await app.drain(5)

    run(main())


def test_x_forwarded_for_only_from_trusted() -> None:
    async def main() -> None:
        app = await serve_app(echo, opts(trusted_proxies=TrustedProxies.parse("127.0.0.1")))
        uri = f"ws://127.0.0.1:{app.port}/"
        async with tether.connect(uri, additional_headers={
                "X-Forwarded-For": "6.6.6.6, 203.0.113.5"}) as ws:
            await ws.send("whoami")
            assert json.loads(await ws.recv()) == ["203.0.113.5", 0]
        sock = socket.socket()
        sock.bind(("127.0.0.2", 0))
        sock.connect(("127.0.0.1", app.port))
        async with tether.connect(uri, sock=sock, additional_headers={
                "X-Forwarded-For": "203.0.113.5"}) as ws:
            await ws.send("whoami")
            assert json.loads(await ws.recv())[0] == "127.0.0.2"
        await app.drain(5)

    run(main())


def test_connection_log_lines_in_json(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        app = await serve_app(echo, opts())
        async with tether.connect(f"ws://127.0.0.1:{app.port}/chat?x=1") as ws:
            await ws.send("hi")
            await ws.recv()
        await until(lambda: any(getattr(r, "event", "") == "close" for r in caplog.records))
        await app.drain(5)

    with caplog.at_level(logging.INFO, logger="tether.access"):
        run(main())
    records = [r for r in caplog.records if r.name == "tether.access"]
    lines = [json.loads(JsonFormatter().format(r)) for r in records]
    opened = next(x for x in lines if x["event"] == "open")
    closed = next(x for x in lines if x["event"] == "close")
    assert opened["conn"] == closed["conn"] and len(opened["conn"]) == 32
    assert opened["path"] == "/chat?x=1" and opened["client"].startswith("127.0.0.1:")
    assert closed["code"] == 1000 and closed["messages_in"] == 1
    assert closed["messages_out"] == 1 and closed["level"] == "info"


def test_proxy_protocol_with_tls_is_refused(tls_certs: Any) -> None:
    async def main() -> None:
        with pytest.raises(ValueError, match="terminate TLS at the proxy"):
            await serve_app(echo, opts(proxy_protocol=True,
                                       ssl=tls_certs.server_context()))

    run(main())


def test_environment_configures_the_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    from tether.serving import cli

    monkeypatch.setenv("PORT", "4242")
    monkeypatch.setenv("HOST", "0.0.0.0")
    monkeypatch.setenv("TETHER_GRACE", "1500ms")
    monkeypatch.setenv("TETHER_TRUSTED_PROXIES", "10.0.0.0/8,::1")
    monkeypatch.setenv("TETHER_PROXY_PROTOCOL", "1")
    monkeypatch.setenv("TETHER_LOG_FORMAT", "json")
    monkeypatch.setenv("TETHER_WORKERS", "3")
    p = argparse.ArgumentParser()
    cli.add_arguments(p)
    o = cli.options_from_args(p.parse_args([]))
    assert (o.host, o.port, o.grace, o.proxy_protocol, o.log_format, o.workers) == (
        "0.0.0.0", 4242, 1.5, True, "json", 3)
    assert "10.1.2.3" in o.trusted_proxies and "::1" in o.trusted_proxies
    # Flags win over the environment.
    o = cli.options_from_args(p.parse_args(["--port", "1", "--grace", "2"]))
    assert (o.port, o.grace) == (1, 2.0)
