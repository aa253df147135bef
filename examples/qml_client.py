"""Qt WebSockets' *QML WebSocket Client* example, in tether's declarative flavour.

Qt's example declares two ``WebSocket`` items in QML, one plain and one secure; a
click toggles ``active`` on both; each says hello when its status turns Open and
shows what comes back.  Here the sockets are declared with keywords, the "click"
happens at start, and the second "click" (``active = False``) when the answer came::

    python3 examples/echo_server.py --port 1234 &
    python3 examples/qml_client.py --port 1234 [--secure-port 1235 --ca localhost.pem]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from tether.signals import EventLoop, Status, WebSocket
from tether.tls import client_ssl_context


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="QtWebSockets example: qmlwebsocketclient")
    parser.add_argument("-p", "--port", type=int, default=1234, help="Port of an echo server.")
    parser.add_argument("--host", default="localhost", help="Host of the echo servers.")
    parser.add_argument("--secure-port", type=int,
                        help="Port of a wss:// echo server (ssl_echo_server.py), if any.")
    parser.add_argument("--ca", type=Path, help="Certificate (PEM) to trust for wss://.")
    args = parser.parse_args(argv)

    app = EventLoop()
    message_box: list[str] = ["Welcome!"]
    sockets: list[WebSocket] = []
    errors: list[str] = []

    def declare(url: str, hello: str, received: str, closed: str, **extra: Any) -> WebSocket:
        socket: WebSocket

        def on_text_message_received(message: str) -> None:
            message_box.append(f"{received}: {message}")
            print(message_box[-1], flush=True)
            socket.active = False  # the second click

        def on_status_changed(status: Status) -> None:
            if status is Status.ERROR:
                errors.append(socket.error_string)
                print("Error:", socket.error_string, flush=True)
            elif status is Status.OPEN:
                socket.send_text_message(hello)
            elif status is Status.CLOSED:
                message_box.append(closed)
                print(closed, flush=True)
            if status in (Status.CLOSED, Status.ERROR) and all(
                    s.status in (Status.CLOSED, Status.ERROR) for s in sockets):
                app.quit()

        socket = WebSocket(url=url, on_text_message_received=on_text_message_received,
                           on_status_changed=on_status_changed, active=False, **extra)
        sockets.append(socket)
        return socket

    declare(f"ws://{args.host}:{args.port}", "Hello World", "Received message",
            "Socket closed")
    if args.secure_port is not None:
        declare(f"wss://{args.host}:{args.secure_port}", "Hello Secure World",
                "Received secure message", "Secure socket closed",
                ssl_configuration=client_ssl_context(ca_file=args.ca) if args.ca else None)

    for socket in sockets:  # the first click
        socket.active = True
    app.exec()
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
