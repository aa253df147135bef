"""tether.bridge as a library: a TCP service, a program and a polled JSON API behind
one WebSocket server, routed by path.

The sample starts its own TCP echo service and JSON endpoint, serves, uses each route
as a client would, then stops itself with SIGTERM.
"""

import asyncio
import json
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import tether
from tether.bridge import HttpPoller, Router, bridge_process, bridge_tcp
from tether.pubsub import Hub
from tether.serving import ServingOptions, serve_until_signalled


class PricesAPI(BaseHTTPRequestHandler):
    """A JSON endpoint to poll, standing in for https://api.example.com/prices."""

    def do_GET(self):
        body = json.dumps({"AAPL": 189.5}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


async def tcp_echo(reader, writer):
    while data := await reader.read(65536):
        writer.write(data)
    writer.close()


async def try_routes(port):
    base = f"ws://127.0.0.1:{port}"
    async with tether.connect(f"{base}/echo") as ws:      # a TCP service: bytes both ways
        await ws.send(b"ping over TCP")
        print("/echo:", await ws.recv())
    async with tether.connect(f"{base}/upper") as ws:     # a program: lines both ways
        await ws.send("hello program")
        print("/upper:", await ws.recv())
    async with tether.connect(f"{base}/prices") as ws:    # a polled API: changes pushed
        print("/prices:", await ws.recv())                 # subscribed
        print("/prices:", await ws.recv())                 # the current value
    try:
        async with tether.connect(f"{base}/nothing"):
            pass
    except tether.InvalidStatus as exc:
        print("/nothing:", exc.status)
    os.kill(os.getpid(), signal.SIGTERM)


async def main():
    tcp = await asyncio.start_server(tcp_echo, "127.0.0.1", 0)
    tcp_port = tcp.sockets[0].getsockname()[1]
    api = ThreadingHTTPServer(("127.0.0.1", 0), PricesAPI)
    threading.Thread(target=api.serve_forever, daemon=True).start()
    api_url = f"http://127.0.0.1:{api.server_port}/prices.json"
    upper = [sys.executable, "-u", "-c",
             "import sys\nfor line in sys.stdin: print(line.upper(), end='')"]

    # --8<-- [start:router]
    hub = Hub()
    router = Router()
    router.add("/echo", lambda ws: bridge_tcp(ws, "127.0.0.1", tcp_port))
    router.add("/upper", lambda ws: bridge_process(ws, upper))
    router.topic("/prices", hub, "prices")
    poller = HttpPoller(hub, "prices", api_url, every=2)

    async def on_start(app):
        poller.start()
        asyncio.get_running_loop().create_task(try_routes(app.port))

    # health, metrics, SIGTERM drain, proxies (see the deploy guide):
    await serve_until_signalled(router, ServingOptions(port=0), on_start=on_start,
                                process_request=router.process_request)
    await poller.stop()
    # or plain: async with tether.serve(router, "127.0.0.1", 8765,
    #                                   process_request=router.process_request): ...
    # --8<-- [end:router]
    api.shutdown()
    tcp.close()


asyncio.run(main())
