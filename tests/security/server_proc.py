"""A tether echo server in its own process, so that tests can sample its RSS.

``python3 -m tests.security.server_proc '<json options>'`` prints the port on its
first line of output, then serves until killed.  The JSON object holds keyword
arguments for :func:`tether.serve`, plus ``handler`` ("echo", "stall" or "hold"),
``basic_users``, ``bearer_tokens`` (auth hooks from :mod:`tether.auth`) and ``port``.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from typing import Any

import tether
from tether.auth import basic_auth, bearer_auth


async def echo(ws: tether.ServerConnection) -> None:
    async for message in ws:
        if message == "stall":
            time.sleep(0.5)  # block the event loop: an "event-loop stall"
        await ws.send(message)


async def hold(ws: tether.ServerConnection) -> None:
    """On /hold never reads (messages pile up to max_queue, then the server stops
    reading); elsewhere echoes."""
    if ws.path == "/hold":
        await ws.wait_closed()
    else:
        await echo(ws)


async def main(options: dict[str, Any]) -> None:
    handler = {"echo": echo, "stall": echo, "hold": hold}[options.pop("handler", "echo")]
    port = options.pop("port", 0)
    users = options.pop("basic_users", None)
    tokens = options.pop("bearer_tokens", None)
    if users is not None:
        options["process_request"] = basic_auth(users)
    elif tokens is not None:
        options["process_request"] = bearer_auth(tokens)
    async with tether.serve(handler, "127.0.0.1", port, **options) as server:
        print(server.port, flush=True)
        await asyncio.Future()


def raise_fd_limit() -> int:
    """Raise RLIMIT_NOFILE to its hard limit (10,000 connections need 10,000 fds)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


if __name__ == "__main__":
    raise_fd_limit()
    asyncio.run(main(json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}))
