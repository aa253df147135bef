"""Harness for the hostile-peer tests: a server in a subprocess, RSS sampling, a good client.

Every test talks over real sockets on 127.0.0.1.  The server under attack runs in its
own process (:mod:`tests.security.server_proc`) so that its resident memory can be
read from ``/proc/<pid>/status`` while the attack runs.  A well-behaved tether client
echoes messages on the same server meanwhile; the harness asserts that it kept being
served and prints its round-trip times (never asserted against a threshold: the
project forbids timing thresholds in tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

import tether

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parents[2]
#: What one attack may add to the server's resident memory.  Generous on purpose: it
#: catches what is unbounded (an attack scaling with what the peer sends), not noise.
MEMORY_BUDGET = 48 << 20


def rss_of(pid: int) -> int:
    """Resident set size of process ``pid`` in bytes."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


class ServerProcess:
    """A tether echo server in a subprocess (see server_proc.py for the options)."""

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0

    def start(self) -> ServerProcess:
        env = dict(os.environ, PYTHONPATH=f"{ROOT / 'src'}{os.pathsep}{ROOT}")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.security.server_proc", json.dumps(self.options)],
            stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.strip().isdigit(), f"server did not start: {line!r}"
        self.port = int(line)
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def rss(self) -> int:
        return rss_of(self.pid)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(10)


@contextlib.contextmanager
def server_process(**options: Any) -> Iterator[ServerProcess]:
    server = ServerProcess(**options).start()
    try:
        yield server
    finally:
        server.stop()


class RssSampler(threading.Thread):
    """Samples a process's RSS every few milliseconds; keeps the peak."""

    def __init__(self, pid: int, every: float = 0.005) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.every = every
        self.base = rss_of(pid)
        self.peak = self.base
        self.samples = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                self.peak = max(self.peak, rss_of(self.pid))
            except (OSError, RuntimeError):
                return  # the process is gone
            self.samples += 1
            self._stop_event.wait(self.every)

    def finish(self) -> int:
        """Stop sampling; the growth over the baseline in bytes."""
        self._stop_event.set()
        self.join()
        with contextlib.suppress(OSError, RuntimeError):
            self.peak = max(self.peak, rss_of(self.pid))
        return self.peak - self.base


class GoodClient:
    """A well-behaved client echoing small messages in a loop, timing each round trip."""

    def __init__(self, port: int, headers: dict[str, str] | None = None) -> None:
        self.port = port
        self.headers = headers
        self.rtts: list[float] = []
        self._task: asyncio.Task[None] | None = None
        self._stop = False
        self.ws: tether.ClientConnection | None = None

    async def start(self) -> None:
        self.ws = await tether.connect(f"ws://{HOST}:{self.port}/", proxy=None,
                                       compression=None, additional_headers=self.headers)
        await self.echo()  # served before the attack starts
        self._task = asyncio.ensure_future(self._loop())

    async def echo(self) -> None:
        assert self.ws is not None
        t0 = time.perf_counter()
        payload = f"good {len(self.rtts)}"
        await self.ws.send(payload)
        assert await self.ws.recv() == payload
        self.rtts.append(time.perf_counter() - t0)

    async def _loop(self) -> None:
        while not self._stop:
            await self.echo()
            await asyncio.sleep(0.01)

    async def stop(self) -> list[float]:
        """One more echo (the server still serves), then stop; the RTTs measured."""
        during = len(self.rtts)
        self._stop = True
        assert self._task is not None
        await self._task
        await self.echo()
        assert self.ws is not None
        await self.ws.close()
        assert len(self.rtts) > during or during > 1
        return self.rtts


class Watch:
    """What :func:`watched` measured."""

    elapsed = 0.0
    rss_growth = 0
    rtts: list[float]


@contextlib.asynccontextmanager
async def watched(server: ServerProcess, name: str, budget: int = MEMORY_BUDGET,
                  good_headers: dict[str, str] | None = None) -> AsyncIterator[Watch]:
    """Run an attack with the server's RSS sampled and a good client echoing beside it.

    On exit: the good client completes one more echo (the server still serves it),
    the RSS growth is asserted under ``budget``, and the figures are printed.
    """
    watch = Watch()
    good = GoodClient(server.port, good_headers)
    await good.start()
    sampler = RssSampler(server.pid)
    sampler.start()
    t0 = time.perf_counter()
    try:
        yield watch
    finally:
        watch.elapsed = time.perf_counter() - t0
        try:
            watch.rtts = await good.stop()
        finally:
            watch.rss_growth = sampler.finish()
    rtts = watch.rtts
    print(f"\n[{name}] took {watch.elapsed * 1000:.1f} ms; server RSS "
          f"{sampler.base / 2**20:.1f} -> peak {sampler.peak / 2**20:.1f} MiB "
          f"(+{watch.rss_growth / 2**20:.1f}); good client {len(rtts)} echoes, RTT median "
          f"{statistics.median(rtts) * 1000:.2f} ms, max {max(rtts) * 1000:.2f} ms")
    assert server.alive()
    assert watch.rss_growth < budget, f"server RSS grew by {watch.rss_growth / 2**20:.1f} MiB"


@pytest.fixture(scope="module")
def echo_server() -> Iterator[ServerProcess]:
    """One echo server per test module (defaults: 1 MiB messages, deflate on)."""
    with server_process(open_timeout=2) as server:
        yield server
