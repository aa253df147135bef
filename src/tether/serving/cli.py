"""The flags every serving command shares (``tether serve``, ``tether bridge``).

Each has an environment variable, as cloud platforms configure programs: ``PORT`` and
``HOST`` (the names Heroku, Cloud Run, Render, Fly set) and ``TETHER_*`` for the rest.
"""

from __future__ import annotations

import argparse
import os
import re

from .app import ServingOptions
from .forwarded import TrustedProxies

__all__ = ["add_arguments", "options_from_args", "parse_duration"]


def parse_duration(text: str) -> float:
    """``"2s"``, ``"500ms"``, ``"1.5"`` (seconds), ``"1m"`` -> seconds."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(ms|s|m|h)?\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (try 2s, 500ms, 1m)")
    value = float(m.group(1))
    return value * {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}[m.group(2) or "s"]


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def add_arguments(p: argparse.ArgumentParser, default_port: int = 8765) -> None:
    g = p.add_argument_group("serving (cloud and proxies)")
    g.add_argument("--host", default=_env("HOST", "127.0.0.1"),
                   help="address to listen on (default 127.0.0.1; $HOST; 0.0.0.0 for all)")
    g.add_argument("--port", type=int, default=int(_env("PORT", str(default_port)) or 0),
                   help=f"port to listen on (default {default_port}; $PORT; 0 picks a free one)")
    g.add_argument("--workers", type=int, default=int(_env("TETHER_WORKERS", "1") or 1),
                   metavar="N", help="worker processes sharing the port with SO_REUSEPORT "
                   "(default 1; $TETHER_WORKERS)")
    g.add_argument("--uvloop", action="store_true",
                   help="run the event loop on uvloop (pip install 'tether[uvloop]')")
    g.add_argument("--grace", type=parse_duration, default=_env("TETHER_GRACE", "10s"),
                   metavar="DURATION", help="on SIGTERM/SIGINT: stop accepting, close "
                   "connections with 1001 and wait this long for them before dropping them "
                   "(default 10s; $TETHER_GRACE)")
    g.add_argument("--trusted-proxies", default=_env("TETHER_TRUSTED_PROXIES", ""),
                   metavar="CIDRS", help="comma-separated addresses/networks of reverse "
                   "proxies whose X-Forwarded-For / Forwarded / PROXY headers give the client "
                   "address (default none; $TETHER_TRUSTED_PROXIES)")
    g.add_argument("--proxy-protocol", action="store_true",
                   default=_env("TETHER_PROXY_PROTOCOL", "") in ("1", "true", "yes"),
                   help="every connection starts with a PROXY protocol v1 or v2 header "
                   "(haproxy send-proxy, AWS NLB); $TETHER_PROXY_PROTOCOL=1")
    g.add_argument("--log-format", choices=("text", "json"),
                   default=_env("TETHER_LOG_FORMAT", "text"),
                   help="log lines as text or one JSON object per line "
                   "(default text; $TETHER_LOG_FORMAT)")
    g.add_argument("--max-connections", type=int,
                   default=int(_env("TETHER_MAX_CONNECTIONS", "0") or 0), metavar="N",
                   help="refuse new connections (503) past N open ones (0 = no limit)")
    g.add_argument("--token", default=_env("TETHER_TOKEN"),
                   help="require 'Authorization: Bearer TOKEN' or ?token=TOKEN on WebSocket "
                   "requests ($TETHER_TOKEN)")
    g.add_argument("--origin", action="append", dest="origins", metavar="ORIGIN",
                   help="accept browsers only from this Origin (repeat for several; "
                   "default: any)")
    g.add_argument("--max-size", type=int, default=2**20,
                   help="largest message accepted, bytes (default 1 MiB; 0 = no limit)")
    g.add_argument("--no-compression", action="store_true",
                   help="don't offer permessage-deflate")
    g.add_argument("--certfile", help="serve wss:// with this certificate (PEM)")
    g.add_argument("--keyfile", help="private key for --certfile (PEM)")


def options_from_args(args: argparse.Namespace) -> ServingOptions:
    ssl_ctx = None
    if args.certfile:
        import ssl

        ssl_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_ctx.load_cert_chain(args.certfile, args.keyfile)
    grace = args.grace if isinstance(args.grace, float) else parse_duration(str(args.grace))
    origins = None
    if args.origins:
        origins = [None if o == "null" else o for o in args.origins]
    return ServingOptions(
        host=args.host, port=args.port, workers=max(1, args.workers), grace=grace,
        trusted_proxies=TrustedProxies.parse(args.trusted_proxies),
        proxy_protocol=args.proxy_protocol, log_format=args.log_format,
        uvloop=args.uvloop,
        max_connections=args.max_connections or None, token=args.token,
        origins=origins, ssl=ssl_ctx,
        serve_kwargs={"max_size": args.max_size or None,
                      "compression": None if args.no_compression else "deflate"},
    )
