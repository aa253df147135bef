"""Behind a real nginx and a real haproxy (Debian packages, started here on free loopback
ports with their own config files): WebSocket upgrade through them, and the client's
real address from X-Forwarded-For and from the PROXY protocol v1 and v2.

The client connects from 127.0.0.2 and the proxies reach tether from 127.0.0.1 (the
only trusted proxy), so a test can tell the client's address from the proxy's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import tether
from tether.serving import Metrics, ServingOptions, TrustedProxies, serve_app

from .helpers import GUARD, free_port, require_binary, run, wait_port

CLIENT_IP = "127.0.0.2"


async def whoami(ws: Any) -> None:
    async for message in ws:
        if message == "whoami":
            await ws.send(json.dumps({"remote": list(ws.remote_address),
                                      "peer": list(ws.peer_address)}))
        else:
            await ws.send(message)


@contextlib.contextmanager
def running(argv: list[str], port: int, what: str) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        try:
            wait_port(port, timeout=GUARD)
        except OSError:
            proc.kill()
            out = proc.communicate()[0].decode(errors="replace")
            pytest.fail(f"{what} did not start: {out}")
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(GUARD)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def nginx_config(tmp: Path, port: int, backend: int) -> Path:
    for d in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp / d).mkdir(exist_ok=True)
    conf = tmp / "nginx.conf"
    conf.write_text(f"""
daemon off;
master_process off;
worker_processes 1;
user root root;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://127.0.0.1:{backend};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_read_timeout 3600s;
        }}
    }}
}}
""")
    return conf


def haproxy_config(tmp: Path, http_port: int, v1_port: int, v2_port: int,
                   backend: int, pp_backend: int) -> Path:
    conf = tmp / "haproxy.cfg"
    conf.write_text(f"""
global
    log stderr format raw local0 warning
defaults
    log global
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout tunnel 1h
frontend http_in
    mode http
    bind 127.0.0.1:{http_port}
    option forwardfor
    default_backend tether_http
backend tether_http
    mode http
    server s1 127.0.0.1:{backend}
frontend v1_in
    mode tcp
    bind 127.0.0.1:{v1_port}
    default_backend tether_v1
backend tether_v1
    mode tcp
    server s1 127.0.0.1:{pp_backend} send-proxy
frontend v2_in
    mode tcp
    bind 127.0.0.1:{v2_port}
    default_backend tether_v2
backend tether_v2
    mode tcp
    server s1 127.0.0.1:{pp_backend} send-proxy-v2
""")
    return conf


async def ask(port: int, path: str = "/") -> dict[str, Any]:
    """Connect from CLIENT_IP through a proxy on ``port``; echo, then ask who we are."""
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.bind((CLIENT_IP, 0))
    sock.setblocking(False)
    await loop.sock_connect(sock, ("127.0.0.1", port))
    async with tether.connect(f"ws://127.0.0.1:{port}{path}", sock=sock) as ws:
        big = "x" * 200_000
        await ws.send(big)
        assert await ws.recv() == big
        await ws.send(b"\x00\xff" * 10)
        assert await ws.recv() == b"\x00\xff" * 10
        await ws.send("whoami")
        answer: dict[str, Any] = json.loads(await ws.recv())
        answer["local_port"] = sock.getsockname()[1]
        return answer


def test_behind_nginx(tmp_path: Path) -> None:
    nginx = require_binary("nginx", "/usr/sbin/nginx")
    port = free_port()

    async def main() -> None:
        metrics = Metrics()
        app = await serve_app(whoami, ServingOptions(
            port=0, trusted_proxies=TrustedProxies.parse("127.0.0.1")), metrics=metrics)
        conf = nginx_config(tmp_path, port, app.port)
        with running([nginx, "-c", str(conf), "-p", str(tmp_path)], port, "nginx"):
            answer = await ask(port)
            assert answer["remote"][0] == CLIENT_IP  # from X-Forwarded-For
            assert answer["peer"][0] == "127.0.0.1"  # nginx itself
            # Several at once through the proxy.
            answers = await asyncio.gather(*(ask(port) for _ in range(5)))
            assert all(a["remote"][0] == CLIENT_IP for a in answers)
        await app.drain(5)
        # Not trusted: the header is ignored, the proxy's address is the client's.
        app2 = await serve_app(whoami, ServingOptions(port=0))
        conf = nginx_config(tmp_path, port, app2.port)
        with running([nginx, "-c", str(conf), "-p", str(tmp_path)], port, "nginx"):
            answer = await ask(port)
            assert answer["remote"][0] == "127.0.0.1"
        await app2.drain(5)

    run(main())


def test_behind_haproxy_http_and_proxy_protocol(tmp_path: Path) -> None:
    haproxy = require_binary("haproxy", "/usr/sbin/haproxy")
    http_port, v1_port, v2_port = free_port(), free_port(), free_port()

    async def main() -> None:
        trusted = TrustedProxies.parse("127.0.0.1")
        app = await serve_app(whoami, ServingOptions(port=0, trusted_proxies=trusted))
        pp_metrics = Metrics()
        pp_app = await serve_app(whoami, ServingOptions(port=0, trusted_proxies=trusted,
                                                        proxy_protocol=True),
                                 metrics=pp_metrics)
        conf = haproxy_config(tmp_path, http_port, v1_port, v2_port, app.port, pp_app.port)
        with running([haproxy, "-f", str(conf), "-db"], v2_port, "haproxy"):
            for port in (v1_port, v2_port):
                answer = await ask(port)
                # The PROXY header carries the client's address and port.
                assert answer["remote"] == [CLIENT_IP, answer["local_port"]]
                assert answer["peer"][0] == "127.0.0.1"
            answer = await ask(http_port)
            assert answer["remote"][0] == CLIENT_IP  # from X-Forwarded-For
            assert answer["peer"][0] == "127.0.0.1"
        # haproxy's own health checks are not configured; no header was ever refused.
        assert pp_metrics.proxy_protocol_errors == 0
        await app.drain(5)
        await pp_app.drain(5)

    run(main())
