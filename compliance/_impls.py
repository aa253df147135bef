"""The WebSocket implementations the compliance testees can run on, behind one interface.

``load(name)`` returns an :class:`Impl` for ``"tether"`` (this repository) or
``"websockets"`` (the peer library, used to validate the harness and to compare).  Both
expose the same asyncio API shape: ``serve(handler, host, port, **kw)`` as an async context
manager with ``serve_forever()``, ``connect(uri, **kw)`` as an async context manager, and a
connection with ``recv()``, ``send()`` and ``async for``.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

# The repository's src/ folder: tether is imported from here when it is not installed.
SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")


@dataclass
class Impl:
    name: str
    version: str
    location: str
    serve: Callable[..., Any]
    connect: Callable[..., Any]
    # Exceptions a testee expects: the connection closed, the handshake failed.
    ConnectionClosed: type[BaseException]
    InvalidHandshake: type[BaseException]


def _load_tether() -> Impl:
    try:
        import tether
    except ImportError:
        sys.path.insert(0, SRC)
        import tether
    missing = [n for n in ("serve", "connect", "ConnectionClosed") if not hasattr(tether, n)]
    if missing:
        raise SystemExit(
            f"tether at {tether.__file__} has no {', '.join(missing)} yet "
            "(its asyncio engine is not there): use --impl websockets"
        )
    return Impl(
        name="tether",
        version=getattr(tether, "__version__", "?"),
        location=os.path.dirname(tether.__file__ or ""),
        serve=tether.serve,
        connect=tether.connect,
        ConnectionClosed=tether.ConnectionClosed,
        InvalidHandshake=getattr(tether, "InvalidHandshake", OSError),
    )


def _load_websockets() -> Impl:
    # websockets caps a fragmented message at 4096 frames (TooManyFragments, close 1009),
    # a limit beside max_size that only this variable lifts; cases 9.3.* and 9.4.* send
    # 4 MiB in frames of 64 B and up.  Lift it too, like max_size=None, unless set already.
    os.environ.setdefault("WEBSOCKETS_MAX_FRAGMENTS", str(2**31))
    import websockets
    from websockets.asyncio.client import connect
    from websockets.asyncio.server import serve
    from websockets.exceptions import ConnectionClosed, InvalidHandshake

    return Impl(
        name="websockets",
        version=websockets.version.version,
        location=os.path.dirname(websockets.__file__ or ""),
        serve=serve,
        connect=connect,
        ConnectionClosed=ConnectionClosed,
        InvalidHandshake=InvalidHandshake,
    )


IMPLS = {"tether": _load_tether, "websockets": _load_websockets}


def load(name: str) -> Impl:
    return IMPLS[name]()


def options(max_size: int | None, compression: bool | None) -> dict[str, Any]:
    """Keyword arguments for serve()/connect(): no size limit, and ``compression`` only
    when asked for (``None`` = leave the library's default alone)."""
    kw: dict[str, Any] = {"max_size": max_size}
    if compression is not None:
        kw["compression"] = "deflate" if compression else None
    return kw


def run(main: Callable[[], Coroutine[Any, Any, int]], use_uvloop: bool) -> int:
    """Run ``main()`` on the default asyncio loop or on uvloop; returns its exit status."""
    factory = None
    if use_uvloop:
        import uvloop

        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main())


def loop_name() -> str:
    """'uvloop' or 'asyncio', for the testees' banner lines."""
    return type(asyncio.get_running_loop()).__module__.split(".")[0]


def add_common_args(ap: Any) -> None:
    """The options both testees take."""
    ap.add_argument(
        "--impl",
        choices=sorted(IMPLS),
        default="tether",
        help="WebSocket implementation to test (default: tether)",
    )
    ap.add_argument("--uvloop", action="store_true", help="run on uvloop instead of asyncio")
    comp = ap.add_mutually_exclusive_group()
    comp.add_argument(
        "--compression",
        dest="compression",
        action="store_true",
        default=None,
        help='pass compression="deflate" (permessage-deflate on)',
    )
    comp.add_argument(
        "--no-compression",
        dest="compression",
        action="store_false",
        help="pass compression=None (permessage-deflate off)",
    )
