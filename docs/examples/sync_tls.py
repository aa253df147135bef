"""wss:// with the blocking API.

    python3 sync_tls.py fullchain.pem privkey.pem ca.pem
"""

import sys
import threading

from tether.sync import connect, serve
from tether.tls import client_ssl_context, server_ssl_context

certfile, keyfile, ca_file = sys.argv[1:4]


def handler(ws):
    for message in ws:
        ws.send(message)


# --8<-- [start:tls]
server = serve(handler, "127.0.0.1", 0, ssl=server_ssl_context(certfile, keyfile))
threading.Thread(target=server.serve_forever, daemon=True).start()

with connect(f"wss://localhost:{server.port}/",
             ssl=client_ssl_context(ca_file=ca_file)) as ws:
    ws.send("over TLS")
    print(ws.recv(timeout=5), ws.socket.version())
# --8<-- [end:tls]
server.shutdown()
