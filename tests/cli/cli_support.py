"""Helpers for the command-line tests: run ``tether`` as a program, servers to talk to."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.support.proxies import free_port
from tether.asyncio import ServerConnection, serve

ROOT = Path(__file__).resolve().parents[2]
ENV = dict(os.environ, PYTHONPATH=str(ROOT / "src"), NO_COLOR="")
ENV.pop("NO_COLOR")
for var in ("http_proxy", "https_proxy", "all_proxy", "ws_proxy", "wss_proxy",
            "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "WS_PROXY", "WSS_PROXY"):
    ENV.pop(var, None)
TETHER = [sys.executable, "-m", "tether.cli.main"]


def tether(*args: str, stdin: str = "", env: dict[str, str] | None = None,
           timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``tether ARGS`` with ``stdin`` piped in; stdout and stderr captured."""
    return subprocess.run([*TETHER, *args], input=stdin, capture_output=True, text=True,
                          timeout=timeout, env=env or ENV, cwd=ROOT)


@contextmanager
def tether_serve(*args: str) -> Iterator[tuple[int, list[str]]]:
    """``tether serve --port P ARGS`` until the block ends; yields (port, startup lines)."""
    port = free_port()
    proc = subprocess.Popen([*TETHER, "serve", "--port", str(port), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=ENV, cwd=ROOT)
    assert proc.stdout is not None
    seen: list[str] = []
    try:
        for _ in range(20):  # log lines may come first; the banner says it is listening
            seen.append(proc.stdout.readline())
            if "server on" in seen[-1]:
                break
        else:
            raise AssertionError(f"no banner from tether serve: {seen}")
        yield port, seen
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            assert proc.wait(timeout=20) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.stdout.close()


class ThreadServer:
    """A tether server on a loop in a background thread, recording what it sees.

    ``handler(ws, self)`` is the connection handler; ``received`` collects messages
    the default handler got, ``requests`` the opening requests, ``closes`` the close
    codes of finished connections.
    """

    def __init__(self, handler: Callable[[ServerConnection, ThreadServer],
                                         Awaitable[None]] | None = None,
                 **serve_kwargs: Any) -> None:
        self.handler = handler or echo_and_record
        self.serve_kwargs = serve_kwargs
        self.received: list[str | bytes] = []
        self.requests: list[Any] = []
        self.connections: list[ServerConnection] = []
        self.closes: list[tuple[int | None, str | None]] = []
        self.port = 0
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Future[None] | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    def _run(self) -> None:
        self.loop.run_until_complete(self._main())

    async def _main(self) -> None:
        self._stop = self.loop.create_future()

        async def handler(ws: ServerConnection) -> None:
            self.requests.append(ws.request)
            self.connections.append(ws)
            try:
                await self.handler(ws, self)
            finally:
                await ws.wait_closed()
                self.closes.append((ws.close_code, ws.close_reason))

        async with serve(handler, "127.0.0.1", 0, **self.serve_kwargs) as server:
            self.port = server.port
            self._ready.set()
            await self._stop

    def call(self, coro: Awaitable[Any], timeout: float = 10) -> Any:
        """Run ``coro`` on the server's loop and return its result."""
        async def wrap() -> Any:
            return await coro

        return asyncio.run_coroutine_threadsafe(wrap(), self.loop).result(timeout)

    def __enter__(self) -> ThreadServer:
        self._thread.start()
        assert self._ready.wait(10), "test server did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._stop is not None
        self.loop.call_soon_threadsafe(self._stop.set_result, None)
        self._thread.join(10)


async def echo_and_record(ws: ServerConnection, server: ThreadServer) -> None:
    async for message in ws:
        server.received.append(message)
        await ws.send(message)
