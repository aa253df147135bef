"""Run any tether handler the way cloud platforms expect.

:func:`serve_app` (async) and :func:`run` (blocking, with ``--workers``) add to
:func:`tether.serve`:

- ``/healthz`` (alive), ``/readyz`` (503 once draining) and ``/metrics`` (Prometheus)
  on the same port;
- SIGTERM/SIGINT: stop accepting, close every connection with 1001 (going away), wait
  up to ``grace`` seconds for the closing handshakes and the handlers, drop what is
  left, return 0;
- the real client address from trusted proxies (``X-Forwarded-For``/``Forwarded``) and
  the PROXY protocol (v1 and v2);
- ``workers`` processes sharing the port with ``SO_REUSEPORT``;
- optional bearer token and connection limit, on top of the server's origin check.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hmac
import inspect
import logging
import os
import signal
import socket
import ssl as ssl_module
import sys
import urllib.parse
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

from ..asyncio.runner import run as run_loop
from ..asyncio.server import ProcessRequest, Server, ServerConnection, serve
from ..core.handshake import http_response, reject
from ..core.http11 import Request, Response
from .connection import ServingConnection, ServingState
from .forwarded import TrustedProxies
from .metrics import Metrics

__all__ = ["ServingOptions", "run", "serve_app"]

logger = logging.getLogger("tether.serving")

Handler = Callable[[ServerConnection], Awaitable[Any]]


@dataclasses.dataclass
class ServingOptions:
    """How to serve; :mod:`tether.serving.cli` fills it from flags and the environment."""

    host: str = "127.0.0.1"
    port: int = 8765
    workers: int = 1
    #: Seconds to wait, after SIGTERM, for connections to close before dropping them.
    grace: float = 10.0
    trusted_proxies: TrustedProxies = dataclasses.field(default_factory=TrustedProxies)
    proxy_protocol: bool = False
    log_format: str = "text"
    #: Run the event loop on uvloop (``--uvloop``; needs ``pip install tether[uvloop]``).
    uvloop: bool = False
    max_connections: int | None = None
    #: Clients must send ``Authorization: Bearer <token>`` (or ``?token=<token>``).
    token: str | None = None
    origins: Sequence[str | None] | None = None
    ssl: ssl_module.SSLContext | None = None
    reuse_port: bool = False
    #: Extra keyword arguments for :func:`tether.serve` (max_size, compression, ...).
    serve_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)


def _bind(host: str, port: int, reuse_port: bool) -> socket.socket:
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                               flags=socket.AI_PASSIVE)
    family, kind, proto, _, addr = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(addr)
        sock.listen(1024)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


class App:
    """A running served app (see :func:`serve_app`)."""

    def __init__(self, server: Server, state: ServingState, metrics: Metrics) -> None:
        self.server = server
        self.state = state
        self.metrics = metrics

    @property
    def port(self) -> int:
        return self.server.port

    async def drain(self, grace: float) -> bool:
        """Stop accepting, close with 1001, wait up to ``grace`` s; True if all closed
        in time (the rest are dropped)."""
        self.state.ready = False
        server = self.server
        closing = asyncio.get_running_loop().create_task(
            server.close(code=1001, reason="server shutting down"))
        done, _ = await asyncio.wait({closing}, timeout=grace)
        if done:
            return True
        left = list(server._connections)
        logger.warning("grace period of %ss over: dropping %d connections", grace, len(left))
        for conn in left:
            conn.abort()
        tasks = [c.handler_task for c in left if c.handler_task is not None]
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=1)
        closing.cancel()
        return False


async def serve_app(
    handler: Handler,
    options: ServingOptions,
    *,
    process_request: ProcessRequest | None = None,
    metrics: Metrics | None = None,
    sock: socket.socket | None = None,
) -> App:
    """Start serving ``handler`` with ``options``; returns the :class:`App`."""
    if options.proxy_protocol and options.ssl is not None:
        # The header comes before the TLS ClientHello; asyncio's TLS transport would
        # take it for a broken handshake.
        raise ValueError("--proxy-protocol with --certfile is not supported: terminate TLS "
                         "at the proxy (or let the proxy pass TLS through without PROXY)")
    metrics = metrics or Metrics()
    state = ServingState(metrics, options.trusted_proxies, options.proxy_protocol)
    conn_class = type("ServingConnection", (ServingConnection,), {"state_": state})
    holder: list[Server] = []

    async def process(conn: ServerConnection, request: Request) -> Response | None:
        path = request.target.split("?", 1)[0]
        if path == "/healthz":
            return http_response(200, "ok\n")
        if path == "/readyz":
            return (http_response(200, "ready\n") if state.ready
                    else http_response(503, "draining\n"))
        if path == "/metrics":
            return http_response(200, metrics.render(), "text/plain; version=0.0.4")
        if options.token is not None and not _authorized(request, options.token):
            return reject(401, "Missing or wrong token.",
                          headers=[("WWW-Authenticate", 'Bearer realm="tether"')])
        if (options.max_connections is not None and holder
                and len(holder[0].connections) >= options.max_connections):
            return reject(503, "Too many connections; try again later.",
                          headers=[("Retry-After", "5")])
        if process_request is not None:
            answer = process_request(conn, request)
            if inspect.isawaitable(answer):
                answer = await answer
            return answer
        return None

    if sock is None:
        sock = _bind(options.host, options.port, options.reuse_port or options.workers > 1)
    kwargs = dict(options.serve_kwargs)
    if options.origins is not None:
        kwargs["origins"] = options.origins
    server = await serve(handler, process_request=process, ssl=options.ssl, sock=sock,
                         start_serving=False, **kwargs)
    server.connection_class = conn_class
    holder.append(server)
    metrics.add_server(server)
    assert server.server is not None
    await server.server.start_serving()
    return App(server, state, metrics)


def _authorized(request: Request, token: str) -> bool:
    auth = request.headers.get("Authorization") or ""
    scheme, _, given = auth.partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(),
                                                          token.encode()):
        return True
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(request.target).query)
    return any(hmac.compare_digest(v.encode(), token.encode()) for v in query.get("token", []))


async def serve_until_signalled(
    handler: Handler,
    options: ServingOptions,
    *,
    process_request: ProcessRequest | None = None,
    metrics: Metrics | None = None,
    banner: Callable[[App], None] | None = None,
    sock: socket.socket | None = None,
    on_start: Callable[[App], Awaitable[None]] | None = None,
    on_stop: Callable[[App], Awaitable[None]] | None = None,
) -> int:
    """Serve until SIGTERM or SIGINT, then drain (see the module docstring); returns 0."""
    app = await serve_app(handler, options, process_request=process_request,
                          metrics=metrics, sock=sock)
    if on_start is not None:
        await on_start(app)
    loop = asyncio.get_running_loop()
    stop = loop.create_future()

    def request_stop(signame: str) -> None:
        if not stop.done():
            stop.set_result(signame)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, request_stop, sig.name)
    if banner is not None:
        banner(app)
    signame = await stop
    logger.info("%s: draining (closing connections with 1001, grace %ss)",
                signame, options.grace)
    clean = await app.drain(options.grace)
    if on_stop is not None:
        await on_stop(app)
    logger.info("stopped (%s)", "all connections closed" if clean else "grace period over")
    return 0


def run(main: Callable[[socket.socket | None], Coroutine[Any, Any, int]],
        options: ServingOptions) -> int:
    """Run ``main(sock)`` in this process, or in ``options.workers`` forked processes
    that share the port with ``SO_REUSEPORT``; returns the exit status (0 when every
    worker exited 0).  SIGTERM/SIGINT to the parent are passed on to the workers."""
    if options.uvloop:
        logging.getLogger("tether").info("event loop: uvloop")
    if options.workers <= 1:
        return run_loop(main(None), uvloop=options.uvloop)
    # Bind here first: with port 0 this picks the port all workers share.  The parent's
    # socket never accepts (the workers' sockets take the connections).
    first = _bind(options.host, options.port, True)
    options.port = first.getsockname()[1]
    pids: list[int] = []
    for i in range(options.workers):
        sock = first if i == 0 else _bind(options.host, options.port, True)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - in the child
            code = 1
            try:
                _die_with_parent()
                os.environ["TETHER_WORKER"] = str(i)
                code = run_loop(main(sock), uvloop=options.uvloop)
            except BaseException:
                logging.getLogger("tether").exception("worker %d failed", i)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        pids.append(pid)
        sock.close()

    def forward(signum: int, frame: Any) -> None:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    status = 0
    for pid in pids:
        while True:
            try:
                _, st = os.waitpid(pid, 0)
                break
            except InterruptedError:  # pragma: no cover - retried by Python anyway
                continue
        code = os.waitstatus_to_exitcode(st)
        if code != 0:
            status = 1
    return status


def _die_with_parent() -> None:
    """Linux: a worker gets SIGTERM if the parent dies (even by SIGKILL)."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
