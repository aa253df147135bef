"""Every code sample in docs/clients.md runs here, against a real server.

docs/clients.md includes its samples whole from docs/examples/clients_*.py (``--8<--``).
The self-contained samples start their own servers; the reconnection samples take a URL
and run against a tether server here that drops the first connection with 1012 (service
restart) and closes the second with 1000, so that they must reconnect once and then stop.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import tether

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "clients.md"
SAMPLES = sorted((ROOT / "docs" / "examples").glob("clients_*.py"))
INCLUDE = re.compile(r'^--8<-- "docs/examples/(clients_\w+\.py)"$', re.M)
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
TIMEOUT = 30


def run_sample(name: str, *args: str) -> str:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    done = subprocess.run([sys.executable, str(ROOT / "docs" / "examples" / name), *args],
                          capture_output=True, text=True, timeout=TIMEOUT, env=env, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


class Restarting:
    """A tether server on a thread: connection 1 gets two prices then 1012, connection 2
    one price then 1000.  Each connection must first ask "subscribe prices"."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.count = 0
        self.subscriptions: list[str] = []
        self.server: tether.Server | None = None

    async def handler(self, ws: tether.ServerConnection) -> None:
        self.count += 1
        message = await ws.recv()
        assert isinstance(message, str)
        self.subscriptions.append(message)
        if self.count == 1:
            await ws.send("price 1")
            await ws.send("price 2")
            await ws.close(1012, "service restart")
        else:
            await ws.send("price 3")
            await ws.close(1000, "market closed")

    def __enter__(self) -> str:
        self.thread.start()

        async def start() -> tether.Server:
            return await tether.serve(self.handler, "127.0.0.1", 0, ping_interval=None)

        self.server = asyncio.run_coroutine_threadsafe(start(), self.loop).result(TIMEOUT)
        return f"ws://127.0.0.1:{self.server.port}/"

    def __exit__(self, *exc: object) -> None:
        assert self.server is not None
        asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(TIMEOUT)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(TIMEOUT)
        self.loop.close()


@pytest.fixture
def restarting() -> Iterator[tuple[str, Restarting]]:
    server = Restarting()
    with server as url:
        yield url, server


def test_every_python_block_of_the_page_is_an_included_sample() -> None:
    text = DOC.read_text()
    blocks = [body for lang, body in FENCE.findall(text) if lang == "python"]
    assert blocks, "the page shows its samples"
    included = []
    for body in blocks:
        match = INCLUDE.fullmatch(body.strip())
        assert match, f"a python block that is not an included sample: {body[:60]!r}"
        included.append(match.group(1))
    assert sorted(included) == [p.name for p in SAMPLES]  # and every sample is shown


def test_asyncio_reconnect(restarting: tuple[str, Restarting]) -> None:
    url, server = restarting
    out = run_sample("clients_reconnect.py", url)
    assert out.splitlines() == ["< price 1", "< price 2", "closed with 1012", "reconnected",
                                "< price 3", "closed with 1000"]
    assert server.subscriptions == ["subscribe prices"] * 2


def test_sync_reconnect(restarting: tuple[str, Restarting]) -> None:
    url, server = restarting
    out = run_sample("clients_sync_reconnect.py", url)
    assert out.splitlines() == ["< price 1", "< price 2", "closed with 1012",
                                "< price 3", "closed with 1000"]
    assert server.count == 2


def test_signals_reconnect(restarting: tuple[str, Restarting]) -> None:
    url, server = restarting
    out = run_sample("clients_signals_reconnect.py", url)
    assert out.splitlines() == ["< price 1", "< price 2", "closed with 1012",
                                "reconnecting (attempt 1)", "< price 3", "closed with 1000"]
    assert server.subscriptions == ["subscribe prices"] * 2


def test_redirects() -> None:
    assert run_sample("clients_redirects.py").splitlines() == [
        "welcome to /new", "not followed: 301 /new"]


def test_auth() -> None:
    assert run_sample("clients_auth.py").splitlines() == [
        "401 realm: chat", "hello alice", "hello billing-service"]


def test_unix() -> None:
    assert run_sample("clients_unix.py").splitlines() == ["< over a unix socket", "< again"]
