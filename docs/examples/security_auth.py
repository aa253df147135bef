"""Basic, bearer and callable authentication in process_request."""

import asyncio
import base64

import tether
from tether.auth import basic_auth, bearer_auth, callable_auth, compare_secret, hash_password


async def handler(ws):
    await ws.send(f"hello, {ws.username}")


def my_check(connection, request):
    """A check of your own: a name (or True) to go on, a false value for 401."""
    key = request.headers.get("X-Api-Key") or ""
    return "robot" if compare_secret(key, "k-42") else None


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def attempt(port, label, headers):
    try:
        async with tether.connect(f"ws://127.0.0.1:{port}/", additional_headers=headers) as ws:
            print(f"{label}: {await ws.recv()}")
    except tether.InvalidStatus as exc:
        print(f"{label}: {exc.status} ({exc.header('WWW-Authenticate')})")


async def main():
    host = "127.0.0.1"
    # --8<-- [start:auth]
    users = {"alice": hash_password("correct horse battery staple")}
    async with (
        tether.serve(handler, host, 0, process_request=basic_auth(users)) as a,
        tether.serve(handler, host, 0, process_request=bearer_auth({"tok-123": "service-a"})) as b,
        tether.serve(handler, host, 0, process_request=callable_auth(my_check)) as c,  # or async
    ):
        # --8<-- [end:auth]
        await attempt(a.port, "basic, right password",
                      {"Authorization": basic("alice", "correct horse battery staple")})
        await attempt(a.port, "basic, wrong password", {"Authorization": basic("alice", "guess")})
        await attempt(b.port, "bearer", {"Authorization": "Bearer tok-123"})
        await attempt(b.port, "no token", {})
        await attempt(c.port, "api key", {"X-Api-Key": "k-42"})


asyncio.run(main())
