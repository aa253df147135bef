"""Qt WebSockets' *SSL Echo Server* example, in tether.

An echo server on wss://.  Give it a certificate and key (PEM)::

    python3 examples/ssl_echo_server.py --port 1234 --cert localhost.pem --key localhost.key

Without ``--cert``, it makes a throw-away self-signed certificate for "localhost" and
127.0.0.1 with the ``openssl`` command (no key is ever committed next to the
example) and prints where it is, for ``ssl_echo_client.py --ca``.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from tether.signals import EventLoop, Signal, SslError, SslMode, WebSocket, WebSocketServer, sender
from tether.tls import server_ssl_context


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate and key for localhost, made with openssl."""
    cert, key = directory / "localhost.pem", directory / "localhost.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True)
    return cert, key


class SslEchoServer:
    """Qt's ``SslEchoServer``: a secure ``WebSocketServer`` that echoes."""

    closed = Signal()

    def __init__(self, port: int, cert: Path, key: Path, host: str = "127.0.0.1") -> None:
        self._clients: list[WebSocket] = []
        self._server = WebSocketServer("SSL Echo Server", SslMode.SECURE_MODE)
        self._server.ssl_configuration = server_ssl_context(cert, key)
        self.listening = self._server.listen(host, port)
        if self.listening:
            print("SSL Echo Server listening on port", self._server.server_port, flush=True)
            self._server.new_connection.connect(self.on_new_connection)
            self._server.ssl_errors.connect(self.on_ssl_errors)
            self._server.closed.connect(self.closed)
        else:
            print("SSL Echo Server cannot listen:", self._server.error_string, file=sys.stderr)

    def close(self) -> None:
        self._server.close()

    def on_new_connection(self) -> None:
        socket = self._server.next_pending_connection()
        assert socket is not None
        print("Client connected:", socket.peer_address, socket.origin or "(no origin)",
              flush=True)
        socket.text_message_received.connect(self.process_text_message)
        socket.binary_message_received.connect(self.process_binary_message)
        socket.disconnected.connect(self.socket_disconnected)
        self._clients.append(socket)

    def process_text_message(self, message: str) -> None:
        sender().send_text_message(message)

    def process_binary_message(self, message: bytes) -> None:
        sender().send_binary_message(message)

    def socket_disconnected(self) -> None:
        print("Client disconnected", flush=True)
        self._clients.remove(sender())

    def on_ssl_errors(self, errors: list[SslError]) -> None:
        print("Ssl errors occurred:", "; ".join(e.error_string for e in errors), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="QtWebSockets example: sslechoserver")
    parser.add_argument("-p", "--port", type=int, default=1234,
                        help="Port for the server [default: 1234]; 0 picks a free one.")
    parser.add_argument("--host", default="127.0.0.1",
                        help='Address to listen on [default: 127.0.0.1; "" for all].')
    parser.add_argument("--cert", type=Path, help="Certificate chain, PEM.")
    parser.add_argument("--key", type=Path, help="Private key, PEM.")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="tether-ssl-echo-") as tmp:
        if args.cert is None:
            args.cert, args.key = make_certificate(Path(tmp))
            print("Throw-away certificate:", args.cert, flush=True)
        app = EventLoop()
        server = SslEchoServer(args.port, args.cert, args.key, args.host)
        if not server.listening:
            return 1
        server.closed.connect(app.quit)
        for signum in (signal.SIGINT, signal.SIGTERM):
            app.loop.add_signal_handler(signum, server.close)
        return app.exec()


if __name__ == "__main__":
    sys.exit(main())
