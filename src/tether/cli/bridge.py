"""``tether bridge``: a WebSocket face for a TCP service, a program, an HTTP API, an event
stream or another WebSocket feed; several at once by path with ``--route``."""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import urllib.parse
from typing import Any

from ..asyncio.connection import Connection
from ..bridge import HttpPoller, RemoteFeed, Router, SseBridge, bridge_process, bridge_tcp
from ..bridge.routing import Route
from ..pubsub import Hub
from ..serving import App, Metrics, serve_until_signalled
from ..serving import cli as serving_cli
from ..serving import logs as serving_logs
from ..serving import run as serving_run

__all__ = ["add_parser"]

logger = logging.getLogger("tether.cli")

DESCRIPTION = """\
Give a WebSocket face to a service that has none.

  --to tcp://HOST:PORT   each WebSocket connection gets its own TCP connection; bytes both
                         ways as binary messages (e.g. VNC for noVNC, like websockify)
  --exec "CMD ARGS"      each connection starts the program: messages are stdin lines,
                         stdout lines come back as text messages, stderr is logged; the
                         program is ended when the socket closes, the socket closed when
                         it exits (1000 for status 0, 1011 otherwise), like websocketd
  --poll URL             fetch a JSON URL every --every (ETag/If-None-Match, timeout,
                         backoff on errors) and push each new value to the clients
  --sse URL              read Server-Sent Events from URL and push each event
  --feed WS_URL          subscribe once to a remote WebSocket and fan its messages out

One of those is served at --path (default /).  --route PATH=SPEC (repeatable) serves
several by path, SPEC being tcp://HOST:PORT, exec:CMD, poll:URL, sse:URL or feed:WS_URL.
Clients of poll/sse routes receive {"op":"message","topic":...,"data":...} objects
(the tether.pubsub protocol); feed routes relay upstream messages unchanged.
Paths nobody serves are answered 404; /healthz, /readyz and /metrics always work.
"""

EPILOG = """\
examples:
  tether bridge --to tcp://127.0.0.1:5900 --port 6080           noVNC -> VNC server
  tether bridge --exec "bc -q"                                  a calculator per client
  tether bridge --poll https://api.example.com/prices --every 2s --topic prices
  tether bridge --route /vnc=tcp://127.0.0.1:5900 --route /shell=exec:"bash -i" \\
                --route /prices=poll:http://127.0.0.1:8080/prices.json --token s3cret
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser("bridge", help="WebSocket face for a TCP service, program or HTTP API",
                       description=DESCRIPTION, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_argument_group("what to bridge (one of these, or --route)")
    g.add_argument("--to", metavar="tcp://HOST:PORT", help="bridge to a TCP service")
    g.add_argument("--exec", dest="exec_", metavar="CMD",
                   help="run this command (split like a shell) per connection")
    g.add_argument("--poll", metavar="URL", help="poll this JSON URL (http or https)")
    g.add_argument("--sse", metavar="URL", help="read Server-Sent Events from this URL")
    g.add_argument("--feed", metavar="WS_URL", help="fan out this remote WebSocket feed")
    g.add_argument("--path", default="/", help="where the bridge is served (default /)")
    g.add_argument("--route", action="append", default=[], metavar="PATH=SPEC",
                   help="serve a bridge at PATH (repeatable): SPEC is tcp://HOST:PORT, "
                   "exec:CMD, poll:URL, sse:URL or feed:WS_URL")
    o = p.add_argument_group("bridge options")
    o.add_argument("--raw", action="store_true",
                   help="--exec: stdout goes out as binary chunks as read, and messages go "
                   "to stdin unchanged (default: one text message per line)")
    o.add_argument("--kill-timeout", type=serving_cli.parse_duration, default=5.0,
                   metavar="DURATION", help="--exec: after the socket closes, SIGTERM, then "
                   "SIGKILL after this long (default 5s)")
    o.add_argument("--every", type=serving_cli.parse_duration, default=2.0,
                   metavar="DURATION", help="--poll: time between requests (default 2s)")
    o.add_argument("--timeout", type=serving_cli.parse_duration, default=10.0,
                   metavar="DURATION", help="--poll/--sse/--to: connect and request "
                   "timeout (default 10s)")
    o.add_argument("--max-backoff", type=serving_cli.parse_duration, default=60.0,
                   metavar="DURATION", help="--poll/--sse/--feed: longest wait between "
                   "retries after errors (default 60s)")
    o.add_argument("--header", action="append", default=[], metavar="'NAME: VALUE'",
                   help="--poll/--sse: send this request header (repeatable)")
    o.add_argument("--topic", help="--poll/--sse/--feed: topic name (default: from the path)")
    o.add_argument("--feed-send", action="append", default=[], metavar="TEXT",
                   help="--feed: message(s) sent upstream after each connect "
                   "(a subscription request)")
    o.add_argument("--redis", default=os.environ.get("TETHER_REDIS"), metavar="URL",
                   help="share topics between workers/machines through Redis "
                   "(redis://host:port/db; $TETHER_REDIS): with --workers, worker 0 alone "
                   "reads --sse and --feed upstreams; --poll values are retained, so every "
                   "worker polls")
    serving_cli.add_arguments(p, default_port=8765)
    p.set_defaults(run=run_bridge)


def _specs(args: argparse.Namespace) -> list[tuple[str, str, str]]:
    """(path, kind, target) for every bridge asked for."""
    single = [(k, v) for k, v in (("tcp", args.to), ("exec", args.exec_), ("poll", args.poll),
                                   ("sse", args.sse), ("feed", args.feed)) if v]
    if len(single) > 1:
        raise SystemExit("tether bridge: choose one of --to/--exec/--poll/--sse/--feed "
                         "(use --route for several)")
    out = []
    if single:
        kind, target = single[0]
        if kind == "tcp" and target.startswith("tcp://"):
            target = target[len("tcp://"):]
        out.append((args.path, kind, target))
    for route in args.route:
        path, sep, spec = route.partition("=")
        if not sep or not path.startswith("/"):
            raise SystemExit(f"tether bridge: --route takes PATH=SPEC, got {route!r}")
        if spec.startswith("tcp://"):
            out.append((path, "tcp", spec[len("tcp://"):]))
            continue
        kind, sep, target = spec.partition(":")
        if not sep or kind not in ("exec", "poll", "sse", "feed"):
            raise SystemExit(f"tether bridge: unknown bridge {spec!r} in --route "
                             "(tcp://, exec:, poll:, sse:, feed:)")
        out.append((path, kind, target))
    if not out:
        raise SystemExit("tether bridge: nothing to bridge; give --to, --exec, --poll, "
                         "--sse, --feed or --route (see tether bridge --help)")
    return out


def _host_port(target: str) -> tuple[str, int]:
    parts = urllib.parse.urlsplit("tcp://" + target)
    if not parts.hostname or not parts.port:
        raise SystemExit(f"tether bridge: expected tcp://HOST:PORT, got {target!r}")
    return parts.hostname, parts.port


def _topic(args: argparse.Namespace, path: str, single: bool) -> str:
    if args.topic and single:
        return str(args.topic)
    return path.strip("/") or "default"


async def _bridge(args: argparse.Namespace, sock: socket.socket | None = None) -> int:
    options = serving_cli.options_from_args(args)
    specs = _specs(args)
    backplane = None
    if args.redis:
        from ..pubsub.redis import RedisBackplane

        backplane = RedisBackplane(args.redis)
    hub = Hub(backplane=backplane)
    # Polled values are retained (a new client gets the current one at once); Redis
    # pub/sub keeps no state, so each worker polls for itself, into a hub of its own.
    local_hub = Hub() if backplane is not None else hub
    metrics = Metrics()
    metrics.add_hub(hub)
    if local_hub is not hub:
        metrics.add_hub(local_hub)
    router = Router()
    headers = []
    for h in args.header:
        name, _, value = h.partition(":")
        headers.append((name.strip(), value.strip()))
    upstreams: list[HttpPoller | SseBridge | RemoteFeed] = []
    worker = os.environ.get("TETHER_WORKER")
    fetch_here = not (args.redis and worker not in (None, "0"))
    for path, kind, target in specs:
        if kind == "tcp":
            host, port = _host_port(target)
            router.add(path, _tcp_route(host, port, args.timeout))
        elif kind == "exec":
            router.add(path, _exec_route(target, "raw" if args.raw else "lines",
                                         args.kill_timeout))
        else:
            topic = _topic(args, path, len(specs) == 1)
            if kind == "poll":
                router.topic(path, local_hub, topic)
                upstreams.append(HttpPoller(local_hub, topic, target, every=args.every,
                                            timeout=args.timeout,
                                            max_backoff=args.max_backoff, headers=headers))
                continue
            # A feed is relayed unchanged: no acknowledgement in front of it.
            router.topic(path, hub, topic, ack=kind != "feed")
            if not fetch_here:
                continue  # worker 0 reads upstream and shares it through Redis
            if kind == "sse":
                upstreams.append(SseBridge(hub, topic, target, timeout=args.timeout,
                                           max_backoff=args.max_backoff, headers=headers))
            else:
                upstreams.append(RemoteFeed(hub, topic, target, subscribe=args.feed_send,
                                            max_backoff=args.max_backoff))

    async def on_start(app: App) -> None:
        await hub.start()
        if local_hub is not hub:
            await local_hub.start()
        for u in upstreams:
            u.start()

    async def on_stop(app: App) -> None:
        for u in upstreams:
            await u.stop()
        await hub.close()
        if local_hub is not hub:
            await local_hub.close()

    def banner(app: App) -> None:
        scheme = "wss" if options.ssl else "ws"
        host = args.host if ":" not in args.host else f"[{args.host}]"
        who = f" (worker {worker}, pid {os.getpid()})" if worker is not None else ""
        routes = ", ".join(f"{p} -> {k} {t}" for p, k, t in specs)
        # One write per line: workers share the pipe.
        sys.stdout.write(f"tether bridge on {scheme}://{host}:{app.port}/: {routes}{who}\n")
        sys.stdout.flush()

    return await serve_until_signalled(router, options, process_request=router.process_request,
                                       metrics=metrics, banner=banner, sock=sock,
                                       on_start=on_start, on_stop=on_stop)


def _tcp_route(host: str, port: int, timeout: float) -> Route:
    async def route(ws: Connection) -> None:
        await bridge_tcp(ws, host, port, connect_timeout=timeout)
    return route


def _exec_route(command: str, mode: str, kill_timeout: float) -> Route:
    async def route(ws: Connection) -> None:
        await bridge_process(ws, command, mode=mode, kill_timeout=kill_timeout)
    return route


def run_bridge(args: argparse.Namespace) -> int:
    _specs(args)  # usage errors before anything starts
    options = serving_cli.options_from_args(args)
    serving_logs.configure(options.log_format,
                           logging.DEBUG if getattr(args, "verbose", False) else logging.INFO)
    return serving_run(lambda sock: _bridge(args, sock), options)
