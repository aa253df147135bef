#!/usr/bin/env python3
"""The echo server the Autobahn fuzzing client tests (wstest -m fuzzingclient).

    python3 compliance/echo_server.py [--host 127.0.0.1] --port PORT [--impl tether|websockets]
        [--uvloop] [--compression | --no-compression]

Echoes every text message (str) and binary message (bytes) back unchanged, with no message
size limit.  Runs until SIGTERM or SIGINT, then closes the server and exits 0.  Prints one
"listening on ..." line once it accepts connections.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

import _impls


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback)")
    ap.add_argument("--port", type=int, required=True, help="port to listen on")
    ap.add_argument("--verbose", action="store_true", help="log at DEBUG level")
    _impls.add_common_args(ap)
    args = ap.parse_args()
    # Library warnings and errors (a handler that failed, ...) go to stderr: the run log.
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    impl = _impls.load(args.impl)
    kw = _impls.options(max_size=None, compression=args.compression)

    async def handler(ws: object) -> None:
        # Echo until the peer closes; a closed connection is the normal end of a case.
        try:
            async for msg in ws:  # type: ignore[attr-defined]
                await ws.send(msg)  # type: ignore[attr-defined]
        except impl.ConnectionClosed:
            pass

    async def serve() -> int:
        # SIGTERM/SIGINT cancel this task: leaving `async with` closes the server.
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        try:
            async with impl.serve(handler, args.host, args.port, **kw) as server:
                print(
                    f"listening on ws://{args.host}:{args.port} ({impl.name} {impl.version} "
                    f"from {impl.location}, loop {_impls.loop_name()}, options {kw})",
                    flush=True,
                )
                await server.serve_forever()
        except asyncio.CancelledError:
            print("stopped", flush=True)
        return 0

    return _impls.run(serve, args.uvloop)


if __name__ == "__main__":
    sys.exit(main())
