"""What the Qt-style objects share: their loop, and the declarative (QML) constructor."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .loop import EventLoop, resolve_loop
from .signal import Signal

__all__ = ["LoopObject"]


class LoopObject:
    """An object that lives on one :class:`EventLoop` and emits signals on its thread.

    The constructor takes every writable property and every signal as a keyword, the
    way QML declares an object: ``prop=value`` sets a property, ``on_<signal>=slot``
    connects a slot.  Slots are connected first, then properties are set in the order
    given, then the ``_deferred`` ones (``active``, ``listen``) so that an object
    declared active opens with everything else in place.
    """

    _deferred: tuple[str, ...] = ()
    _signal_names: tuple[str, ...]

    def __init__(self, loop: EventLoop | asyncio.AbstractEventLoop | None) -> None:
        self._loop = resolve_loop(loop)
        # Make every signal now, so that two threads connecting slots at once can't
        # each make (and keep) a different instance signal.
        for name in type(self).signal_names():
            getattr(self, name)

    @property
    def event_loop(self) -> EventLoop:
        """The :class:`EventLoop` this object lives on (its slots run on that thread)."""
        return self._loop

    def _declare(self, properties: Mapping[str, Any]) -> None:
        cls = type(self)
        slots: list[tuple[Signal, Callable[..., Any]]] = []
        values: list[tuple[str, Any]] = []
        for key, value in properties.items():
            if key.startswith("on_") and isinstance(getattr(cls, key[3:], None), Signal):
                slots.append((getattr(self, key[3:]), value))
                continue
            attr = getattr(cls, key, None)
            if isinstance(attr, property):
                if attr.fset is None:
                    raise TypeError(f"{cls.__name__}.{key} is read-only")
                values.append((key, value))
                continue
            raise TypeError(f"{cls.__name__}() got an unexpected keyword {key!r}: not a "
                            f"writable property, nor on_<signal> for one of its signals")
        for signal, slot in slots:
            signal.connect(slot)
        later = [(k, v) for k, v in values if k in self._deferred]
        for key, value in [*(kv for kv in values if kv[0] not in self._deferred), *later]:
            setattr(self, key, value)

    @classmethod
    def signal_names(cls) -> Iterable[str]:
        """The names of this class's signals."""
        names = cls.__dict__.get("_signal_names")
        if names is None:
            names = tuple(name for name in dir(cls)
                          if isinstance(getattr(cls, name, None), Signal))
            cls._signal_names = names
        return names
