"""``tether connect`` in a terminal: a pseudo-terminal, real keystrokes, a real server.

The keystrokes go through GNU readline in the program (line editing, history); the
server records what it received, which is what the editing must get right.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import pty
import re
import select
import signal
import struct
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.cli_support import ENV, ROOT, ThreadServer
from tether.asyncio import ServerConnection

pytest.importorskip("readline")

UP, LEFT = "\x1b[A", "\x1b[D"
BACKSPACE, CTRL_C, CTRL_D = "\x7f", "\x03", "\x04"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Terminal:
    """``tether ARGS`` with a pseudo-terminal as its controlling terminal."""

    def __init__(self, *args: str, home: Path, env: dict[str, str] | None = None) -> None:
        environ = dict(env or ENV, HOME=str(home), TERM="xterm", INPUTRC=os.devnull)
        argv = [sys.executable, "-m", "tether.cli.main", *args]
        pid, fd = pty.fork()
        if pid == 0:  # pragma: no cover - the child
            try:
                os.chdir(ROOT)
                os.execve(sys.executable, argv, environ)
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
        self.output = ""
        self.mark = 0  # expect() looks after this point
        self.status: int | None = None

    def read(self, timeout: float) -> None:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if ready:
            try:
                data = os.read(self.fd, 65536)
            except OSError:  # EIO: the child closed the terminal
                data = b""
            self.output += data.decode(errors="replace")

    def expect(self, text: str, timeout: float = 15) -> str:
        """Wait until ``text`` appears (after the last match; escape sequences taken
        out); returns the output seen."""
        deadline = time.monotonic() + timeout
        while True:
            plain = ANSI.sub("", self.output)  # colours and cursor moves aside
            i = plain.find(text, self.mark)
            if i >= 0:
                seen = plain[self.mark:i + len(text)]
                self.mark = i + len(text)
                return seen
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not in terminal output: {self.output!r}")
            self.read(0.05)

    def type(self, keys: str) -> None:
        # Between two lines the program is back in cooked mode for a moment, where the
        # terminal itself would take ^D and backspace (readline would never see them):
        # a person can't type that fast, a test can. So wait until readline reads raw
        # again (for at most a few seconds: some keys go to a program not reading).
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            try:
                if not termios.tcgetattr(self.fd)[3] & termios.ICANON:
                    break
            except termios.error:
                break  # the program has gone
            self.read(0.01)
        os.write(self.fd, keys.encode())

    def wait(self, timeout: float = 20) -> int:
        deadline = time.monotonic() + timeout
        while self.status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(status)
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"tether still running: {self.output!r}")
            self.read(0.05)
        return self.status

    def close(self) -> None:
        if self.status is None:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        os.close(self.fd)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def server() -> Iterator[ThreadServer]:
    with ThreadServer() as s:
        yield s


@pytest.fixture
def terminals() -> Iterator[list[Terminal]]:
    started: list[Terminal] = []
    yield started
    for t in started:
        t.close()


def start(terminals: list[Terminal], *args: str, home: Path,
          env: dict[str, str] | None = None) -> Terminal:
    t = Terminal("connect", *args, home=home, env=env)
    terminals.append(t)
    t.expect("connected to")
    t.expect("> ")
    return t


def wait_for(condition: object, what: str, timeout: float = 15) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def test_typing_backspace_cursor_keys_and_history_recall(
        server: ThreadServer, home: Path, terminals: list[Terminal]) -> None:
    t = start(terminals, server.url, home=home)
    t.type("hellp" + BACKSPACE + "o\r")
    t.expect("< hello")
    t.type(UP + "\r")  # the line just sent, again
    t.expect("< hello")
    t.type(UP + BACKSPACE + BACKSPACE + "p!\r")  # recall and edit
    t.expect("< help!")
    t.type("wrld" + LEFT * 3 + "o\r")  # insert in the middle
    t.expect("< world")
    assert server.received == ["hello", "hello", "help!", "world"]
    t.type(CTRL_D)
    assert t.wait() == 0
    assert server.closes == [(1000, "")]
    history = (home / ".tether_history").read_text().splitlines()
    assert history[-3:] == ["hello", "help!", "world"]
    assert (home / ".tether_history").stat().st_mode & 0o077 == 0


def test_history_from_an_earlier_session_and_turning_it_off(
        server: ThreadServer, home: Path, terminals: list[Terminal]) -> None:
    (home / ".tether_history").write_text("from last time\n")
    t = start(terminals, server.url, home=home)
    t.type(UP + "\r")
    t.expect("< from last time")
    t.type(CTRL_D)
    assert t.wait() == 0
    assert "from last time" in (home / ".tether_history").read_text()

    before = (home / ".tether_history").read_text()
    t = start(terminals, "--no-history", server.url, home=home)
    t.type(UP + "fresh\r")  # nothing to recall: UP does nothing
    t.expect("< fresh")
    t.type(CTRL_D)
    assert t.wait() == 0
    assert (home / ".tether_history").read_text() == before
    assert server.received == ["from last time", "fresh"]


def test_history_file_from_the_environment(
        server: ThreadServer, home: Path, terminals: list[Terminal]) -> None:
    elsewhere = home / "hist"
    t = start(terminals, server.url, home=home, env=dict(ENV, TETHER_HISTORY=str(elsewhere)))
    t.type("kept\r")
    t.expect("< kept")
    t.type(CTRL_D)
    assert t.wait() == 0
    assert elsewhere.read_text().splitlines() == ["kept"]
    assert not (home / ".tether_history").exists()
    t = start(terminals, server.url, home=home, env=dict(ENV, TETHER_HISTORY=""))
    t.type("not kept\r")
    t.expect("< not kept")
    t.type(CTRL_D)
    assert t.wait() == 0
    assert not (home / ".tether_history").exists()


def test_a_message_arriving_while_typing_keeps_the_typed_text(
        server: ThreadServer, home: Path, terminals: list[Terminal]) -> None:
    t = start(terminals, server.url, home=home)
    t.type("abc")
    t.expect("abc")  # readline echoed it: the program has it
    wait_for(lambda: server.connections, "no connection")
    server.call(server.connections[0].send("news"))
    t.expect("< news")
    t.expect("> abc")  # and drawn again with what was typed
    # The prompt line was erased before printing, then the prompt drawn again.
    assert re.search(r"> abc\r\x1b\[K.*<.*news\r\n> abc", t.output), t.output
    t.type("def\r")
    t.expect("< abcdef")
    # The cursor in the middle of the line: drawn back where it was.
    t.type("xz" + LEFT)
    t.expect("xz")
    server.call(server.connections[0].send("more news"))
    t.expect("< more news")
    wait_for(lambda: "> xz\x1b[1D" in t.output or t.read(0.05), "cursor not put back")
    t.type("y\r")
    t.expect("< xyz")
    assert server.received == ["abcdef", "xyz"]
    t.type(CTRL_D)
    assert t.wait() == 0


def test_time_stamps_and_colours_in_a_terminal(
        server: ThreadServer, home: Path, terminals: list[Terminal]) -> None:
    t = start(terminals, server.url, home=home)
    t.type("hi\r")
    t.expect("hi\r\n")  # the typed line
    line = t.expect("< hi")  # the reply
    assert "\x1b[32m<" in t.output  # green arrow
    assert re.search(r"\d\d:\d\d:\d\d\.\d{3} < hi$", line), line
    t.type(CTRL_D)
    assert t.wait() == 0
    t = start(terminals, "-T", server.url, home=home, env=dict(ENV, NO_COLOR="1"))
    t.type("plain\r")
    t.expect("plain\r\n")
    line = t.expect("< plain")
    assert "\x1b[32m" not in t.output
    assert line.endswith("\r< plain"), line  # no time stamp before it
    t.type(CTRL_D)
    assert t.wait() == 0


def test_ping_and_close_commands(
        server: ThreadServer, home: Path, terminals: list[Terminal]) -> None:
    t = start(terminals, server.url, home=home)
    t.type("/ping\r")
    t.expect("ms round trip")
    t.type("/close 4002 see you\r")
    t.expect("connection closed: 4002 see you")
    assert t.wait() == 0
    assert server.closes == [(4002, "see you")]
    assert server.received == []


def test_ctrl_c_closes_with_1001_and_exits_130(
        server: ThreadServer, home: Path, terminals: list[Terminal]) -> None:
    t = start(terminals, server.url, home=home)
    t.type("half a line")
    t.expect("half a line")
    t.type(CTRL_C)
    assert t.wait() == 130
    wait_for(lambda: server.closes, "server saw no close")
    assert server.closes == [(1001, "interrupted")]
    assert server.received == []


async def close_after_first(ws: ServerConnection, server: ThreadServer) -> None:
    server.received.append(await ws.recv())
    await ws.close(4001, "go away")


def test_server_closing_ends_the_session(home: Path, terminals: list[Terminal]) -> None:
    with ThreadServer(close_after_first) as s:
        t = start(terminals, s.url, home=home)
        t.type("bye\r")
        t.expect("connection closed: 4001 go away")
        assert t.wait() == 1  # not a normal closure
        assert s.received == ["bye"]


async def flood_on_go(ws: ServerConnection, server: ThreadServer) -> None:
    async for message in ws:
        server.received.append(message)
        if message == "go":
            for i in range(300):
                await ws.send(f"flood {i}")
                await asyncio.sleep(0.002)
            await ws.send("flood done")


def test_typing_during_a_flood_of_messages(home: Path, terminals: list[Terminal]) -> None:
    """Redrawing the prompt from the network thread while readline edits the line."""
    with ThreadServer(flood_on_go) as s:
        t = start(terminals, s.url, home=home)
        t.type("go\r")
        t.expect("< flood 0")
        for ch in "typed while flooded":
            t.type(ch)
            time.sleep(0.003)
        t.expect("< flood done")
        t.type("\r")
        wait_for(lambda: len(s.received) == 2 or t.read(0.05), "line not received")
        assert s.received == ["go", "typed while flooded"]
        t.type(CTRL_D)
        assert t.wait() == 0
        assert "Assertion" not in t.output and "Traceback" not in t.output
