"""Qt-style signals: ``sock.text_message_received.connect(slot)``.

A :class:`Signal` declared on a class gives every instance its own signal (the way
PySide's ``Signal`` does)::

    class Thermometer:
        changed = Signal(float)

    t = Thermometer()
    t.changed.connect(print)
    t.changed.emit(21.5)          # prints 21.5

A slot is any callable.  As in Qt, it may take fewer arguments than the signal
carries (the first ones are passed), so ``disconnected.connect(app.quit)`` works.  A
coroutine function is run as a task on the running asyncio loop.  A slot that raises
is logged (logger ``tether.signals``) and the other slots still run: a mistake in one
slot never breaks the connection that emitted the signal.

Slots run in the thread that emits, at once (Qt's direct connection).  tether's
objects emit their signals on their event loop's thread, see :mod:`tether.signals.loop`.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import weakref
from collections.abc import Callable
from typing import Any, overload

__all__ = ["Signal", "sender"]

logger = logging.getLogger("tether.signals")

Slot = Callable[..., Any]

_local = threading.local()
_tasks: set[asyncio.Task[Any]] = set()  # coroutine slots still running (kept alive)


def sender() -> Any:
    """The object whose signal is being emitted, inside a slot (Qt's ``QObject::sender()``).

    ``None`` outside a slot, or for a signal that belongs to no object.
    """
    stack: list[Any] = getattr(_local, "stack", [])
    return stack[-1] if stack else None


def _arity(slot: Slot) -> int | None:
    """How many positional arguments ``slot`` takes (``None``: any number)."""
    try:
        sig = inspect.signature(slot)
    except (TypeError, ValueError):
        return None  # builtins such as print: pass everything
    count = 0
    for p in sig.parameters.values():
        if p.kind is p.VAR_POSITIONAL:
            return None
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            count += 1
    return count


class Signal:
    """A signal: slots connect to it, :meth:`emit` calls them in connection order.

    ``Signal(str, bool)`` names the argument types, for documentation and ``repr``;
    they are not checked.
    """

    __slots__ = ("__weakref__", "_name", "_owner", "_slots", "_types")

    def __init__(self, *types: Any, name: str | None = None) -> None:
        self._types = types
        self._name = name
        self._owner: weakref.ref[Any] | None = None
        self._slots: tuple[tuple[Slot, int | None], ...] = ()

    # -------------------------------------------------------- declared on a class

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    @overload
    def __get__(self, obj: None, objtype: type | None = None) -> Signal: ...

    @overload
    def __get__(self, obj: object, objtype: type | None = None) -> Signal: ...

    def __get__(self, obj: object | None, objtype: type | None = None) -> Signal:
        if obj is None:
            return self
        # Each instance gets its own signal, stored under the same name in the
        # instance's __dict__ (this descriptor defines no __set__, so that copy is
        # found first from then on).
        bound = Signal(*self._types, name=self._name)
        bound._owner = weakref.ref(obj)
        assert self._name is not None
        obj.__dict__[self._name] = bound
        return bound

    # -------------------------------------------------------- connecting

    def connect(self, slot: Slot | Signal) -> Slot:
        """Connect ``slot`` (a callable, or another signal to forward to).

        Returns ``slot``, so ``connect`` also works as a decorator.  Connecting the
        same slot twice makes it run twice per emission, as in Qt.
        """
        target: Slot = slot.emit if isinstance(slot, Signal) else slot
        if not callable(target):
            raise TypeError(f"a slot must be callable, not {type(slot).__name__}")
        self._slots = (*self._slots, (target, _arity(target)))
        return slot

    def disconnect(self, slot: Slot | Signal | None = None) -> bool:
        """Disconnect ``slot`` (its last connection), or every slot when ``None``.

        Returns whether something was disconnected.
        """
        if slot is None:
            had = bool(self._slots)
            self._slots = ()
            return had
        target: Slot = slot.emit if isinstance(slot, Signal) else slot
        slots = list(self._slots)
        for i in range(len(slots) - 1, -1, -1):
            if slots[i][0] == target:
                del slots[i]
                self._slots = tuple(slots)
                return True
        return False

    def receivers(self) -> int:
        """How many slots are connected (Qt's ``QObject::receivers()``)."""
        return len(self._slots)

    # -------------------------------------------------------- emitting

    def emit(self, *args: Any) -> None:
        """Call every connected slot with ``args`` (trimmed to what each slot takes)."""
        slots = self._slots
        if not slots:
            return
        owner = self._owner() if self._owner is not None else None
        stack: list[Any] | None = getattr(_local, "stack", None)
        if stack is None:
            stack = _local.stack = []
        stack.append(owner)
        try:
            for slot, arity in slots:
                try:
                    result = slot(*args) if arity is None else slot(*args[:arity])
                    if inspect.isawaitable(result):
                        self._schedule(result)
                except Exception:
                    logger.exception("slot %r connected to %s raised", slot, self._describe())
        finally:
            stack.pop()

    __call__ = emit

    def _schedule(self, awaitable: Any) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            if inspect.iscoroutine(awaitable):
                awaitable.close()
            logger.error("a coroutine slot of %s needs a running asyncio loop; it was "
                         "not run", self._describe())
            return
        task = loop.create_task(awaitable)
        _tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        _tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("coroutine slot connected to %s raised", self._describe(),
                         exc_info=task.exception())

    def _describe(self) -> str:
        owner = self._owner() if self._owner is not None else None
        name = self._name or "signal"
        return f"{type(owner).__name__}.{name}" if owner is not None else name

    def __repr__(self) -> str:
        types = ", ".join(getattr(t, "__name__", repr(t)) for t in self._types)
        return f"<Signal {self._describe()}({types}) with {len(self._slots)} slot(s)>"
