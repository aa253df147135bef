"""TLS inside a TLS socket, for wss:// through an https:// proxy.

:meth:`ssl.SSLContext.wrap_socket` needs a real file descriptor, so it can't wrap
an :class:`ssl.SSLSocket`.  :class:`TLSInTLSSocket` runs the inner TLS session on an
:class:`ssl.SSLObject` with memory buffers and moves its records over the outer TLS
socket.  It offers the few socket methods the blocking engine uses; one thread may
read while another writes.
"""

from __future__ import annotations

import functools
import socket
import ssl
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["TLSInTLSSocket"]

T = TypeVar("T")
_RECV_SIZE = 65536


class TLSInTLSSocket:
    """A TLS session over ``outer`` (itself a TLS socket to a proxy).

    The TLS handshake runs in the constructor, under ``outer``'s timeout.
    ``leftover`` holds bytes that already arrived on ``outer`` for this session.
    """

    def __init__(
        self,
        outer: socket.socket,
        context: ssl.SSLContext,
        server_hostname: str | None,
        leftover: bytes = b"",
    ) -> None:
        self._outer = outer
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._incoming, self._outgoing,
                                     server_hostname=server_hostname)
        self._lock = threading.Lock()  # the SSLObject and its buffers
        self._send_lock = threading.Lock()  # writes to ``outer``, in the order made
        if leftover:
            self._incoming.write(leftover)
        self._run(self._tls.do_handshake)
        self._flush(wait=True)

    def _run(self, operation: Callable[[], T]) -> T:
        """Run a TLS operation, reading from ``outer`` as long as it needs more bytes.

        The caller sends what the operation made with :meth:`_flush`.
        """
        while True:
            with self._lock:
                try:
                    return operation()
                except ssl.SSLWantReadError:
                    pass
            self._flush(wait=False)
            data = self._outer.recv(_RECV_SIZE)
            with self._lock:
                if data:
                    self._incoming.write(data)
                else:
                    self._incoming.write_eof()

    def _flush(self, wait: bool) -> None:
        """Send the TLS records made so far; with ``wait=False``, only if nobody else is.

        Whoever holds the send lock checks for new records after letting it go, so a
        record made meanwhile by a thread that didn't wait is never left behind.
        """
        while self._send_lock.acquire(blocking=wait):
            try:
                while True:
                    with self._lock:
                        data = self._outgoing.read()
                    if not data:
                        break
                    self._outer.sendall(data)
            finally:
                self._send_lock.release()
            with self._lock:
                if not self._outgoing.pending:
                    return
            wait = False

    # ------------------------------------------------------------ the socket interface

    def recv(self, bufsize: int) -> bytes:
        """Up to ``bufsize`` decrypted bytes; ``b""`` at the end of the stream."""
        try:
            data = self._run(lambda: self._tls.read(bufsize))
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            return b""
        self._flush(wait=False)
        return data

    def sendall(self, data: bytes | bytearray | memoryview) -> None:
        """Encrypt and send all of ``data``."""
        view = memoryview(data)
        while view:
            written = self._run(functools.partial(self._tls.write, view))
            view = view[written:]
        self._flush(wait=True)

    def settimeout(self, timeout: float | None) -> None:
        self._outer.settimeout(timeout)

    def gettimeout(self) -> float | None:
        return self._outer.gettimeout()

    def fileno(self) -> int:
        return self._outer.fileno()

    def shutdown(self, how: int) -> None:
        """Shut the TCP connection down (both TLS layers simply stop)."""
        socket.socket.shutdown(self._outer, how)

    def close(self) -> None:
        self._outer.close()

    def getsockname(self) -> Any:
        return self._outer.getsockname()

    def getpeername(self) -> Any:
        return self._outer.getpeername()

    def setsockopt(self, level: int, option: int, value: int) -> None:
        self._outer.setsockopt(level, option, value)

    def getpeercert(self, binary_form: bool = False) -> Any:
        """The certificate of the WebSocket server (not the proxy's)."""
        return self._tls.getpeercert(binary_form)

    def version(self) -> str | None:
        return self._tls.version()

    def cipher(self) -> tuple[str, str, int] | None:
        return self._tls.cipher()

    @property
    def server_hostname(self) -> str | None:
        return self._tls.server_hostname
