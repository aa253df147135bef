"""Qt's own WebSockets (PySide6's QtWebSockets), as a peer for tether's interop tests.

Run as a subprocess with ``QT_QPA_PLATFORM=offscreen``; it prints one JSON object
per line on stdout.

``qt_peer.py server``
    A ``QWebSocketServer`` on 127.0.0.1 (subprotocols "chat", "superchat"); prints
    ``{"port": N}``, then ``{"event": "closed", "path": ..., "code": ..., "reason": ...}``
    as connections end.  It echoes text and binary, and obeys the commands of
    tests/signals/echo.py: ``close CODE REASON``, ``big N``, ``ping PAYLOAD`` (answers
    ``pong PAYLOAD`` once the pong came), ``whoami``, ``frames?``, and
    ``frag SIZE TEXT`` (sends TEXT in frames of SIZE).  Ends when stdin closes.

``qt_peer.py client URL CLOSE``
    A ``QWebSocket`` that offers subprotocols "superchat" and "chat", sends a text, a
    binary message and a ping, then closes: with 4000 "qt bye" when CLOSE is
    ``client``, or by asking the server (``close 4002 tether bye``) when it is
    ``server``.  Prints every event; exits when disconnected.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from PySide6.QtCore import QByteArray, QCoreApplication, QSocketNotifier, QTimer, QUrl
from PySide6.QtNetwork import QHostAddress
from PySide6.QtWebSockets import (
    QWebSocket,
    QWebSocketHandshakeOptions,
    QWebSocketProtocol,
    QWebSocketServer,
)

GUARD_MS = 20000


def emit(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


def code_of(value: Any) -> int:
    return int(getattr(value, "value", value))


class Server:
    def __init__(self, app: QCoreApplication) -> None:
        self.server = QWebSocketServer("Qt Peer", QWebSocketServer.SslMode.NonSecureMode)
        self.server.setSupportedSubprotocols(["chat", "superchat"])
        self.sockets: list[QWebSocket] = []
        self.frames: dict[int, list[int]] = {}
        if not self.server.listen(QHostAddress(QHostAddress.SpecialAddress.LocalHost), 0):
            emit(error=self.server.errorString())
            app.exit(1)
            return
        self.server.newConnection.connect(self.on_new_connection)
        emit(port=self.server.serverPort())

    def on_new_connection(self) -> None:
        sock = self.server.nextPendingConnection()
        self.sockets.append(sock)
        counts: list[int] = []
        current = [0]

        def on_frame(frame: Any, is_last: bool) -> None:
            current[0] += 1
            if is_last:
                counts.append(current[0])
                current[0] = 0

        def on_text(message: str) -> None:
            self.on_text(sock, counts, message)

        sock.textFrameReceived.connect(on_frame)
        sock.binaryFrameReceived.connect(on_frame)
        sock.textMessageReceived.connect(on_text)
        sock.binaryMessageReceived.connect(sock.sendBinaryMessage)
        sock.pong.connect(lambda elapsed, payload: sock.sendTextMessage(
            "pong " + bytes(payload.data()).decode()))
        sock.disconnected.connect(lambda: emit(
            event="closed", path=sock.requestUrl().path(), code=code_of(sock.closeCode()),
            reason=sock.closeReason()))

    def on_text(self, sock: QWebSocket, counts: list[int], message: str) -> None:
        verb, _, rest = message.partition(" ")
        if verb == "close":
            code, _, reason = rest.partition(" ")
            sock.close(QWebSocketProtocol.CloseCode(int(code)), reason)
        elif verb == "ping" and rest:
            sock.ping(QByteArray(rest.encode()))
        elif message == "whoami":
            sock.sendTextMessage(json.dumps({
                "origin": sock.origin() or None, "subprotocol": sock.subprotocol() or None,
                "path": sock.requestUrl().path()}))
        elif verb == "big":
            sock.sendTextMessage("x" * int(rest))
        elif message == "frames?":
            sock.sendTextMessage(str(counts[-2]))  # the message before this one
        elif verb == "frag":
            size, _, text = rest.partition(" ")
            sock.setOutgoingFrameSize(int(size))
            sock.sendTextMessage(text)
            sock.setOutgoingFrameSize(512 * 1024)
        else:
            sock.sendTextMessage(message)


class Client:
    def __init__(self, app: QCoreApplication, url: str, closer: str) -> None:
        self.app = app
        self.closer = closer
        self.ws = QWebSocket()
        self.ws.connected.connect(self.on_connected)
        self.ws.textMessageReceived.connect(self.on_text)
        self.ws.binaryMessageReceived.connect(self.on_binary)
        self.ws.pong.connect(self.on_pong)
        self.ws.errorOccurred.connect(
            lambda error: emit(event="error", error=self.ws.errorString()))
        self.ws.disconnected.connect(self.on_disconnected)
        options = QWebSocketHandshakeOptions()
        options.setSubprotocols(["superchat", "chat"])
        self.ws.open(QUrl(url), options)
        self.got = 0

    def on_connected(self) -> None:
        emit(event="connected", subprotocol=self.ws.subprotocol() or None)
        self.ws.sendTextMessage("hello from Qt")
        self.ws.sendBinaryMessage(QByteArray(b"\x00\x01\xfe\xff"))
        self.ws.ping(QByteArray(b"qt ping"))

    def on_text(self, message: str) -> None:
        emit(event="text", data=message)
        self.step()

    def on_binary(self, message: QByteArray) -> None:
        emit(event="binary", data=bytes(message.data()).hex())
        self.step()

    def on_pong(self, elapsed: int, payload: QByteArray) -> None:
        emit(event="pong", data=bytes(payload.data()).decode())
        self.step()

    def step(self) -> None:
        self.got += 1
        if self.got == 3:  # text echo, binary echo and pong all came
            if self.closer == "client":
                self.ws.close(QWebSocketProtocol.CloseCode(4000), "qt bye")
            else:
                self.ws.sendTextMessage("close 4002 tether bye")

    def on_disconnected(self) -> None:
        emit(event="disconnected", code=code_of(self.ws.closeCode()),
             reason=self.ws.closeReason())
        self.app.quit()


def main() -> int:
    app = QCoreApplication(sys.argv[:1])
    peer: Any
    if sys.argv[1] == "server":
        peer = Server(app)
        stdin = QSocketNotifier(sys.stdin.fileno(), QSocketNotifier.Type.Read)

        def on_stdin() -> None:
            if not sys.stdin.buffer.read1(1024):
                app.quit()

        stdin.activated.connect(on_stdin)
        peer.stdin = stdin
    else:
        QTimer.singleShot(GUARD_MS, lambda: app.exit(2))  # never hang a test
        peer = Client(app, sys.argv[2], sys.argv[3])
    code = app.exec()
    del peer
    return code


if __name__ == "__main__":
    sys.exit(main())
