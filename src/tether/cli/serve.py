"""``tether serve`` and ``tether demo``: echo and broadcast servers, static files beside them.

``--mode echo`` (the default) sends every message back to its sender; ``--mode broadcast``
sends every message to every connected client, the sender included, through a
:class:`tether.pubsub.Hub` (framed once for all; a slow client gets ``--slow-policy``).
``--static DIR`` answers plain HTTP requests (no ``Upgrade``) from the files in DIR on
the same port.  The serving options (health, metrics, workers, TLS, drain) come from
:mod:`tether.serving`.
"""

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
from ..pubsub import Hub, Policy
from ..serving import App, serve_until_signalled
from ..serving import cli as serving_cli
from ..serving import logs as serving_logs
from ..serving import run as serving_run
from .static_files import StaticFiles

logger = logging.getLogger("tether.cli")

BROADCAST_TOPIC = "broadcast"

EPILOG = """\
modes:
  echo       every message goes back to the client that sent it (default)
  broadcast  every message goes to every connected client, the sender included;
             a client that reads too slowly gets --slow-policy (latest: it skips to the
             newest message; drop: messages are dropped; close: closed with 1013).
             With --workers N each worker broadcasts to its own clients only.

plain HTTP on the same port:
  /healthz, /readyz, /metrics     health and Prometheus metrics (always)
  --static DIR                    GET/HEAD files from DIR (index.html for directories;
                                  nothing outside DIR: 403; missing: 404)

examples:
  tether serve                                   echo server on ws://127.0.0.1:8765/
  tether serve --port 9000 --mode broadcast      a chat room: everyone sees everything
  tether serve --static ./site                   a page and its WebSocket on one port
  tether serve --host 0.0.0.0 --workers 4        four processes sharing the port
  tether serve --certfile cert.pem --keyfile key.pem   wss:// and https://
  PORT=8080 tether serve --log-format json       as a cloud platform runs it
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser("serve", help="run an echo or broadcast server (and static files)",
                       description="Run a WebSocket server: echo (every message comes back)\n"
                       "or broadcast (every message goes to every client), optionally\n"
                       "serving static files on the same port.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    m = p.add_argument_group("what to serve")
    m.add_argument("--mode", choices=("echo", "broadcast"), default="echo",
                   help="echo (default) or broadcast")
    m.add_argument("--slow-policy", choices=[x.value for x in Policy], default="latest",
                   help="broadcast: what a client that reads too slowly gets (default latest)")
    m.add_argument("--static", metavar="DIR",
                   help="serve the files in DIR over plain HTTP on the same port")
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


def broadcaster(hub: Hub) -> Any:
    """The handler of ``--mode broadcast``: what one client sends, all receive."""

    async def broadcast(ws: ServerConnection) -> None:
        hub.subscribe(ws, BROADCAST_TOPIC)
        try:
            async for message in ws:
                hub.publish(BROADCAST_TOPIC, message)
        finally:
            hub.remove(ws)

    return broadcast


async def _serve(args: argparse.Namespace, sock: socket.socket | None = None) -> int:
    page = demo_page() if args.page else None
    options = serving_cli.options_from_args(args)
    mode = getattr(args, "mode", "echo")
    static_dir = getattr(args, "static", None)
    static = StaticFiles(static_dir) if static_dir else None
    hub: Hub | None = None
    handler: Any = echo
    if mode == "broadcast":
        hub = Hub(policy=Policy(args.slow_policy),
                  compression=not args.no_compression)
        handler = broadcaster(hub)

    def process_request(conn: ServerConnection, request: Request) -> Response | None:
        if "Upgrade" in request.headers:
            return None
        path = request.target.split("?", 1)[0]
        if page is not None and path in ("/", "/index.html"):
            return basic_http_response(200, page, "text/html; charset=utf-8")
        if static is not None:
            return static(request)
        return None

    def banner(app: App) -> None:
        scheme = "wss" if options.ssl else "ws"
        host = args.host if ":" not in args.host else f"[{args.host}]"
        worker = os.environ.get("TETHER_WORKER")
        who = f" (worker {worker}, pid {os.getpid()})" if worker is not None else ""
        files = ""
        if static is not None:
            http = "https" if options.ssl else "http"
            files = f", files from {static.root} at {http}://{host}:{app.port}/"
        # One write per line: workers share the pipe.
        sys.stdout.write(f"tether {mode} server on {scheme}://{host}:{app.port}/{files}{who}\n")
        sys.stdout.flush()

    # /healthz, /readyz, /metrics, SIGTERM/SIGINT drain with 1001: tether.serving.
    try:
        return await serve_until_signalled(handler, options,
                                           process_request=process_request,
                                           banner=banner, sock=sock)
    finally:
        if hub is not None:
            await hub.close()


def run_serve(args: argparse.Namespace) -> int:
    if args.static and not os.path.isdir(args.static):
        print(f"tether serve: --static {args.static}: not a directory", file=sys.stderr)
        return 2
    options = serving_cli.options_from_args(args)
    if args.mode == "broadcast" and options.workers > 1:
        logger.warning("--mode broadcast with --workers %d: each worker broadcasts to its "
                       "own clients only", options.workers)
    serving_logs.configure(options.log_format,
                           logging.DEBUG if getattr(args, "verbose", False) else logging.INFO)
    return serving_run(lambda sock: _serve(args, sock), options)
