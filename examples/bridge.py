"""A WebSocket face for services that have none: a TCP service and a program, by path.

    python3 examples/bridge.py --port 8080 --to 127.0.0.1:7 --exec "bc -q"

ws://127.0.0.1:8080/tcp  each connection gets its own TCP connection to --to; binary
                         messages carry the bytes both ways
ws://127.0.0.1:8080/exec each connection starts --exec; text messages are its stdin
                         lines, its stdout lines come back as text messages

The same as ``tether bridge --route /tcp=tcp://... --route /exec=exec:...``, written out
with the library (tether.bridge) so it can be adapted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

import tether
from tether.asyncio import ServerConnection
from tether.bridge import Router, bridge_process, bridge_tcp


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--to", required=True, metavar="HOST:PORT", help="the TCP service")
    parser.add_argument("--exec", required=True, metavar="COMMAND", help="the program")
    args = parser.parse_args()
    tcp_host, _, tcp_port = args.to.rpartition(":")

    async def tcp(ws: ServerConnection) -> None:
        await bridge_tcp(ws, tcp_host, int(tcp_port))

    async def program(ws: ServerConnection) -> None:
        await bridge_process(ws, args.exec)

    router = Router()
    router.add("/tcp", tcp)
    router.add("/exec", program)
    async with tether.serve(router, args.host, args.port,
                            process_request=router.process_request) as server:
        print(f"bridge listening on port {server.port}", flush=True)
        stop = asyncio.get_running_loop().create_future()
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, stop.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await stop


if __name__ == "__main__":
    asyncio.run(main())
