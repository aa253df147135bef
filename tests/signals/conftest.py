"""Helpers for the Qt-style API's tests: loops on threads, signal recorders, servers.

Every test talks over real sockets on 127.0.0.1.  The objects under test run on an
:class:`EventLoop` started on its own thread (so every call from the test thread is
also a cross-thread call); the test thread waits for recorded signals.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.signals.echo import GUARD, HOST, EchoServer
from tests.support.certs import tls_certs  # noqa: F401 - fixture
from tests.support.proxies import http_proxy, http_proxy_auth  # noqa: F401 - fixtures
from tether.signals import EventLoop

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is in the test requirements
    uvloop = None

LOOP_FACTORIES: list[Any] = [None]
if uvloop is not None:
    LOOP_FACTORIES.append(uvloop.new_event_loop)
LOOP_IDS = ["asyncio", "uvloop"][: len(LOOP_FACTORIES)]

__all__ = ["GUARD", "HOST", "LOOP_FACTORIES", "LOOP_IDS", "Recorder"]


class Recorder:
    """Records signal emissions in order, with their arguments and thread.

    ``rec.watch(sock, "connected", "text_message_received")`` then
    ``rec.wait("text_message_received")`` blocks the test thread until it came.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.events: list[tuple[str, tuple[Any, ...]]] = []
        self.threads: set[str] = set()

    def watch(self, obj: Any, *names: str) -> Recorder:
        for name in names:
            getattr(obj, name).connect(functools.partial(self._record, name))
        return self

    def _record(self, name: str, *args: Any) -> None:
        with self._cond:
            self.events.append((name, args))
            self.threads.add(threading.current_thread().name)
            self._cond.notify_all()

    def slot(self, name: str) -> Any:
        return functools.partial(self._record, name)

    def wait(self, name: str, count: int = 1, timeout: float = GUARD) -> tuple[Any, ...]:
        """The arguments of the ``count``-th emission of ``name``, once it happened."""
        with self._cond:
            ok = self._cond.wait_for(lambda: len(self.args(name)) >= count, timeout)
            if not ok:
                raise AssertionError(f"no {name} (#{count}) within {timeout}s; got "
                                     f"{self.names()}")
            return self.args(name)[count - 1]

    def args(self, name: str) -> list[tuple[Any, ...]]:
        return [a for n, a in self.events if n == name]

    def names(self) -> list[str]:
        return [n for n, _ in self.events]

    def count(self, name: str) -> int:
        return len(self.args(name))


@pytest.fixture(params=LOOP_FACTORIES, ids=LOOP_IDS)
def app(request: pytest.FixtureRequest) -> Iterator[EventLoop]:
    """An EventLoop running on its own thread (asyncio's loop, then uvloop's)."""
    loop = EventLoop(loop_factory=request.param)
    loop.start()
    try:
        yield loop
    finally:
        loop.close()


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


@pytest.fixture(scope="module")
def echo() -> Iterator[EchoServer]:
    """The tether asyncio echo server (see tests/signals/echo.py)."""
    with EchoServer() as server:
        yield server


@pytest.fixture
def free_port() -> int:
    """A port nothing listens on (bound then released: connections are refused)."""
    import socket

    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])
