"""A tether asyncio echo server on its own thread, for the client tests of every API.

It echoes, and obeys a few commands sent as text, so that one server can play every
part the behavioural tests need:

- ``close CODE REASON``: close with that code and reason;
- ``big N``: send a text message of N bytes;
- ``frag A B C``: send one text message in frames ``A``, ``B``, ``C`` (and an empty
  last frame); ``fragb A B C`` the same as binary;
- ``frames?``: answer how many frames made the previous message;
- ``whoami``: answer JSON with the Origin, subprotocol, path and a header or two;
- ``ping PAYLOAD``: ping the client, then send ``pong PAYLOAD`` once the pong came.

Request paths: ``/status/N`` answers HTTP N; ``/auth`` wants an ``Authorization``
header (401 without).  How each connection ended, as the server saw it, is kept by
request path: :meth:`EchoServer.closed` waits for it.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import tether
from tether.asyncio.server import ServerConnection
from tether.core.http11 import Request, Response

HOST = "127.0.0.1"
SUBPROTOCOLS = ["chat", "superchat"]
#: A guard against hanging forever; no test relies on it for its outcome.
GUARD = 20.0


class EchoServer:
    """``with EchoServer() as server:`` -- listening on ``server.url``."""

    def __init__(self, *, ssl: Any = None, **options: Any) -> None:
        self._ssl = ssl
        self._options = options
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="echo-server",
                                        daemon=True)
        self._server: tether.Server | None = None
        self._cond = threading.Condition()
        self._closes: dict[str, tuple[int, str]] = {}
        #: Per connection: how many frames made each message, in order.
        self._frames: dict[ServerConnection, list[int]] = {}
        self.port = 0

    @property
    def url(self) -> str:
        return f"{'wss' if self._ssl else 'ws'}://{HOST}:{self.port}"

    def __enter__(self) -> EchoServer:
        self._thread.start()
        fut = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        fut.result(GUARD)
        return self

    def __exit__(self, *exc: object) -> None:
        fut = asyncio.run_coroutine_threadsafe(self._stop(), self._loop)
        fut.result(GUARD)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(GUARD)
        self._loop.close()

    async def _start(self) -> None:
        options: dict[str, Any] = dict(subprotocols=SUBPROTOCOLS, ping_interval=None)
        options.update(self._options)
        self._server = await tether.serve(self._handler, HOST, 0, ssl=self._ssl,
                                          process_request=self._process_request, **options)
        self.port = self._server.port

    async def _stop(self) -> None:
        assert self._server is not None
        await self._server.close()

    def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        status = None
        if request.target.startswith("/status/"):
            status = int(request.target.split("/")[2])
        elif request.target.startswith("/auth") and "Authorization" not in request.headers:
            status = 401
        if status is not None:
            return tether.basic_http_response(
                status, "no", headers=[("WWW-Authenticate", 'Basic realm="tests"')])
        # Count the frames of each message (frame events are read when the protocol starts).
        conn.frame_events = True
        counts = self._frames[conn] = []
        current = [0]

        def on_frame(data: str | bytes, is_last: bool) -> None:
            current[0] += 1
            if is_last:
                counts.append(current[0])
                current[0] = 0

        conn.frame_listener = on_frame
        return None

    async def _handler(self, conn: ServerConnection) -> None:
        try:
            index = 0
            async for message in conn:
                if message == "frames?":
                    await conn.send(str(self._frames[conn][index - 1]))
                elif isinstance(message, str) and (" " in message or message == "whoami"):
                    await self._command(conn, message)
                else:
                    await conn.send(message)
                index += 1
        except tether.ConnectionClosed:
            pass
        finally:
            await conn.wait_closed()
            with self._cond:
                self._closes[conn.path] = (conn.close_code or 1006, conn.close_reason or "")
                self._cond.notify_all()
            self._frames.pop(conn, None)

    async def _command(self, conn: ServerConnection, message: str) -> None:
        verb, _, rest = message.partition(" ")
        if verb == "close":
            code, _, reason = rest.partition(" ")
            await conn.close(int(code), reason)
        elif verb == "big":
            await conn.send("x" * int(rest))
        elif verb == "frag":
            await conn.send(rest.split(" "))
        elif verb == "fragb":
            await conn.send([part.encode() for part in rest.split(" ")])
        elif verb == "whoami":
            headers = conn.request_headers
            await conn.send(json.dumps({
                "origin": headers.get("Origin"),
                "subprotocol": conn.subprotocol,
                "path": conn.path,
                "x-test": headers.get("X-Test"),
                "authorization": headers.get("Authorization"),
            }))
        elif verb == "ping":
            await conn.ping(rest)
            await conn.send(f"pong {rest}")
        else:
            await conn.send(message)

    def closed(self, path: str, timeout: float = GUARD) -> tuple[int, str]:
        """How the connection to ``path`` ended, seen from the server: (code, reason)."""
        with self._cond:
            if not self._cond.wait_for(lambda: path in self._closes, timeout):
                raise TimeoutError(f"no connection to {path} closed")
            return self._closes[path]
