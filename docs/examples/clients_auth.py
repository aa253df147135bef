"""HTTP authentication: Basic from auth= (or ws://user:pass@host/), bearer in a header.

    python3 clients_auth.py
"""

import asyncio

import tether
from tether.auth import basic_auth, bearer_auth


async def hello(ws):
    await ws.send(f"hello {ws.username}")


async def main():
    users = basic_auth({"alice": "s3cret"}, realm="chat")
    async with tether.serve(hello, "127.0.0.1", 0, process_request=users) as server:
        url = f"ws://127.0.0.1:{server.port}/"
        try:
            await tether.connect(url)
        except tether.InvalidStatus as exc:          # 401, with the server's challenge
            print(exc.status, "realm:", exc.realm)
        async with tether.connect(url, auth=("alice", "s3cret")) as ws:
            print(await ws.recv())                   # hello alice

    tokens = bearer_auth({"t0k3n": "billing-service"})
    async with tether.serve(hello, "127.0.0.1", 0, process_request=tokens) as server:
        url = f"ws://127.0.0.1:{server.port}/"
        headers = {"Authorization": "Bearer t0k3n"}
        async with tether.connect(url, additional_headers=headers) as ws:
            print(await ws.recv())                   # hello billing-service


asyncio.run(main())
