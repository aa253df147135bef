"""Every example in examples/ runs, as a subprocess, over real sockets.

The ports of Qt WebSockets' examples (echo client and server, simple chat, SSL echo
client and server, QML-style client and server) and the HTML pages of the echo
server and the chat, whose JavaScript runs in Node against the Python server.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import tether.sync
from tests.support import certs
from tests.support.certs import CertBundle

tls_certs = certs.tls_certs  # the fixture

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
HTML_DRIVER = ROOT / "tests" / "signals" / "html_driver.js"
HOST = "127.0.0.1"
#: A guard against hanging forever; no test relies on it for its outcome.
GUARD = 30.0

ENV = dict(os.environ, PYTHONPATH=os.pathsep.join(
    p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH")) if p))


class Example:
    """An example running as a subprocess; its stdout read line by line."""

    def __init__(self, script: str, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(EXAMPLES / script), *args], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, env=ENV, cwd=ROOT)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def expect(self, pattern: str) -> re.Match[str]:
        """Read lines until one matches ``pattern``."""
        while True:
            try:
                line = self.lines.get(timeout=GUARD)
            except queue.Empty:
                raise AssertionError(f"no line like {pattern!r}; got {self.seen}") from None
            if line is None:
                err = self.proc.stderr.read() if self.proc.stderr else ""
                raise AssertionError(f"the example ended without {pattern!r}; got "
                                     f"{self.seen}; stderr: {err}")
            self.seen.append(line)
            match = re.search(pattern, line)
            if match:
                return match

    def stop(self) -> int:
        """SIGTERM, as Ctrl-C would do; the example closes its server and exits."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(GUARD)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        return self.proc.returncode


def serve(script: str, *args: str) -> Iterator[tuple[Example, int]]:
    example = Example(script, "--port", "0", *args)
    try:
        port = int(example.expect(r"listening on port (\d+)").group(1))
        yield example, port
    finally:
        if example.proc.poll() is None:
            assert example.stop() == 0


def run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(EXAMPLES / script), *args], capture_output=True,
                          text=True, env=ENV, cwd=ROOT, timeout=GUARD)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@pytest.fixture
def echo_server() -> Iterator[tuple[Example, int]]:
    yield from serve("echo_server.py", "--host", HOST)


@pytest.fixture
def ssl_echo_server(tls_certs: CertBundle) -> Iterator[tuple[Example, int]]:
    yield from serve("ssl_echo_server.py", "--cert", str(tls_certs.server.cert),
                     "--key", str(tls_certs.server.key))


def run_page(page: str, steps: list[Any], tmp_path: Path) -> subprocess.Popen[str]:
    """Start an HTML page's script in Node, driven by ``steps`` (see html_driver.js)."""
    steps_file = tmp_path / f"{page}.steps.json"
    steps_file.write_text(json.dumps(steps))
    return subprocess.Popen(
        ["node", "--experimental-websocket", str(HTML_DRIVER), str(EXAMPLES / page),
         str(steps_file)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finished(proc: subprocess.Popen[str]) -> str:
    out, err = proc.communicate(timeout=GUARD)
    assert proc.returncode == 0, f"{out}\n{err}"
    return out


# ---------------------------------------------------------------- echo


def test_echo_server_echoes(echo_server: tuple[Example, int]) -> None:
    _, port = echo_server
    with tether.sync.connect(f"ws://{HOST}:{port}", open_timeout=GUARD) as ws:
        ws.send("text")
        assert ws.recv(GUARD) == "text"
        ws.send(b"\x00binary")
        assert ws.recv(GUARD) == b"\x00binary"


def test_echo_client(echo_server: tuple[Example, int]) -> None:
    _, port = echo_server
    done = run("echo_client.py", "--port", str(port), "--host", HOST)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Message received: Hello, world!\n"
    debug = run("echo_client.py", "-d", "--port", str(port), "--host", HOST)
    assert debug.stdout.splitlines() == [
        f"WebSocket server: ws://{HOST}:{port}", "WebSocket connected",
        "Message received: Hello, world!"]


def test_echo_client_without_a_server() -> None:
    done = run("echo_client.py", "--port", str(free_port()), "--host", HOST)
    assert done.returncode == 1
    assert "Connection refused" in done.stderr


def test_echo_server_debug_output() -> None:
    for example, port in serve("echo_server.py", "--host", HOST, "--debug"):
        with tether.sync.connect(f"ws://{HOST}:{port}", open_timeout=GUARD) as ws:
            ws.send("logged")
            assert ws.recv(GUARD) == "logged"
        example.expect("Message received: logged")
        example.expect("socketDisconnected")


def test_echoclient_html(echo_server: tuple[Example, int], tmp_path: Path) -> None:
    _, port = echo_server
    page = run_page("echoclient.html", [
        ["set", "webSocketURL", f"ws://{HOST}:{port}"],
        ["call", "initWebSocket"],
        ["wait", "debugTextArea", "CONNECTED"],
        ["set", "inputText", "Hello from the page"],
        ["call", "sendMessage"],
        ["wait", "debugTextArea", "Message received: Hello from the page"],
        ["call", "checkSocket"],
        ["wait", "debugTextArea", "( OPEN )"],
        ["call", "stopWebSocket"],
        ["wait", "debugTextArea", "DISCONNECTED"],
        ["print", "debugTextArea"],
    ], tmp_path)
    assert finished(page).splitlines() == [
        "CONNECTED", "Message sent: Hello from the page",
        "Message received: Hello from the page", "WebSocket state = 1 ( OPEN )",
        "DISCONNECTED"]


# ---------------------------------------------------------------- simple chat


def test_simple_chat_relays_to_the_others() -> None:
    for example, port in serve("simple_chat.py", "--host", HOST):
        url = f"ws://{HOST}:{port}"
        with tether.sync.connect(url, open_timeout=GUARD) as alice, \
                tether.sync.connect(url, open_timeout=GUARD) as bob, \
                tether.sync.connect(url, open_timeout=GUARD) as carol:
            for _ in range(3):
                example.expect(r"^127\.0\.0\.1:\d+ connected!$")
            alice.send("alice: hi all")
            assert bob.recv(GUARD) == "alice: hi all"
            assert carol.recv(GUARD) == "alice: hi all"
            bob.send("bob: hi alice")
            # alice's first message is bob's: her own never came back to her
            assert alice.recv(GUARD) == "bob: hi alice"
            assert carol.recv(GUARD) == "bob: hi alice"
        for _ in range(3):
            example.expect(r"^127\.0\.0\.1:\d+ disconnected!$")


def test_chat_html(tmp_path: Path) -> None:
    for _, port in serve("simple_chat.py", "--host", HOST):
        url = f"ws://{HOST}:{port}"
        with tether.sync.connect(url, open_timeout=GUARD) as bob:
            page = run_page("chat.html", [
                ["set", "serverURL", url],
                ["call", "joinChat"],
                ["wait", "chatLog", "Please enter a name first."],
                ["set", "userName", "alice"],
                ["call", "joinChat"],
                ["wait", "chatLog", "Connected as alice."],
                ["set", "message", "hello bob"],
                ["call", "sendChat"],
                ["wait", "chatLog", "bob: hi alice"],
                ["call", "leaveChat"],
                ["wait", "chatLog", "Disconnected."],
                ["print", "chatLog"],
            ], tmp_path)
            assert bob.recv(GUARD) == "alice: hello bob"
            bob.send("bob: hi alice")
            assert finished(page).splitlines() == [
                "Please enter a name first.", "Connected as alice.", "alice: hello bob",
                "bob: hi alice", "Disconnected."]


# ---------------------------------------------------------------- SSL echo


def test_ssl_echo_server_and_client(ssl_echo_server: tuple[Example, int],
                                    tls_certs: CertBundle) -> None:
    example, port = ssl_echo_server
    ctx = tls_certs.client_context()
    with tether.sync.connect(f"wss://localhost:{port}", ssl=ctx, open_timeout=GUARD) as ws:
        ws.send(b"binary, encrypted")
        assert ws.recv(GUARD) == b"binary, encrypted"
    example.expect("Client connected: 127.0.0.1")
    done = run("ssl_echo_client.py", "--port", str(port), "--ca", str(tls_certs.ca_file))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["WebSocket connected",
                                        "Message received: Hello, world!"]


def test_ssl_echo_client_refuses_an_untrusted_server(
        ssl_echo_server: tuple[Example, int]) -> None:
    _, port = ssl_echo_server
    done = run("ssl_echo_client.py", "--port", str(port))
    assert done.returncode == 1
    assert "SSL errors: TLS certificate of the server 'localhost' is not trusted" in done.stdout
    ignoring = run("ssl_echo_client.py", "--port", str(port), "--ignore-ssl-errors")
    assert ignoring.returncode == 0, ignoring.stderr
    assert ignoring.stdout.splitlines()[1:] == ["WebSocket connected",
                                                "Message received: Hello, world!"]


def test_ssl_echo_server_makes_a_throw_away_certificate() -> None:
    example = Example("ssl_echo_server.py", "--port", "0")
    try:
        cert = example.expect(r"Throw-away certificate: (\S+)").group(1)
        port = example.expect(r"listening on port (\d+)").group(1)
        done = run("ssl_echo_client.py", "--port", port, "--ca", cert)
        assert done.returncode == 0, done.stderr
        assert "Message received: Hello, world!" in done.stdout
    finally:
        assert example.stop() == 0
    assert not Path(cert).exists()  # the key went with its temporary directory


# ---------------------------------------------------------------- QML flavour


def test_qml_client(echo_server: tuple[Example, int], ssl_echo_server: tuple[Example, int],
                    tls_certs: CertBundle) -> None:
    _, port = echo_server
    _, secure_port = ssl_echo_server
    done = run("qml_client.py", "--port", str(port), "--secure-port", str(secure_port),
               "--ca", str(tls_certs.ca_file))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert sorted(lines) == sorted([
        "Received message: Hello World", "Socket closed",
        "Received secure message: Hello Secure World", "Secure socket closed"])
    assert lines.index("Received message: Hello World") < lines.index("Socket closed")


def test_qml_client_reports_errors() -> None:
    done = run("qml_client.py", "--port", str(free_port()), "--host", HOST)
    assert done.returncode == 1
    assert done.stdout == "Error: Connection refused\n"


@pytest.mark.parametrize("port", ["0", "free"])
def test_qml_server(port: str) -> None:
    chosen = str(free_port()) if port == "free" else port
    done = run("qml_server.py", "--port", chosen)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert re.fullmatch(r"Server listening on ws://127\.0\.0\.1:\d+", lines[0])
    if port == "free":
        assert lines[0].endswith(f":{chosen}")
    assert lines[1:] == ["Server received message: Hello Server!",
                         "Client received message: Hello Client!",
                         "Client socket closed."]


# ---------------------------------------------------------------- bridge


def test_bridge_to_tcp_service_and_program() -> None:
    """examples/bridge.py in front of a real TCP echo service and ``bc``."""
    service = socket.create_server((HOST, 0))
    service_port = service.getsockname()[1]

    def echo_service() -> None:
        conn, _ = service.accept()
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data)

    threading.Thread(target=echo_service, daemon=True).start()
    with service:
        for example, port in serve("bridge.py", "--to", f"{HOST}:{service_port}",
                                   "--exec", "bc -q"):
            with tether.sync.connect(f"ws://{HOST}:{port}/tcp") as ws:
                ws.send(b"\x00\x01 raw bytes")
                assert ws.recv(timeout=GUARD) == b"\x00\x01 raw bytes"
            with tether.sync.connect(f"ws://{HOST}:{port}/exec") as ws:
                ws.send("6*7")
                assert ws.recv(timeout=GUARD) == "42"
            with pytest.raises(tether.InvalidStatus) as info:
                tether.sync.connect(f"ws://{HOST}:{port}/nothing-here")
            assert info.value.status == 404
            assert example.proc.poll() is None
