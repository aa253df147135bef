"""Qt WebSockets' *Echo Server* example, in tether.

Echoes every text and binary message back to its sender.  Open ``echoclient.html``
(beside this file) in a browser to talk to it, or run ``echo_client.py``::

    python3 examples/echo_server.py --port 1234

Stops on Ctrl-C or SIGTERM: the server closes, and its ``closed`` signal quits.
"""

from __future__ import annotations

import argparse
import signal
import sys

from tether.signals import EventLoop, Signal, SslMode, WebSocket, WebSocketServer, sender


class EchoServer:
    """Qt's ``EchoServer``: a ``WebSocketServer`` and the clients it took."""

    closed = Signal()

    def __init__(self, port: int, debug: bool = False, host: str = "127.0.0.1") -> None:
        self._debug = debug
        self._clients: list[WebSocket] = []
        self._server = WebSocketServer("Echo Server", SslMode.NON_SECURE_MODE)
        self.listening = self._server.listen(host, port)
        if self.listening:
            print("Echoserver listening on port", self._server.server_port, flush=True)
            self._server.new_connection.connect(self.on_new_connection)
            self._server.closed.connect(self.closed)
        else:
            print("Echoserver cannot listen:", self._server.error_string, file=sys.stderr)

    def close(self) -> None:
        self._server.close()

    def on_new_connection(self) -> None:
        socket = self._server.next_pending_connection()
        assert socket is not None
        socket.text_message_received.connect(self.process_text_message)
        socket.binary_message_received.connect(self.process_binary_message)
        socket.disconnected.connect(self.socket_disconnected)
        self._clients.append(socket)

    def process_text_message(self, message: str) -> None:
        client = sender()  # the socket whose signal called this slot, as in Qt
        if self._debug:
            print("Message received:", message, flush=True)
        client.send_text_message(message)

    def process_binary_message(self, message: bytes) -> None:
        client = sender()
        if self._debug:
            print("Binary Message received:", message, flush=True)
        client.send_binary_message(message)

    def socket_disconnected(self) -> None:
        client = sender()
        if self._debug:
            print("socketDisconnected:", client, flush=True)
        self._clients.remove(client)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="QtWebSockets example: echoserver")
    parser.add_argument("-d", "--debug", action="store_true", help="Debug output [default: off].")
    parser.add_argument("-p", "--port", type=int, default=1234,
                        help="Port for echoserver [default: 1234]; 0 picks a free one.")
    parser.add_argument("--host", default="127.0.0.1",
                        help='Address to listen on [default: 127.0.0.1; "" for all].')
    args = parser.parse_args(argv)

    app = EventLoop()
    server = EchoServer(args.port, args.debug, args.host)
    if not server.listening:
        return 1
    server.closed.connect(app.quit)
    for signum in (signal.SIGINT, signal.SIGTERM):
        app.loop.add_signal_handler(signum, server.close)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
