"""The files in deploy/ work: the nginx site config proxies WebSocket over TLS to tether
(run by a real nginx), and the commands of the systemd unit, Procfile and Dockerfile
are valid tether command lines."""

from __future__ import annotations

import asyncio
import json
import re
import shlex
import socket
import ssl
from pathlib import Path
from typing import Any

import tether
from tether.cli.main import build_parser
from tether.serving import ServingOptions, TrustedProxies, serve_app

from .helpers import GUARD, ROOT, free_port, require_binary, run
from .test_reverse_proxies import CLIENT_IP, running, whoami

DEPLOY = ROOT / "deploy"


def site_config(tmp: Path, port: int, backend: int, cert: Path, key: Path) -> Path:
    site = (DEPLOY / "nginx-site.conf").read_text()
    site = re.sub(r"\n\s*listen (\[::\]:)?80;", "", site)
    site = site.replace("listen [::]:443 ssl;", "")
    site = site.replace("listen 443 ssl;", f"listen 127.0.0.1:{port} ssl;")
    site = site.replace("server 127.0.0.1:8765;", f"server 127.0.0.1:{backend};")
    site = re.sub(r"ssl_certificate .*;", f"ssl_certificate {cert};", site)
    site = re.sub(r"ssl_certificate_key .*;", f"ssl_certificate_key {key};", site)
    site = site.replace("return 301 https://$host$request_uri;", "return 404;")
    (tmp / "site.conf").write_text(site)
    for d in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp / d).mkdir(exist_ok=True)
    main = tmp / "nginx.conf"
    main.write_text(f"""
daemon off;
master_process off;
user root root;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log info;
events {{ worker_connections 128; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {tmp}/site.conf;
}}
""")
    return main


async def https_get(port: int, path: str, ctx: ssl.SSLContext) -> int:
    sock = socket.socket()
    sock.bind((CLIENT_IP, 0))
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock, ssl=ctx,
                                                   server_hostname="localhost")
    writer.write(f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
                 .encode())
    data = await asyncio.wait_for(reader.read(), GUARD)
    writer.close()
    return int(data.split(b" ", 2)[1])


def test_nginx_site_config_proxies_websocket_over_tls(tmp_path: Path, tls_certs: Any) -> None:
    nginx = require_binary("nginx", "/usr/sbin/nginx")
    port = free_port()

    async def main() -> None:
        app = await serve_app(whoami, ServingOptions(
            port=0, trusted_proxies=TrustedProxies.parse("127.0.0.1")))
        conf = site_config(tmp_path, port, app.port, tls_certs.server.cert,
                           tls_certs.server.key)
        ctx = tls_certs.client_context()
        with running([nginx, "-c", str(conf), "-p", str(tmp_path)], port, "nginx"):
            sock = socket.socket()
            sock.bind((CLIENT_IP, 0))
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
            async with tether.connect(f"wss://localhost:{port}/", ssl=ctx, sock=sock) as ws:
                await ws.send("hello")
                assert await ws.recv() == "hello"
                await ws.send("whoami")
                assert json.loads(await ws.recv())["remote"][0] == CLIENT_IP
            assert await https_get(port, "/healthz", ctx) == 200
            assert await https_get(port, "/metrics", ctx) == 403  # private
        await app.drain(5)

    run(main())


def _tether_args(command: str) -> list[str]:
    argv = shlex.split(command.replace("\\\n", " "))
    while argv and "=" in argv[0] and not argv[0].startswith("-"):
        argv.pop(0)  # VAR=value prefixes
    assert Path(argv[0]).name == "tether", argv
    return argv[1:]


def _parses(args: list[str]) -> None:
    ns = build_parser().parse_args(args)
    if ns.command == "bridge":
        from tether.cli.bridge import _specs

        assert _specs(ns)


def test_unit_procfile_and_dockerfile_commands_are_valid() -> None:
    unit = (DEPLOY / "tether.service").read_text()
    m = re.search(r"^ExecStart=(.*?)(?<!\\)\n", unit, re.M | re.S)
    assert m
    _parses(_tether_args(m.group(1)))
    assert "KillSignal=SIGTERM" in unit
    procfile = (DEPLOY / "Procfile").read_text()
    web = next(line for line in procfile.splitlines() if line.startswith("web:"))
    _parses(_tether_args(web[4:]))
    docker = (DEPLOY / "Dockerfile").read_text()
    entry = json.loads(re.search(r"^ENTRYPOINT (.*)$", docker, re.M).group(1))  # type: ignore[union-attr]
    cmd = json.loads(re.search(r"^CMD (.*)$", docker, re.M).group(1))  # type: ignore[union-attr]
    assert entry == ["tether"]
    _parses(cmd)
