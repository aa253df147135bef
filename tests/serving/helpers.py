"""Helpers shared by the serving and bridge tests: real sockets, real processes."""

from __future__ import annotations

import asyncio
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

GUARD = 30.0  # a guard against hanging; no outcome depends on it
ROOT = Path(__file__).resolve().parents[2]
INSTALL = "scripts/install-system-deps.sh"


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


def require_binary(name: str, *paths: str) -> str:
    """The path of a program the test needs; fail (never skip) naming the install script."""
    for p in (*paths, shutil.which(name)):
        if p and os.path.exists(p) and os.access(p, os.X_OK):
            return p
    pytest.fail(f"{name} is not installed: run {INSTALL} (it installs nginx, haproxy, bc, ...)")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_port(port: int, host: str = "127.0.0.1", timeout: float = GUARD) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


async def http_get(port: int, path: str, host: str = "127.0.0.1",
                   headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """A plain GET on a fresh connection: (status, headers lower-cased, body)."""
    reader, writer = await asyncio.open_connection(host, port)
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    data = await asyncio.wait_for(reader.read(), GUARD)
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *fields = head.decode("latin-1").split("\r\n")
    hdrs = {}
    for f in fields:
        k, _, v = f.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return int(status_line.split()[1]), hdrs, body


def metric(text: str, name: str, labels: str = "") -> float:
    """One sample from a Prometheus text page (0 when absent)."""
    pattern = re.escape(name + labels) + r" ([0-9.e+-]+)$"
    for line in text.splitlines():
        m = re.match(pattern, line)
        if m:
            return float(m.group(1))
    return 0.0


_LINES: dict[int, queue.Queue[str]] = {}
_ERR: dict[int, list[str]] = {}
_THREADS: dict[int, list[threading.Thread]] = {}


def tether_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start ``python -m tether.cli.main ARGS``; :func:`read_line` reads its stdout."""
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + full_env.get("PYTHONPATH", "")
    full_env.update(env or {})
    proc = subprocess.Popen(
        [sys.executable, "-m", "tether.cli.main", *args], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env=full_env, cwd=str(ROOT))
    lines: queue.Queue[str] = queue.Queue()
    _LINES[proc.pid] = lines

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put("")

    err: list[str] = []
    _ERR[proc.pid] = err

    def pump_err() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            err.append(line)

    threads = [threading.Thread(target=pump, daemon=True),
               threading.Thread(target=pump_err, daemon=True)]
    for t in threads:
        t.start()
    _THREADS[proc.pid] = threads
    return proc


def stderr_of(proc: subprocess.Popen[str]) -> str:
    """What the process wrote to stderr (all of it once it exited)."""
    if proc.poll() is not None:
        for t in _THREADS[proc.pid]:
            t.join(GUARD)
    return "".join(_ERR[proc.pid])


def cli_output(*args: str) -> str:
    """Run ``tether ARGS`` to the end; its stdout."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run([sys.executable, "-m", "tether.cli.main", *args], env=env,
                          capture_output=True, text=True, timeout=GUARD, cwd=str(ROOT))
    return done.stdout


def read_line(proc: subprocess.Popen[str], timeout: float = GUARD) -> str:
    """The next line the process printed."""
    try:
        line = _LINES[proc.pid].get(timeout=timeout)
    except queue.Empty:
        proc.kill()
        raise AssertionError(f"no output from {proc.args}") from None
    if not line:
        proc.wait()
        raise AssertionError(f"{proc.args} exited ({proc.wait()}): {stderr_of(proc)}")
    return line


def banner_port(line: str) -> int:
    m = re.search(r"://[^ ]*:(\d+)/", line)
    assert m, line
    return int(m.group(1))


def stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM,
         timeout: float = GUARD) -> tuple[int, str]:
    """Signal ``proc`` and wait: (exit status, stderr)."""
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        err = stderr_of(proc)
        raise AssertionError(f"{proc.args} did not exit after signal {sig}: {err}") from None
    return proc.returncode, stderr_of(proc)


async def until(pred: Callable[[], bool], timeout: float = GUARD, what: str = "") -> None:
    """Wait for ``pred()`` (polling); a guard against hanging, not a time limit."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or pred}")
        await asyncio.sleep(0.01)


async def stalled(counter: Callable[[], int], quiet: float = 0.5,
                  timeout: float = GUARD) -> int:
    """Wait until ``counter()`` stops growing for ``quiet`` seconds; returns its value."""
    deadline = time.monotonic() + timeout
    last = counter()
    since = time.monotonic()
    while True:
        await asyncio.sleep(0.05)
        now = counter()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return now
        if time.monotonic() > deadline:
            raise AssertionError("the counter never stopped growing: no backpressure")
