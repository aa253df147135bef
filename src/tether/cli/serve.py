"""``tether serve`` and ``tether demo``: an echo server, with a browser page on the same port."""

from __future__ import annotations

import argparse
import asyncio
import importlib.resources
import logging
import os
import signal
from typing import Any

from ..asyncio import ServerConnection, basic_http_response, serve
from ..core.http11 import Request, Response

logger = logging.getLogger("tether.cli")


def add_parser(sub: Any) -> None:
    p = sub.add_parser("serve", help="run an echo server",
                       description="Run a WebSocket echo server (every message comes back).")
    _common(p, default_port=int(os.environ.get("PORT", "8765")))
    p.set_defaults(run=run_serve, page=False)


def add_demo_parser(sub: Any) -> None:
    p = sub.add_parser("demo", help="echo server plus a browser page on the same port",
                       description="Serve a small HTML page at / that talks WebSocket to the "
                       "echo server on the same port. Open the printed URL in a browser.")
    _common(p, default_port=int(os.environ.get("PORT", "8000")))
    p.set_defaults(run=run_serve, page=True)


def _common(p: argparse.ArgumentParser, default_port: int) -> None:
    p.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"),
                   help="address to listen on (default 127.0.0.1, $HOST)")
    p.add_argument("--port", type=int, default=default_port,
                   help=f"port to listen on (default {default_port}, $PORT)")
    p.add_argument("--max-size", type=int, default=2**20,
                   help="largest message accepted, bytes (0 = no limit)")
    p.add_argument("--no-compression", action="store_true", help="don't offer permessage-deflate")
    p.add_argument("--certfile", help="serve wss:// with this certificate (PEM)")
    p.add_argument("--keyfile", help="private key for --certfile (PEM)")


def demo_page() -> bytes:
    """The demo's HTML page (packaged with tether)."""
    return importlib.resources.files("tether.cli").joinpath("static/demo.html").read_bytes()


async def echo(ws: ServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


async def _serve(args: argparse.Namespace) -> None:
    page = demo_page() if args.page else None

    def process_request(conn: ServerConnection, request: Request) -> Response | None:
        path = request.target.split("?", 1)[0]
        if path in ("/healthz", "/readyz"):
            return basic_http_response(200, "ok\n")
        if page is not None and path in ("/", "/index.html") and "Upgrade" not in request.headers:
            return basic_http_response(200, page, "text/html; charset=utf-8")
        return None

    ssl_ctx = None
    if args.certfile:
        import ssl

        ssl_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_ctx.load_cert_chain(args.certfile, args.keyfile)
    async with serve(
        echo, args.host, args.port, process_request=process_request, ssl=ssl_ctx,
        max_size=args.max_size or None,
        compression=None if args.no_compression else "deflate",
    ) as server:
        scheme = "wss" if ssl_ctx else "ws"
        http = "https" if ssl_ctx else "http"
        host = args.host if ":" not in args.host else f"[{args.host}]"
        if page is not None:
            print(f"tether demo: open {http}://{host}:{server.port}/ in a browser "
                  f"(WebSocket at {scheme}://{host}:{server.port}/)", flush=True)
        else:
            print(f"tether echo server on {scheme}://{host}:{server.port}/", flush=True)
        loop = asyncio.get_running_loop()
        stop = loop.create_future()

        def request_stop() -> None:
            if not stop.done():
                stop.set_result(None)

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, request_stop)
        await stop
        print("shutting down: closing connections with 1001", flush=True)


def run_serve(args: argparse.Namespace) -> int:
    asyncio.run(_serve(args))
    return 0
