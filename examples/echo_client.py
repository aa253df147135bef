"""Qt WebSockets' *Echo Client* example, in tether.

Connects to an echo server, sends "Hello, world!", prints the answer and quits:
the same classes, signals and slots as Qt's ``echoclient``, in Python::

    python3 examples/echo_server.py --port 1234 &
    python3 examples/echo_client.py --port 1234
"""

from __future__ import annotations

import argparse
import sys

from tether.signals import EventLoop, Signal, SocketError, WebSocket


class EchoClient:
    """Qt's ``EchoClient``: opens the socket, says hello, closes on the answer."""

    closed = Signal()

    def __init__(self, url: str, debug: bool = False) -> None:
        self._debug = debug
        self.failed = False
        if debug:
            print("WebSocket server:", url)
        self._web_socket = WebSocket()
        self._web_socket.connected.connect(self.on_connected)
        self._web_socket.disconnected.connect(self.closed)
        self._web_socket.error_occurred.connect(self.on_error)
        self._web_socket.open(url)

    def on_connected(self) -> None:
        if self._debug:
            print("WebSocket connected")
        self._web_socket.text_message_received.connect(self.on_text_message_received)
        self._web_socket.send_text_message("Hello, world!")

    def on_text_message_received(self, message: str) -> None:
        print("Message received:", message, flush=True)
        self._web_socket.close()

    def on_error(self, error: SocketError) -> None:
        # Not in Qt's example, which waits forever when the server is not there.
        print("Error:", self._web_socket.error_string, file=sys.stderr)
        self.failed = True
        self.closed.emit()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="QtWebSockets example: echoclient")
    parser.add_argument("-d", "--debug", action="store_true", help="Debug output [default: off].")
    parser.add_argument("-p", "--port", type=int, default=1234, help="Port of the echo server.")
    parser.add_argument("--host", default="localhost", help="Host of the echo server.")
    args = parser.parse_args(argv)

    app = EventLoop()
    client = EchoClient(f"ws://{args.host}:{args.port}", args.debug)
    client.closed.connect(app.quit)
    app.exec()
    return 1 if client.failed else 0


if __name__ == "__main__":
    sys.exit(main())
