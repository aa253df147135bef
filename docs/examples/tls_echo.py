"""A wss:// server and its clients, with a private CA.

    python3 tls_echo.py fullchain.pem privkey.pem ca.pem

The certificate must be valid for "localhost" and 127.0.0.1; ca.pem is the CA
that signed it (not in the system's trust store: a private CA).
"""

import asyncio
import ssl
import sys
import warnings

import tether
from tether.tls import client_ssl_context, server_ssl_context

certfile, keyfile, ca_file = sys.argv[1:4]


async def handler(ws):
    async for message in ws:
        await ws.send(message)


async def main():
    # --8<-- [start:server]
    ctx = server_ssl_context(certfile, keyfile)   # password="..." for an encrypted key

    async with tether.serve(handler, "127.0.0.1", 0, ssl=ctx) as server:
        port = server.port
        # --8<-- [end:server]

        # --8<-- [start:own-ca]
        ctx = client_ssl_context(ca_file=ca_file)    # trusted as well as the system CAs
        async with tether.connect(f"wss://localhost:{port}/", ssl=ctx) as ws:
            await ws.send("over TLS")
            print("private CA:", await ws.recv())
        # --8<-- [end:own-ca]

        # --8<-- [start:server-hostname]
        # Connect by address, check the certificate against a name.
        async with tether.connect(f"wss://127.0.0.1:{port}/",
                                  ssl=client_ssl_context(ca_file=ca_file),
                                  server_hostname="localhost") as ws:
            await ws.send("by address")
            print("server_hostname:", await ws.recv())
        # --8<-- [end:server-hostname]

        # --8<-- [start:default-trust]
        # No ssl=: the system's CAs, which don't know the private CA.
        try:
            async with tether.connect(f"wss://localhost:{port}/"):
                pass
        except ssl.SSLCertVerificationError as exc:
            print("system CAs:", str(exc).split(":")[0])
        # --8<-- [end:default-trust]

        # --8<-- [start:insecure]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            insecure = client_ssl_context(insecure=True)        # warns: UserWarning
        print("insecure warns:", caught[0].category.__name__)
        async with tether.connect(f"wss://localhost:{port}/", ssl=insecure) as ws:
            await ws.send("nobody checked who I talk to")
            print("insecure:", await ws.recv())
        # --8<-- [end:insecure]


asyncio.run(main())
