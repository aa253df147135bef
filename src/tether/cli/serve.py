"""``tether serve`` and ``tether demo``: an echo server, with a browser page on the same port."""

from __future__ import annotations

import argparse
import importlib.resources
import logging
import os
import socket
import sys
from typing import Any

from ..asyncio import ServerConnection, basic_http_response
from ..core.http11 import Request, Response
from ..serving import App, serve_until_signalled
from ..serving import cli as serving_cli
from ..serving import logs as serving_logs
from ..serving import run as serving_run

logger = logging.getLogger("tether.cli")


def add_parser(sub: Any) -> None:
    p = sub.add_parser("serve", help="run an echo server",
                       description="Run a WebSocket echo server (every message comes back).")
    serving_cli.add_arguments(p, default_port=8765)
    p.set_defaults(run=run_serve, page=False)


def add_demo_parser(sub: Any) -> None:
    # `tether demo` is the stock ticker (issue 6); the echo page lives on at /echo there.
    from . import ticker

    ticker.add_parser(sub)


def demo_page() -> bytes:
    """The demo's HTML page (packaged with tether)."""
    return importlib.resources.files("tether.cli").joinpath("static/demo.html").read_bytes()


async def echo(ws: ServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


async def _serve(args: argparse.Namespace, sock: socket.socket | None = None) -> int:
    page = demo_page() if args.page else None
    options = serving_cli.options_from_args(args)

    def process_request(conn: ServerConnection, request: Request) -> Response | None:
        path = request.target.split("?", 1)[0]
        if page is not None and path in ("/", "/index.html") and "Upgrade" not in request.headers:
            return basic_http_response(200, page, "text/html; charset=utf-8")
        return None

    def banner(app: App) -> None:
        scheme = "wss" if options.ssl else "ws"
        host = args.host if ":" not in args.host else f"[{args.host}]"
        worker = os.environ.get("TETHER_WORKER")
        who = f" (worker {worker}, pid {os.getpid()})" if worker is not None else ""
        # One write per line: workers share the pipe.
        sys.stdout.write(f"tether echo server on {scheme}://{host}:{app.port}/{who}\n")
        sys.stdout.flush()

    # /healthz, /readyz, /metrics, SIGTERM/SIGINT drain with 1001: tether.serving.
    return await serve_until_signalled(echo, options, process_request=process_request,
                                       banner=banner, sock=sock)


def run_serve(args: argparse.Namespace) -> int:
    options = serving_cli.options_from_args(args)
    serving_logs.configure(options.log_format,
                           logging.DEBUG if getattr(args, "verbose", False) else logging.INFO)
    return serving_run(lambda sock: _serve(args, sock), options)
