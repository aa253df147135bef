"""Unix domain socket helpers for the servers that bind their own sockets
(:mod:`tether.sync` and the Qt-style :class:`tether.signals.WebSocketServer`; the asyncio
server uses ``loop.create_unix_server``, which behaves the same way)."""

from __future__ import annotations

import contextlib
import os
import socket
import stat

__all__ = ["listen_unix", "remove_socket_file"]


def listen_unix(path: str, backlog: int) -> socket.socket:
    """A listening Unix domain socket at ``path``; a stale socket file there is
    replaced (as asyncio's ``create_unix_server`` does), any other file is kept."""
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISSOCK(os.stat(path).st_mode):
            os.remove(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock


def remove_socket_file(path: str, inode: int) -> None:
    """Remove the socket file a server made, unless another took its place since."""
    with contextlib.suppress(OSError):
        st = os.stat(path)
        if stat.S_ISSOCK(st.st_mode) and st.st_ino == inode:
            os.remove(path)
