"""``tether demo``: the stock-ticker application (page, feed, hub) on one port.

``--redis URL`` shares prices between processes through Redis; ``--workers N`` runs N
server processes on the same port (``SO_REUSEPORT``: the kernel spreads connections
over them), which needs ``--redis`` so that every process sees every price: the first
worker runs the feed and publishes to Redis, the others relay what their clients
subscribed to.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import ssl
import subprocess
import sys
from typing import Any

from ..asyncio import serve

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "demo", help="stock-ticker demo: live prices in the browser",
        description="Run the stock-ticker demo: a simulated market pushes price changes to "
        "the subscribers of each symbol; open the printed URL in a browser. The echo page "
        "is at /echo.")
    p.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"),
                   help="address to listen on (default 127.0.0.1, $HOST)")
    p.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")),
                   help="port to listen on (default 8000, $PORT; 0 = any free port)")
    p.add_argument("--redis", metavar="URL", default=os.environ.get("TETHER_REDIS"),
                   help="share prices through Redis (redis://host:port/db)")
    p.add_argument("--workers", type=int, default=1,
                   help="server processes sharing the port (SO_REUSEPORT; needs --redis)")
    p.add_argument("--ticks", type=float, default=4.0,
                   help="simulated ticks per second per symbol (default 4)")
    p.add_argument("--feed", metavar="PATH",
                   help="read ticks from JSON lines / CSV (symbol,price) instead; - = stdin")
    p.add_argument("--feed-url", metavar="URL",
                   help="poll prices from an HTTP endpoint answering {symbol: price}")
    p.add_argument("--no-feed", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--worker-name", help=argparse.SUPPRESS)
    p.add_argument("--no-compression", action="store_true",
                   help="don't offer permessage-deflate")
    p.add_argument("--certfile", help="serve https:// and wss:// with this certificate (PEM)")
    p.add_argument("--keyfile", help="private key for --certfile (PEM)")
    p.set_defaults(run=run)


def _urls(args: argparse.Namespace, port: int) -> str:
    host = args.host if ":" not in args.host else f"[{args.host}]"
    http, ws = ("https", "wss") if args.certfile else ("http", "ws")
    return (f"tether demo: open {http}://{host}:{port}/ in a browser "
            f"(stock ticker; WebSocket at {ws}://{host}:{port}/, echo page at /echo)")


async def _serve(args: argparse.Namespace, announce: bool) -> None:
    from ..ticker import RandomWalkFeed, TickerServer, make_hub
    from ..ticker.feed import DEFAULT_SYMBOLS, HttpPollFeed, JsonLinesFeed

    feed: Any
    if args.no_feed:
        feed = None
    elif args.feed:
        feed = JsonLinesFeed(args.feed)
    elif args.feed_url:
        feed = HttpPollFeed(args.feed_url)
    else:
        feed = RandomWalkFeed(ticks_per_second=args.ticks)
    symbols = feed.symbols if feed is not None else list(DEFAULT_SYMBOLS)
    ssl_ctx = None
    if args.certfile:
        ssl_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_ctx.load_cert_chain(args.certfile, args.keyfile)
    async with make_hub(args.redis) as hub:
        app = TickerServer(hub, symbols, feed, name=args.worker_name)
        async with serve(
            app.handler, args.host, args.port, process_request=app.process_request,
            ssl=ssl_ctx, compression=None if args.no_compression else "deflate",
            reuse_port=True if args.workers > 1 or args.worker_name else None,
        ) as server:
            app.start_feed()
            if announce:
                print(_urls(args, server.port), flush=True)
            else:
                print(f"worker {args.worker_name} ready on port {server.port}", flush=True)
            loop = asyncio.get_running_loop()
            stop = loop.create_future()

            def request_stop() -> None:
                if not stop.done():
                    stop.set_result(None)

            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, request_stop)
            await stop
            await app.stop_feed()
            print("shutting down: closing connections with 1001", flush=True)


def _child_args(args: argparse.Namespace) -> list[str]:
    out = ["--host", args.host, "--redis", args.redis, "--ticks", str(args.ticks)]
    for flag in ("feed", "feed_url", "certfile", "keyfile"):
        value = getattr(args, flag)
        if value:
            out += ["--" + flag.replace("_", "-"), value]
    if args.no_compression:
        out.append("--no-compression")
    return out


def _run_workers(args: argparse.Namespace) -> int:
    # Hold the port (bound, not listening) so that port 0 picks one for all workers.
    holder = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    holder.bind((args.host, args.port))
    port = holder.getsockname()[1]
    base = [sys.executable, "-m", "tether.cli.main", "demo", *_child_args(args),
            "--port", str(port)]
    procs = []
    for i in range(args.workers):
        cmd = [*base, "--worker-name", f"worker-{i}", "--workers", "1"]
        if i > 0:
            cmd.append("--no-feed")
        procs.append(subprocess.Popen(cmd))
    print(_urls(args, port) + f" [{args.workers} workers, Redis {args.redis}]", flush=True)

    def forward(signum: int, frame: Any) -> None:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    codes = [p.wait() for p in procs]
    holder.close()
    return max(codes, default=0)


def run(args: argparse.Namespace) -> int:
    if args.workers > 1:
        if not args.redis:
            print("tether demo: --workers N needs --redis URL (each process has its own "
                  "hub; Redis carries prices between them)", file=sys.stderr)
            return 2
        return _run_workers(args)
    asyncio.run(_serve(args, announce=not args.worker_name))
    return 0
