"""Qt WebSockets' *SSL Echo Client* example, in tether.

Connects to ``wss://localhost:PORT``, sends "Hello, world!", prints the answer and
quits.  As in Qt's example, the server's certificate is trusted explicitly::

    python3 examples/ssl_echo_client.py --port 1234 --ca localhost.pem

On TLS errors it prints them and quits -- unless ``--ignore-ssl-errors`` makes its
``ssl_errors`` slot call ``ignore_ssl_errors()`` (what Qt 5's version of the example
did; never do that in production: anyone on the path could read the traffic).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tether.signals import EventLoop, SocketError, SslError, WebSocket
from tether.tls import client_ssl_context


class SslEchoClient:
    """Qt's ``SslEchoClient``."""

    def __init__(self, url: str, app: EventLoop, ca: Path | None,
                 ignore_ssl_errors: bool = False) -> None:
        self._app = app
        self._ignore = ignore_ssl_errors
        self._web_socket = WebSocket()
        self._web_socket.connected.connect(self.on_connected)
        self._web_socket.disconnected.connect(app.quit)
        self._web_socket.ssl_errors.connect(self.on_ssl_errors)
        self._web_socket.error_occurred.connect(self.on_error)
        if ca is not None:
            self._web_socket.ssl_configuration = client_ssl_context(ca_file=ca)
        self._web_socket.open(url)

    def on_connected(self) -> None:
        print("WebSocket connected", flush=True)
        self._web_socket.text_message_received.connect(self.on_text_message_received)
        self._web_socket.send_text_message("Hello, world!")

    def on_text_message_received(self, message: str) -> None:
        print("Message received:", message, flush=True)
        self._web_socket.close()  # then disconnected quits

    def on_ssl_errors(self, errors: list[SslError]) -> None:
        print("SSL errors:", "; ".join(e.error_string for e in errors), flush=True)
        if self._ignore:
            # WARNING: never ignore SSL errors in production code.  The proper way to
            # handle a self-signed certificate is to trust it (--ca).
            self._web_socket.ignore_ssl_errors()
        else:
            self._app.exit(1)

    def on_error(self, error: SocketError) -> None:
        print("Error:", self._web_socket.error_string, file=sys.stderr, flush=True)
        self._app.exit(1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="QtWebSockets example: sslechoclient")
    parser.add_argument("-p", "--port", type=int, default=1234, help="Port of the server.")
    parser.add_argument("--host", default="localhost", help="Host of the server.")
    parser.add_argument("--ca", type=Path, help="Certificate (PEM) to trust for the server.")
    parser.add_argument("--ignore-ssl-errors", action="store_true",
                        help="Go on despite TLS errors (insecure: for testing only).")
    args = parser.parse_args(argv)

    app = EventLoop()
    SslEchoClient(f"wss://{args.host}:{args.port}", app, args.ca, args.ignore_ssl_errors)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
