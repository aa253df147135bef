"""Running a coroutine on the default loop or, when asked, on uvloop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from ..exceptions import UsageError

__all__ = ["loop_factory", "run"]

T = TypeVar("T")


def loop_factory(uvloop: bool = False) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The event-loop factory for ``asyncio.Runner``: uvloop's when asked, else the default.

    uvloop is optional (``pip install tether[uvloop]``); asking for it without it
    installed is a :class:`~tether.UsageError` that says so.
    """
    if not uvloop:
        return None
    try:
        import uvloop as uv
    except ImportError:
        raise UsageError("uvloop was asked for but is not installed: "
                         "pip install 'tether[uvloop]' (or uvloop)") from None
    factory: Callable[[], asyncio.AbstractEventLoop] = uv.new_event_loop
    return factory


def run(main: Coroutine[Any, Any, T], *, uvloop: bool = False, debug: bool | None = None) -> T:
    """Run ``main`` to completion like :func:`asyncio.run`, on uvloop if ``uvloop=True``."""
    with asyncio.Runner(debug=debug, loop_factory=loop_factory(uvloop)) as runner:
        return runner.run(main)
