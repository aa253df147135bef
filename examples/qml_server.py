"""Qt WebSockets' *QML WebSocket Server* example, in tether's declarative flavour.

A ``WebSocketServer`` and a ``WebSocket`` declared side by side: the socket connects
to the server's ``url``, says "Hello Server!" (the click, in Qt's example), the
server answers "Hello Client!", and the client socket is closed::

    python3 examples/qml_server.py --port 1234
"""

from __future__ import annotations

import argparse
import sys

from tether.signals import EventLoop, Status, WebSocket, WebSocketServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="QtWebSockets example: qmlwebsocketserver")
    parser.add_argument("-p", "--port", type=int, default=0,
                        help="Port for the server [default: 0, a free one].")
    args = parser.parse_args(argv)

    app = EventLoop()
    failed: list[str] = []

    def append_message(message: str) -> None:
        print(message, flush=True)

    def on_client_connected(web_socket: WebSocket) -> None:
        def on_text(message: str) -> None:
            append_message(f"Server received message: {message}")
            web_socket.send_text_message("Hello Client!")

        web_socket.text_message_received.connect(on_text)

    def on_server_error(error_string: str) -> None:
        failed.append(error_string)
        append_message(f"Server error: {error_string}")

    server = WebSocketServer(
        host="127.0.0.1", port=args.port, listen=True,
        on_client_connected=on_client_connected,
        on_error_string_changed=on_server_error,
    )
    if not server.listening:
        return 1
    append_message(f"Server listening on {server.url}")

    def on_client_text(message: str) -> None:
        append_message(f"Client received message: {message}")
        socket.active = False

    def on_status_changed(status: Status) -> None:
        if status is Status.ERROR:
            failed.append(socket.error_string)
            append_message(f"Client error: {socket.error_string}")
            app.exit(1)
        elif status is Status.OPEN:
            socket.send_text_message("Hello Server!")  # the click
        elif status is Status.CLOSED:
            append_message("Client socket closed.")
            server.close()
            app.quit()

    socket = WebSocket(url=server.url, on_text_message_received=on_client_text,
                       on_status_changed=on_status_changed)
    app.single_shot(100, lambda: setattr(socket, "active", True))  # QML's Timer
    app.exec()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
