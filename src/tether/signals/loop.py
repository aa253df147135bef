"""The event loop the Qt-style objects run on, and which thread their slots run in.

Every :class:`~tether.signals.WebSocket` and :class:`~tether.signals.WebSocketServer`
belongs to one :class:`EventLoop` and emits all its signals on that loop's thread.
Which loop an object gets, first match wins:

1. the ``loop=`` argument (an :class:`EventLoop` or an asyncio loop);
2. the asyncio loop running in the thread that creates the object (inside
   ``async def`` code): slots run on that loop, as callbacks between your awaits;
3. the application loop, :meth:`EventLoop.instance` -- the ``EventLoop()`` a script
   made, as it makes a ``QCoreApplication``; slots run in the thread that calls
   :meth:`EventLoop.exec` (or in the loop thread after :meth:`EventLoop.start`);
4. otherwise a shared loop on a daemon thread named ``tether-loop``, started on first
   use (:meth:`EventLoop.background`); slots run on that thread.

Methods of the objects may be called from any thread: a call from another thread is
handed to the loop's thread (``call_soon_threadsafe``) and runs there, in order.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import weakref
from collections.abc import Callable, Coroutine
from typing import Any, ClassVar, TypeVar

from ..exceptions import UsageError
from .signal import Signal

__all__ = ["EventLoop", "resolve_loop"]

T = TypeVar("T")


def _running_loop() -> asyncio.AbstractEventLoop | None:
    return asyncio.events._get_running_loop()


class EventLoop:
    """An event loop with ``exec()`` and ``quit()``, like Qt's ``QCoreApplication``.

    ::

        app = EventLoop()
        client = EchoClient("ws://localhost:1234")
        client.closed.connect(app.quit)
        sys.exit(app.exec())

    ``exec()`` runs the loop in the calling thread until :meth:`quit` or :meth:`exit`;
    :meth:`start` runs it on a new daemon thread instead and returns at once.  Both
    may be called again after the loop stopped.  ``loop_factory`` makes the asyncio
    loop (``uvloop.new_event_loop``, say).  ``EventLoop(asyncio_loop)`` wraps a loop
    that someone else runs (it cannot be exec'd).  Use it as a context manager,
    or call :meth:`close`, to release the loop.
    """

    _instance: ClassVar[EventLoop | None] = None
    _background: ClassVar[EventLoop | None] = None
    _class_lock: ClassVar[threading.Lock] = threading.Lock()
    _wrappers: ClassVar[weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, EventLoop]] = (
        weakref.WeakKeyDictionary())

    #: Emitted on the loop's thread just before ``exec()`` returns or the loop thread
    #: stops (Qt's ``aboutToQuit``).
    about_to_quit = Signal()

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None, *,
                 loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None,
                 _register: bool = True) -> None:
        self._owned = loop is None
        # A wrapped loop is held weakly: the wrapper lives in a WeakKeyDictionary keyed by it.
        self._strong: asyncio.AbstractEventLoop | None = None
        self._weak: weakref.ref[asyncio.AbstractEventLoop] | None = None
        if loop is None:
            self._strong = (loop_factory or asyncio.new_event_loop)()
        else:
            self._weak = weakref.ref(loop)
        self._thread: threading.Thread | None = None
        self._exit_code = 0
        self._pending_exit = False
        self._closed = False
        if self._owned and _register:
            with EventLoop._class_lock:
                if EventLoop._instance is None:
                    EventLoop._instance = self

    # ------------------------------------------------------------ finding a loop

    @classmethod
    def instance(cls) -> EventLoop | None:
        """The application loop: the first ``EventLoop()`` made and not yet closed."""
        return cls._instance

    @classmethod
    def background(cls) -> EventLoop:
        """The shared loop on the ``tether-loop`` daemon thread, started if need be."""
        with cls._class_lock:
            bg = cls._background
            if bg is None or bg._closed:
                bg = cls._background = cls(_register=False)
            if not bg.is_running():
                bg.start()
        return bg

    @classmethod
    def wrap(cls, loop: asyncio.AbstractEventLoop) -> EventLoop:
        """The :class:`EventLoop` for an asyncio loop that its owner runs."""
        with cls._class_lock:
            wrapper = cls._wrappers.get(loop)
            if wrapper is None:
                wrapper = cls._wrappers[loop] = cls(loop)
        return wrapper

    # ------------------------------------------------------------ properties

    @property
    def _loop(self) -> asyncio.AbstractEventLoop:
        if self._strong is not None:
            return self._strong
        assert self._weak is not None
        loop = self._weak()
        if loop is None:
            raise UsageError("the asyncio loop of this EventLoop is gone")
        return loop

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The asyncio loop underneath."""
        return self._loop

    @property
    def thread(self) -> threading.Thread | None:
        """The thread started by :meth:`start`, while it runs."""
        return self._thread

    def is_running(self) -> bool:
        return self._loop.is_running()

    def in_loop_thread(self) -> bool:
        """Whether the calling thread is the one running this loop now."""
        return _running_loop() is self._loop

    # ------------------------------------------------------------ running

    def exec(self) -> int:
        """Run the loop in this thread until :meth:`quit`/:meth:`exit`; return the code.

        An :meth:`exit` that came before ``exec()`` makes it return at once (Qt would
        ignore it and run forever; a quit that raced ahead of exec is not lost here).
        """
        self._check_runnable()
        if self._pending_exit:
            self._pending_exit = False
            return self._exit_code
        self._exit_code = 0
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_forever()
        finally:
            asyncio.set_event_loop(None)
        return self._exit_code

    def start(self) -> None:
        """Run the loop on a new daemon thread; returns once it runs."""
        self._check_runnable()
        self._pending_exit = False
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            self._loop.call_soon(started.set)
            try:
                self._loop.run_forever()
            finally:
                started.set()

        thread = threading.Thread(target=run, name="tether-loop", daemon=True)
        self._thread = thread
        thread.start()
        started.wait()

    def _check_runnable(self) -> None:
        if not self._owned:
            raise UsageError("this EventLoop wraps an asyncio loop that its owner runs; "
                             "await in that loop instead of calling exec() or start()")
        if self._closed:
            raise UsageError("this EventLoop is closed")
        if self._loop.is_running():
            raise UsageError("this EventLoop is already running")

    def exit(self, code: int = 0) -> None:
        """Stop the loop; ``exec()`` returns ``code``.  Safe from any thread."""
        self._exit_code = code
        if not self._owned:
            raise UsageError("this EventLoop wraps an asyncio loop that its owner runs")
        if self._loop.is_running():
            self.invoke(self._stop)
        elif not self._closed:
            self._pending_exit = True

    def quit(self) -> None:
        """Stop the loop; ``exec()`` returns 0.  Safe from any thread."""
        self.exit(0)

    def _stop(self) -> None:
        self.about_to_quit.emit()
        self._loop.stop()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the thread of :meth:`start` to end; whether it has."""
        thread = self._thread
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def process_events(self) -> None:
        """Run what is ready to run now, once (Qt's ``processEvents()``), when not running."""
        self._check_runnable()
        self._loop.call_soon(self._loop.stop)
        self._loop.run_forever()

    # ------------------------------------------------------------ calling into the loop

    def invoke(self, fn: Callable[..., Any], *args: Any) -> None:
        """Call ``fn(*args)`` on the loop's thread: now if this is that thread (or the
        loop is not running), else as soon as the loop gets to it."""
        if self._closed:
            raise UsageError("this EventLoop is closed")
        if self._loop.is_running() and _running_loop() is not self._loop:
            self._loop.call_soon_threadsafe(fn, *args)
        else:
            fn(*args)

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Call ``fn(*args)`` on the loop's thread on a later turn.  Safe from any thread."""
        if _running_loop() is self._loop:
            self._loop.call_soon(fn, *args)
        else:
            self._loop.call_soon_threadsafe(fn, *args)

    def single_shot(self, msec: float, slot: Callable[[], Any]) -> None:
        """Call ``slot()`` on the loop's thread in ``msec`` ms (``QTimer::singleShot``)."""
        self.invoke(self._loop.call_later, msec / 1000, slot)

    def run_coroutine(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coro`` on this loop from any thread; a future with its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    # ------------------------------------------------------------ closing

    def close(self) -> None:
        """Stop the loop thread if any, cancel what still runs (open connections are
        dropped), close the asyncio loop.  Listening servers are not closed: close them."""
        if self._closed or not self._owned:
            return
        if self._loop.is_running():
            if self._thread is None or self._thread is threading.current_thread():
                raise UsageError("close() an EventLoop after exec() returned, not from it")
            self.quit()
            self._thread.join()
        self._closed = True
        loop = self._loop
        tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.run_until_complete(asyncio.sleep(0))  # let aborted transports finish
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
        with EventLoop._class_lock:
            if EventLoop._instance is self:
                EventLoop._instance = None

    def __enter__(self) -> EventLoop:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "running" if self.is_running() else "idle"
        return f"<EventLoop {state}{'' if self._owned else ' (wrapped)'}>"


def resolve_loop(loop: EventLoop | asyncio.AbstractEventLoop | None) -> EventLoop:
    """The :class:`EventLoop` an object made now belongs to (see the module docs)."""
    if isinstance(loop, EventLoop):
        return loop
    if isinstance(loop, asyncio.AbstractEventLoop):
        return EventLoop.wrap(loop)
    if loop is not None:
        raise TypeError(f"loop= takes an EventLoop or an asyncio loop, not {type(loop).__name__}")
    running = _running_loop()
    if running is not None:
        return EventLoop.wrap(running)
    app = EventLoop.instance()
    if app is not None:
        return app
    return EventLoop.background()
