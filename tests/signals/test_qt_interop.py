"""Interop with Qt itself: tether against Qt's QtWebSockets (PySide6), both ways.

Qt runs in a subprocess (tests/signals/qt_peer.py, ``QT_QPA_PLATFORM=offscreen``):

- tether's three client APIs (the drivers of tests/test_api_parity.py) against a
  ``QWebSocketServer``: subprotocol, text, binary, fragments, ping/pong, close codes
  and reasons both ways, the size limit;
- Qt's ``QWebSocket`` client against tether's servers (the asyncio one and the
  Qt-style ``WebSocketServer``): the same, seen from the other side.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.test_api_parity import APIS
from tether.signals import EventLoop, WebSocket, WebSocketServer, sender

from .conftest import GUARD, HOST, Recorder
from .echo import SUBPROTOCOLS, EchoServer

PEER = Path(__file__).with_name("qt_peer.py")
ROOT = Path(__file__).resolve().parents[2]
QT_ENV = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=os.pathsep.join(
    p for p in (str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH")) if p))


class QtServer:
    """qt_peer.py's QWebSocketServer, running until stdin closes."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, str(PEER), "server"], env=QT_ENV,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.closes: dict[str, tuple[int, str]] = {}
        threading.Thread(target=self._read, daemon=True).start()
        first = self.events.get(timeout=GUARD)
        assert "port" in first, first
        self.url = f"ws://{HOST}:{first['port']}"

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.events.put(json.loads(line))

    def closed(self, path: str) -> tuple[int, str]:
        while path not in self.closes:
            event = self.events.get(timeout=GUARD)
            self.closes[event["path"]] = (event["code"], event["reason"])
        return self.closes[path]

    def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        assert self.proc.wait(GUARD) == 0


@pytest.fixture(scope="module")
def qt_server() -> Iterator[QtServer]:
    server = QtServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=list(APIS))
def client(request: pytest.FixtureRequest) -> Iterator[Any]:
    driver = APIS[request.param]()
    try:
        yield driver
    finally:
        driver.finish()


@pytest.fixture
def path(request: pytest.FixtureRequest) -> str:
    return "/" + request.node.name.replace("[", "/").rstrip("]")


# ---------------------------------------------------------------- tether clients, Qt server


def test_subprotocol_from_qt(client: Any, qt_server: QtServer, path: str) -> None:
    client.open(qt_server.url + path, subprotocols=["superchat"])
    assert client.subprotocol == "superchat"
    client.send("whoami")
    assert json.loads(client.recv()) == {"origin": None, "subprotocol": "superchat",
                                         "path": path}


def test_text_and_binary_with_qt(client: Any, qt_server: QtServer, path: str) -> None:
    client.open(qt_server.url + path)
    for message in ("héllo Qt", b"\x00\x01\xfe\xff", "", b"", "x" * 70000):
        client.send(message)
        assert client.recv() == message


def test_fragments_with_qt(client: Any, qt_server: QtServer, path: str) -> None:
    client.open(qt_server.url + path)
    client.send_fragments(["abc", "def", "ghi"])
    assert client.recv() == "abcdefghi"
    client.send("frames?")
    assert int(client.recv()) >= 3
    client.send("frag 4 fragmented by Qt")
    assert client.recv() == "fragmented by Qt"


def test_ping_pong_with_qt(client: Any, qt_server: QtServer, path: str) -> None:
    client.open(qt_server.url + path)
    assert client.ping(b"tether ping") == b"tether ping"
    client.send("ping from-qt")  # Qt pings; tether's engine answers
    assert client.recv() == "pong from-qt"


def test_tether_closes_qt(client: Any, qt_server: QtServer, path: str) -> None:
    client.open(qt_server.url + path)
    assert client.close(4001, "tether bye") == (4001, "tether bye")
    assert qt_server.closed(path) == (4001, "tether bye")


def test_qt_closes_tether(client: Any, qt_server: QtServer, path: str) -> None:
    client.open(qt_server.url + path)
    client.send("close 4002 qt bye")
    assert client.wait_closed() == (4002, "qt bye")
    assert qt_server.closed(path) == (4002, "qt bye")


def test_too_big_from_qt(client: Any, qt_server: QtServer, path: str) -> None:
    client.open(qt_server.url + path, max_size=1000)
    client.send("big 1001")
    assert client.wait_closed()[0] == 1009
    assert qt_server.closed(path)[0] == 1009


def test_frame_signals_from_qt(qt_server: QtServer, app: EventLoop, rec: Recorder) -> None:
    ws = WebSocket(loop=app)
    rec.watch(ws, "connected", "text_frame_received", "text_message_received", "disconnected")
    ws.open(qt_server.url + "/frame-signals")
    rec.wait("connected")
    ws.send_text_message("frag 3 abcdefgh")
    assert rec.wait("text_message_received") == ("abcdefgh",)
    assert rec.args("text_frame_received") == [("abc", False), ("def", False), ("gh", True)]
    ws.close()
    rec.wait("disconnected")


# ---------------------------------------------------------------- Qt client, tether servers


def run_qt_client(url: str, closer: str) -> list[dict[str, Any]]:
    done = subprocess.run([sys.executable, str(PEER), "client", url, closer], env=QT_ENV,
                          capture_output=True, text=True, timeout=GUARD)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


class SignalsEchoServer:
    """tether's Qt-style WebSocketServer, echoing and obeying the echo.py commands
    that the Qt client uses."""

    def __init__(self) -> None:
        self.app = EventLoop()
        self.app.start()
        self.server = WebSocketServer("tether", loop=self.app,
                                      supported_subprotocols=SUBPROTOCOLS)
        self.server.new_connection.connect(self.on_new_connection)
        self.rec = Recorder()
        assert self.server.listen(HOST, 0)
        self.url = self.server.server_url

    def on_new_connection(self) -> None:
        ws = self.server.next_pending_connection()
        assert ws is not None
        ws.text_message_received.connect(self.on_text)
        ws.binary_message_received.connect(ws.send_binary_message)
        ws.disconnected.connect(
            lambda: self.rec._record("closed", ws.resource_name, ws.close_code, ws.close_reason))

    def on_text(self, message: str) -> None:
        ws: WebSocket = sender()
        if message.startswith("close "):
            _, code, reason = message.split(" ", 2)
            ws.close(int(code), reason)
        else:
            ws.send_text_message(message)

    def closed(self, path: str) -> tuple[int, str]:
        self.rec.wait("closed")
        (got_path, code, reason), = self.rec.args("closed")
        assert got_path == path
        return code, reason

    def stop(self) -> None:
        self.server.close()
        self.app.close()


@pytest.fixture(params=["asyncio", "signals"])
def tether_server(request: pytest.FixtureRequest) -> Iterator[Any]:
    if request.param == "asyncio":
        with EchoServer() as server:
            yield server
    else:
        server = SignalsEchoServer()
        try:
            yield server
        finally:
            server.stop()


@pytest.mark.parametrize("closer", ["client", "server"])
def test_qt_client_against_tether(tether_server: Any, closer: str) -> None:
    path = f"/qt-client-{closer}"
    events = run_qt_client(tether_server.url + path, closer)
    assert events[0] == {"event": "connected", "subprotocol": "chat"}  # the server's choice
    middle = sorted(json.dumps(e) for e in events[1:4])
    assert middle == sorted(json.dumps(e) for e in [
        {"event": "text", "data": "hello from Qt"},
        {"event": "binary", "data": "0001feff"},
        {"event": "pong", "data": "qt ping"}])
    if closer == "client":
        assert events[4:] == [{"event": "disconnected", "code": 4000, "reason": "qt bye"}]
        assert tether_server.closed(path) == (4000, "qt bye")
    else:
        assert events[4:] == [{"event": "disconnected", "code": 4002, "reason": "tether bye"}]
        assert tether_server.closed(path) == (4002, "tether bye")
