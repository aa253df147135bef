"""``tether connect URL``: send lines from stdin, print messages as they arrive."""

from __future__ import annotations

import argparse
import asyncio
import ssl
import sys
from typing import Any

from ..asyncio import ClientConnection, connect
from ..exceptions import ConnectionClosed, TetherError


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "connect", help="interactive client",
        description="Connect to a WebSocket server. Each line typed (or piped) is sent as a "
        "text message; messages received are printed. With stdin a pipe, it exits once the "
        "input ends and the replies so far are printed.")
    p.add_argument("url", help="ws:// or wss:// URL")
    p.add_argument("--header", "-H", action="append", default=[], metavar="NAME: VALUE",
                   help="extra request header (repeatable)")
    p.add_argument("--subprotocol", "-s", action="append", default=[], help="offer a subprotocol")
    p.add_argument("--origin", help="Origin header to send")
    p.add_argument("--proxy", help="proxy URL (http://, https://, socks5://, socks5h://); "
                   "default: from the environment; 'none' for none")
    p.add_argument("--insecure", "-k", action="store_true",
                   help="wss: don't verify the server's certificate (development only)")
    p.add_argument("--cafile", help="wss: trust this CA bundle (PEM)")
    p.add_argument("--no-compression", action="store_true", help="don't offer permessage-deflate")
    p.add_argument("--max-size", type=int, default=2**20, help="largest message accepted, bytes")
    p.add_argument("--wait", type=float, default=1.0,
                   help="with piped input: seconds to wait for replies after the last line")
    p.set_defaults(run=run_connect)


def _ssl_context(args: argparse.Namespace) -> ssl.SSLContext | None:
    if not args.url.startswith("wss:"):
        return None
    ctx = ssl.create_default_context(cafile=args.cafile)
    if args.insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


async def _print_incoming(ws: ClientConnection) -> None:
    try:
        async for message in ws:
            if isinstance(message, str):
                print(f"< {message}", flush=True)
            else:
                print(f"< (binary, {len(message)} bytes) {message.hex()}", flush=True)
    except ConnectionClosed:
        pass


async def _connect(args: argparse.Namespace) -> int:
    headers = []
    for h in args.header:
        name, sep, value = h.partition(":")
        if not sep:
            print(f"tether: --header needs NAME: VALUE, got {h!r}", file=sys.stderr)
            return 2
        headers.append((name.strip(), value.strip()))
    proxy: Any = True
    if args.proxy is not None:
        proxy = None if args.proxy.lower() == "none" else args.proxy
    try:
        ws = await connect(
            args.url, additional_headers=headers, subprotocols=args.subprotocol or None,
            origin=args.origin, ssl=_ssl_context(args), proxy=proxy,
            compression=None if args.no_compression else "deflate",
            max_size=args.max_size or None,
        )
    except (OSError, TetherError, TimeoutError) as exc:
        print(f"tether: could not connect to {args.url}: {exc}", file=sys.stderr)
        return 1
    print(f"connected to {args.url}" + (f" (subprotocol {ws.subprotocol})"
                                        if ws.subprotocol else ""), file=sys.stderr)
    reader = asyncio.create_task(_print_incoming(ws))
    loop = asyncio.get_running_loop()
    piped = not sys.stdin.isatty()
    try:
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                break
            try:
                await ws.send(line.rstrip("\n"))
            except ConnectionClosed:
                break
        if piped and not reader.done():
            await asyncio.wait([reader], timeout=args.wait)
    finally:
        await ws.close()
        await reader
    code = ws.close_code
    print(f"connection closed: {code} {ws.close_reason or ''}".rstrip(), file=sys.stderr)
    return 0 if code in (1000, 1001, 1005) else 1


def run_connect(args: argparse.Namespace) -> int:
    return asyncio.run(_connect(args))
