"""The blocking API: an echo server on a thread, and a client."""

import threading

# --8<-- [start:server]
from tether.sync import serve


def echo(ws):
    for message in ws:
        ws.send(message)
        if message == "bye":
            return                      # closes the connection with 1000


server = serve(echo, "127.0.0.1", 0)    # bound at once: server.port is known
threading.Thread(target=server.serve_forever, daemon=True).start()
# --8<-- [end:server]

# --8<-- [start:client]
from tether.sync import connect  # noqa: E402

with connect(f"ws://127.0.0.1:{server.port}/chat") as ws:
    ws.send("hello")                # str: a text message
    ws.send(b"\x00\x01")            # bytes-like: a binary message
    print(ws.recv(timeout=5))       # raises TimeoutError after 5 s without a message
    print(ws.recv(timeout=5))
    ws.send("bye")
    for message in ws:              # until the server closes the connection
        print(message)
print("closed with", ws.close_code)
# --8<-- [end:client]

server.shutdown()
