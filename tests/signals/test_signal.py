"""Signal: connect, disconnect, emit, slots taking fewer arguments, sender()."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from tether.signals import Signal, sender


class Thing:
    changed = Signal(int, str)
    done = Signal()


def test_each_instance_has_its_own_signal() -> None:
    a, b = Thing(), Thing()
    got: list[Any] = []
    a.changed.connect(lambda n, s: got.append(("a", n, s)))
    b.changed.emit(1, "b")
    a.changed.emit(2, "a")
    assert got == [("a", 2, "a")]
    assert a.changed is a.changed
    assert isinstance(Thing.changed, Signal)


def test_slots_run_in_connection_order_and_twice_if_connected_twice() -> None:
    t = Thing()
    got: list[str] = []

    def first(n: int, s: str) -> None:
        got.append("first")

    t.changed.connect(first)
    t.changed.connect(lambda n, s: got.append("second"))
    t.changed.connect(first)
    t.changed.emit(0, "")
    assert got == ["first", "second", "first"]
    assert t.changed.receivers() == 3


def test_a_slot_may_take_fewer_arguments() -> None:
    t = Thing()
    got: list[Any] = []
    t.changed.connect(lambda: got.append("none"))
    t.changed.connect(lambda n: got.append(n))
    t.changed.connect(lambda *args: got.append(args))
    t.changed.connect(got.append)  # a builtin method: its signature is known
    t.changed.emit(7, "x")
    assert got == ["none", 7, (7, "x"), 7]


def test_builtins_without_signature_get_every_argument(capsys: pytest.CaptureFixture[str]) -> None:
    t = Thing()
    t.changed.connect(print)
    t.changed.emit(3, "three")
    assert capsys.readouterr().out == "3 three\n"


def test_disconnect_one_or_all() -> None:
    t = Thing()
    got: list[str] = []

    def slot() -> None:
        got.append("slot")

    t.done.connect(slot)
    t.done.connect(slot)
    assert t.done.disconnect(slot) is True
    t.done.emit()
    assert got == ["slot"]
    assert t.done.disconnect(slot) is True
    assert t.done.disconnect(slot) is False
    t.done.connect(slot)
    assert t.done.disconnect() is True
    t.done.emit()
    assert got == ["slot"]


def test_bound_methods_disconnect_by_equality() -> None:
    class Receiver:
        def __init__(self) -> None:
            self.calls = 0

        def on_done(self) -> None:
            self.calls += 1

    r = Receiver()
    t = Thing()
    t.done.connect(r.on_done)
    assert t.done.disconnect(r.on_done)  # a new bound-method object, equal to the first
    t.done.emit()
    assert r.calls == 0


def test_connect_is_a_decorator_and_signals_forward_to_signals() -> None:
    a, b = Thing(), Thing()
    got: list[Any] = []

    @b.changed.connect
    def on_b(n: int, s: str) -> None:
        got.append((n, s))

    a.changed.connect(b.changed)
    a.changed.emit(5, "five")
    assert got == [(5, "five")]
    assert callable(on_b)
    assert a.changed.disconnect(b.changed)


def test_a_raising_slot_is_logged_and_the_others_still_run(
        caplog: pytest.LogCaptureFixture) -> None:
    t = Thing()
    got: list[str] = []

    def bad() -> None:
        raise RuntimeError("boom")

    t.done.connect(bad)
    t.done.connect(lambda: got.append("ran"))
    with caplog.at_level(logging.ERROR, logger="tether.signals"):
        t.done.emit()
    assert got == ["ran"]
    assert "Thing.done" in caplog.text and "boom" in caplog.text


def test_sender_names_the_emitting_object() -> None:
    a, b = Thing(), Thing()
    seen: list[Any] = []
    slot = lambda: seen.append(sender())  # noqa: E731
    a.done.connect(slot)
    b.done.connect(slot)
    a.done.emit()
    b.done.emit()
    assert seen == [a, b]
    assert sender() is None


def test_a_free_signal_works_and_has_no_sender() -> None:
    s = Signal(str, name="free")
    seen: list[Any] = []
    s.connect(lambda text: seen.append((text, sender())))
    s.emit("hi")
    assert seen == [("hi", None)]
    assert "free" in repr(s)


def test_non_callable_slots_are_refused() -> None:
    with pytest.raises(TypeError):
        Thing().done.connect(42)  # type: ignore[arg-type]


def test_coroutine_slots_run_as_tasks_on_the_running_loop() -> None:
    t = Thing()
    got: list[Any] = []

    async def slot(n: int, s: str) -> None:
        await asyncio.sleep(0)
        got.append((n, s))

    t.changed.connect(slot)

    async def main() -> None:
        t.changed.emit(1, "one")
        assert got == []
        for _ in range(5):
            await asyncio.sleep(0)

    asyncio.run(main())
    assert got == [(1, "one")]


def test_coroutine_slots_without_a_loop_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    t = Thing()

    async def slot() -> None:
        raise AssertionError("never runs")

    t.done.connect(slot)
    with caplog.at_level(logging.ERROR, logger="tether.signals"):
        t.done.emit()
    assert "needs a running asyncio loop" in caplog.text
