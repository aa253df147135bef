"""tether.serving in your own program: health, readiness, forwarded addresses, drain.

The program serves, checks itself as a load balancer and a client would, then sends
itself SIGTERM: the client is closed with 1001 and the program exits 0.
"""

import asyncio
import os
import signal
import sys

import tether

# --8<-- [start:serving]
from tether.serving import ServingOptions, TrustedProxies, run, serve_until_signalled


async def handler(ws):
    await ws.send(f"hello, {ws.remote_address[0]}")   # the client's address, from the proxy
    async for message in ws:
        await ws.send(message)


options = ServingOptions(host="127.0.0.1", port=0, grace=5,
                         trusted_proxies=TrustedProxies.parse("127.0.0.1/32"))
# --8<-- [end:serving]


async def http_get(port, path):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
    answer = (await reader.read()).decode()
    writer.close()
    return answer.split("\r\n", 1)[0] + " " + answer.rsplit("\r\n", 1)[-1].strip()


async def check(app):
    print("healthz:", await http_get(app.port, "/healthz"), flush=True)
    print("readyz:", await http_get(app.port, "/readyz"), flush=True)
    headers = {"X-Forwarded-For": "203.0.113.5"}          # as nginx would add it
    async with tether.connect(f"ws://127.0.0.1:{app.port}/", additional_headers=headers) as ws:
        print(await ws.recv(), flush=True)
        os.kill(os.getpid(), signal.SIGTERM)              # what systemd or Kubernetes send
        try:
            await ws.recv()
        except tether.ConnectionClosedOK as exc:
            print("closed:", exc.rcvd_code, exc.rcvd_reason, flush=True)


async def on_start(app):
    asyncio.get_running_loop().create_task(check(app))


# --8<-- [start:run]
# One process; with options.workers = 4, four processes share the port (SO_REUSEPORT).
status = run(lambda sock: serve_until_signalled(handler, options, sock=sock,
                                                on_start=on_start), options)
print("exit status:", status)
sys.exit(status)
# --8<-- [end:run]
