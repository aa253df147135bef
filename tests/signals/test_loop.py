"""EventLoop: exec()/quit() like QCoreApplication, loop threads, calls across threads."""

from __future__ import annotations

import asyncio
import threading

import pytest

from tether import UsageError
from tether.signals import EventLoop, WebSocket

from .conftest import GUARD


def test_exec_runs_until_quit_and_returns_the_exit_code() -> None:
    with EventLoop() as app:
        app.single_shot(0, lambda: app.exit(3))
        assert app.exec() == 3
        # exec() can run again
        app.single_shot(1, app.quit)
        assert app.exec() == 0


def test_exec_runs_in_the_calling_thread_and_emits_about_to_quit() -> None:
    with EventLoop() as app:
        seen: list[str] = []
        app.about_to_quit.connect(lambda: seen.append(threading.current_thread().name))
        app.single_shot(0, app.quit)
        app.exec()
        assert seen == [threading.current_thread().name]


def test_quit_before_exec_is_not_lost() -> None:
    with EventLoop() as app:
        app.exit(5)
        assert app.exec() == 5


def test_quit_from_another_thread() -> None:
    with EventLoop() as app:
        threading.Timer(0.01, app.quit).start()
        assert app.exec() == 0


def test_start_runs_the_loop_on_a_thread() -> None:
    with EventLoop() as app:
        app.start()
        assert app.is_running()
        assert app.thread is not None and app.thread.name == "tether-loop"
        names: list[str] = []
        done = threading.Event()
        app.invoke(lambda: (names.append(threading.current_thread().name), done.set()))
        assert done.wait(GUARD)
        assert names == ["tether-loop"]
        with pytest.raises(UsageError):
            app.exec()
        app.quit()
        assert app.wait(GUARD)
        assert not app.is_running()


def test_run_coroutine_from_another_thread() -> None:
    with EventLoop() as app:
        app.start()

        async def add(a: int, b: int) -> int:
            await asyncio.sleep(0)
            return a + b

        assert app.run_coroutine(add(2, 3)).result(GUARD) == 5


def test_invoke_runs_at_once_on_the_loop_thread_and_in_order_from_others() -> None:
    with EventLoop() as app:
        app.start()
        order: list[int] = []
        done = threading.Event()

        def on_loop() -> None:
            app.invoke(order.append, 0)  # on the loop thread: at once
            order.append(1)

        app.invoke(on_loop)
        for i in range(2, 50):
            app.invoke(order.append, i)
        app.invoke(done.set)
        assert done.wait(GUARD)
        assert order == list(range(50))


def test_the_first_event_loop_is_the_application_loop() -> None:
    with EventLoop() as app, EventLoop() as other:
        assert EventLoop.instance() is app
        assert other is not app
        ws = WebSocket()
        assert ws.event_loop is app
        ws2 = WebSocket(loop=other)
        assert ws2.event_loop is other
    assert EventLoop.instance() is None


def test_objects_made_inside_a_running_asyncio_loop_use_it() -> None:
    async def main() -> None:
        ws = WebSocket()
        assert ws.event_loop.loop is asyncio.get_running_loop()
        assert ws.event_loop.in_loop_thread()
        with pytest.raises(UsageError):
            ws.event_loop.exec()

    with EventLoop():  # an application loop exists, but the running loop wins
        asyncio.run(main())


def test_without_any_loop_objects_use_the_background_thread() -> None:
    assert EventLoop.instance() is None
    ws = WebSocket()
    bg = EventLoop.background()
    assert ws.event_loop is bg
    assert bg.is_running() and bg.thread is not None
    assert bg.thread.daemon


def test_a_closed_loop_refuses_work() -> None:
    app = EventLoop()
    app.close()
    with pytest.raises(UsageError):
        app.exec()
    with pytest.raises(UsageError):
        app.invoke(print)
    app.close()  # twice is fine


def test_process_events_runs_what_is_ready() -> None:
    with EventLoop() as app:
        got: list[int] = []
        app.invoke(app.loop.call_soon, got.append, 1)
        app.process_events()
        assert got == [1]
