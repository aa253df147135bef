"""Answer plain HTTP before the handshake: a health check and a token."""

import threading
import urllib.request

import tether
from tether.sync import connect, serve


def echo(ws):
    for message in ws:
        ws.send(message)


# --8<-- [start:hook]
def process_request(connection, request):
    if request.target == "/healthz":
        return connection.respond(200, "OK\n")
    if request.headers.get("Authorization") != "Bearer s3cret":
        return connection.respond(401, "Who are you?\n")
    return None
# --8<-- [end:hook]


with serve(echo, "127.0.0.1", 0, process_request=process_request) as server:
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"127.0.0.1:{server.port}"

    with urllib.request.urlopen(f"http://{base}/healthz", timeout=5) as answer:
        print("healthz:", answer.status, answer.read().decode().strip())

    try:
        connect(f"ws://{base}/")
    except tether.InvalidStatus as exc:
        print("no token:", exc.status)

    with connect(f"ws://{base}/", additional_headers={"Authorization": "Bearer s3cret"}) as ws:
        ws.send("with a token")
        print("token:", ws.recv(timeout=5))
