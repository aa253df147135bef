"""Qt WebSockets' *Simple Chat* example, in tether.

A chat server: every text message a client sends goes to all the other clients.
Open ``chat.html`` (beside this file) in a few browser tabs to chat::

    python3 examples/simple_chat.py --port 1234
"""

from __future__ import annotations

import argparse
import signal
import sys

from tether.signals import EventLoop, Signal, SslMode, WebSocket, WebSocketServer, sender


def identifier(socket: WebSocket) -> str:
    return f"{socket.peer_address}:{socket.peer_port}"


class ChatServer:
    """Qt's ``ChatServer``: relays each message to every other client."""

    closed = Signal()

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self._clients: list[WebSocket] = []
        self._server = WebSocketServer("Chat Server", SslMode.NON_SECURE_MODE)
        self.listening = self._server.listen(host, port)
        if self.listening:
            print("Chat Server listening on port", self._server.server_port, flush=True)
            self._server.new_connection.connect(self.on_new_connection)
            self._server.closed.connect(self.closed)
        else:
            print("Chat Server cannot listen:", self._server.error_string, file=sys.stderr)

    def close(self) -> None:
        self._server.close()

    def on_new_connection(self) -> None:
        socket = self._server.next_pending_connection()
        assert socket is not None
        print(identifier(socket), "connected!", flush=True)
        socket.text_message_received.connect(self.process_message)
        socket.disconnected.connect(self.socket_disconnected)
        self._clients.append(socket)

    def process_message(self, message: str) -> None:
        source = sender()
        for client in self._clients:
            if client is not source:  # don't echo the message back to its sender
                client.send_text_message(message)

    def socket_disconnected(self) -> None:
        client = sender()
        print(identifier(client), "disconnected!", flush=True)
        self._clients.remove(client)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="QtWebSockets example: simplechat")
    parser.add_argument("-p", "--port", type=int, default=1234,
                        help="Port for the chat server [default: 1234]; 0 picks a free one.")
    parser.add_argument("--host", default="127.0.0.1",
                        help='Address to listen on [default: 127.0.0.1; "" for all].')
    args = parser.parse_args(argv)

    app = EventLoop()
    server = ChatServer(args.port, args.host)
    if not server.listening:
        return 1
    server.closed.connect(app.quit)
    for signum in (signal.SIGINT, signal.SIGTERM):
        app.loop.add_signal_handler(signum, server.close)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
