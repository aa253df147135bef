"""Redirects: the client follows 301/302/303/307/308 (up to max_redirects).

    python3 clients_redirects.py
"""

import asyncio

import tether


def moved(connection, request):
    if request.target == "/old":
        return tether.basic_http_response(301, "moved", headers={"Location": "/new"})
    return None


async def handler(ws):
    await ws.send(f"welcome to {ws.request.target}")


async def main():
    async with tether.serve(handler, "127.0.0.1", 0, process_request=moved) as server:
        url = f"ws://127.0.0.1:{server.port}/old"
        async with tether.connect(url) as ws:
            print(await ws.recv())                   # welcome to /new
        try:
            await tether.connect(url, max_redirects=0)
        except tether.InvalidStatus as exc:
            print("not followed:", exc.status, exc.location)


asyncio.run(main())
