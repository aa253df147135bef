"""A WebSocket connection on threads and blocking sockets: the part both roles share.

Each open connection has a reader thread that reads the socket, feeds the sans-I/O
core and puts complete messages in a bounded queue that :meth:`Connection.recv`
reads.  When ``max_queue`` messages wait unread the reader stops reading the socket
(TCP backpressure) until the queue drains to a quarter.  With ``ping_interval`` set
a keepalive thread pings the peer and fails the connection (1011) when no pong
comes within ``ping_timeout``.

Locks, taken in this order and never the other way:

``_message_lock``  one outgoing message at a time (a fragmented one holds it throughout)
``_write_lock``    one thread writes to the socket at a time, in the order bytes were made
``_proto_lock``    the core's state; held only for short, non-blocking work
``_cond``          the incoming message queue

Bytes the core makes while another thread writes (a pong the reader owes, a close
frame) wait in ``_pending``; whoever holds ``_write_lock`` writes them after its own,
and checks again after releasing it, so none is left behind.  The reader never
waits for ``_write_lock``: a reader stuck behind a writer that the peer does not
read could never read the peer's data.
"""

from __future__ import annotations

import collections
import functools
import logging
import os
import select
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any, Self

from ..core.events import Pong
from ..core.http11 import Headers, Request, Response
from ..core.protocol import Protocol, State
from ..exceptions import (
    ConcurrencyError,
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    ProtocolError,
    UsageError,
)
from .tls_in_tls import TLSInTLSSocket

__all__ = ["Connection", "Data", "Socket"]

Data = str | bytes
#: What a connection reads and writes: a TCP socket, a TLS socket, or TLS inside TLS.
Socket = socket.socket | TLSInTLSSocket

logger = logging.getLogger("tether.sync")

#: Bytes asked of the socket per read: large enough for a 64 KiB frame in one call.
RECV_SIZE = 65536


class _PongWaiter:
    """A ping waiting for its pong: an event, the send time, and the outcome."""

    __slots__ = ("event", "exc", "rtt", "sent_at")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.sent_at = 0.0
        self.rtt = 0.0
        self.exc: ConnectionClosed | None = None


def shutdown_socket(sock: Socket) -> None:
    """Shut both directions down; wakes threads blocked in ``recv`` or ``sendall``.

    For a TLS socket this shuts the TCP socket down without touching the TLS state
    (``ssl.SSLSocket.shutdown`` would drop the TLS object under a reading thread).
    """
    try:
        if isinstance(sock, socket.socket):
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        else:
            sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # not connected any more, or already shut down


class Connection:
    """An open WebSocket connection, used from threads.

    Read with :meth:`recv` or ``for message in connection``; write with :meth:`send`;
    close with :meth:`close` (or ``with connection:``).  One thread may read while
    others send, ping or close; two threads reading at once is a
    :class:`~tether.ConcurrencyError`.  Not created directly: :func:`tether.sync.connect`
    and :func:`tether.sync.serve` make them.
    """

    is_client = False

    def __init__(
        self,
        sock: Socket,
        *,
        max_size: int | None,
        max_queue: int | None,
        ping_interval: float | None,
        ping_timeout: float | None,
        close_timeout: float | None,
    ) -> None:
        if max_queue is not None and max_queue < 1:
            raise ValueError("max_queue must be at least 1 (or None for no limit)")
        self.id = uuid.uuid4()
        self.socket: Socket = sock
        self.max_size = max_size
        self.max_queue = max_queue
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.close_timeout = close_timeout
        #: The sans-I/O core, once the opening handshake succeeded.
        self.protocol: Protocol | None = None
        self.request: Request | None = None
        self.response: Response | None = None
        self.subprotocol: str | None = None
        #: The round-trip time measured by the last ping, in seconds.
        self.latency = 0.0
        self.local_address: Any = _address(sock, "getsockname")
        self.remote_address: Any = _address(sock, "getpeername")

        self._message_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._proto_lock = threading.Lock()
        self._cond = threading.Condition(threading.Lock())
        self._pending: list[bytes] = []
        self._messages: collections.deque[Data] = collections.deque()
        self._paused = False  # the reader waits for the queue to drain
        self._recv_active = False
        self._closing = False  # close() was called: read on regardless of the queue
        self._reader_done = False  # under _cond; the socket is closed
        self._closed = threading.Event()
        self._sock_closed = False  # under _write_lock
        self._aborted = False
        self._lost_exc: BaseException | None = None
        self._failure_logged = False
        self._sending_fragments = False
        self._pings: dict[bytes, _PongWaiter] = {}
        self._reader: threading.Thread | None = None
        self._keepalive: threading.Thread | None = None

    # ------------------------------------------------------------ properties

    @property
    def state(self) -> State:
        """CONNECTING, OPEN, CLOSING or CLOSED (once the TCP connection is closed)."""
        if self._closed.is_set():
            return State.CLOSED
        if self.protocol is None:
            return State.CONNECTING
        state = self.protocol.state
        return state if state is not State.CLOSED else State.CLOSING

    @property
    def close_code(self) -> int | None:
        """The close code received from the peer (1006 if none came); ``None`` while open."""
        if not self._closed.is_set():
            return None
        return self._close_exc().code

    @property
    def close_reason(self) -> str | None:
        """The close reason received from the peer; ``None`` while open."""
        if not self._closed.is_set():
            return None
        return self._close_exc().reason

    @property
    def path(self) -> str:
        """The request target of the opening handshake (path and query)."""
        return self.request.target if self.request else ""

    @property
    def request_headers(self) -> Headers | None:
        return self.request.headers if self.request else None

    @property
    def response_headers(self) -> Headers | None:
        return self.response.headers if self.response else None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.state.name} {self.remote_address}>"

    # ------------------------------------------------------------ starting

    def _start(self, protocol: Protocol, leftover: bytes = b"") -> None:
        """The opening handshake succeeded: start the reader (and keepalive) thread.

        ``leftover`` holds bytes that arrived with the handshake's last read.
        """
        protocol.on_message = self._on_message
        self.protocol = protocol
        self._reader = threading.Thread(
            target=self._read_loop, args=(leftover,), daemon=True,
            name=f"tether-sync-reader-{self.id.hex[:8]}",
        )
        self._reader.start()
        if self.ping_interval is not None:
            self._keepalive = threading.Thread(
                target=self._keepalive_loop, daemon=True,
                name=f"tether-sync-keepalive-{self.id.hex[:8]}",
            )
            self._keepalive.start()

    # ------------------------------------------------------------ reading (reader thread)

    def _read_loop(self, data: bytes) -> None:
        sock = self.socket
        waiting_for_eof = False
        try:
            while True:
                if data:
                    close_now, closed = self._receive(data)
                    if close_now:
                        self._flush_before_close()
                        break
                    if closed and not waiting_for_eof:
                        # Client: both close frames passed; the server closes TCP first
                        # (RFC 6455 section 7.1.1).  Wait at most close_timeout for it.
                        waiting_for_eof = True
                        sock.settimeout(self.close_timeout)
                if self.max_queue is not None:
                    with self._cond:
                        while (self._paused and not self._closing and not self._aborted
                               and not waiting_for_eof):
                            self._cond.wait()
                try:
                    data = sock.recv(RECV_SIZE)
                except TimeoutError:
                    logger.info("the server did not close the TCP connection within %ss "
                                "of the closing handshake", self.close_timeout)
                    break
                if not data:
                    break
        except OSError as exc:
            if not self._aborted:
                self._lost_exc = exc
                logger.debug("connection to %s lost: %s", self.remote_address, exc)
        except BaseException as exc:  # pragma: no cover - a bug: don't leave waiters hanging
            self._lost_exc = exc
            logger.exception("reader thread failed")
        finally:
            self._terminate()

    def _receive(self, data: bytes) -> tuple[bool, bool]:
        """Feed bytes to the core; returns (close the socket now, closing handshake done)."""
        p = self.protocol
        assert p is not None
        with self._proto_lock:
            p.receive_data(data)
            for event in p.events_received():
                if isinstance(event, Pong):
                    self._acknowledge_pings(event.payload)
            out = p.data_to_send()
            if out:
                self._pending.extend(out)
            failure = p.failure
            close_now = p.close_expected()
            closed = p.state is State.CLOSED
        if out:
            self._flush_nowait()
        if failure is not None:
            self._log_failure(failure)
        return close_now, closed

    def _on_message(self, data: Data) -> None:
        """Called by the core (under ``_proto_lock``) for each complete message."""
        with self._cond:
            self._messages.append(data)
            if self.max_queue is not None and len(self._messages) >= self.max_queue:
                self._paused = True
            self._cond.notify_all()

    def _acknowledge_pings(self, payload: bytes) -> None:
        """A pong acknowledges its ping and every ping sent before it (under _proto_lock)."""
        if payload not in self._pings:
            return
        now = time.monotonic()
        for key in list(self._pings):
            waiter = self._pings.pop(key)
            waiter.rtt = now - waiter.sent_at
            waiter.event.set()
            if key == payload:
                self.latency = waiter.rtt
                break

    def _log_failure(self, exc: ProtocolError) -> None:
        if self._failure_logged:
            return
        self._failure_logged = True
        logger.info("failing connection with %s: %d %s", self.remote_address, exc.code, exc)

    def _terminate(self) -> None:
        """The reader is done: close the socket and wake everyone who waits."""
        p = self.protocol
        with self._proto_lock:
            if p is not None:
                p.receive_eof()
        sock = self.socket
        shutdown_socket(sock)
        # After the shutdown a writer blocked in sendall fails at once and lets go of
        # the lock; closing under it means no writer ever uses a recycled descriptor.
        with self._write_lock:
            self._sock_closed = True
            sock.close()
        with self._proto_lock:
            waiters = list(self._pings.values())
            self._pings.clear()
        with self._cond:
            self._reader_done = True
            self._closed.set()
            self._cond.notify_all()
        if waiters:
            exc = self._close_exc()
            for waiter in waiters:
                waiter.exc = exc
                waiter.event.set()

    def _close_exc(self) -> ConnectionClosed:
        if self.protocol is None:
            exc = ConnectionClosedError(None, "", None, "")
            exc.__cause__ = self._lost_exc
            return exc
        return self.protocol.close_exception(self._lost_exc)

    # ------------------------------------------------------------ writing

    def _write(self, chunks: list[bytes]) -> None:
        """Write ``chunks`` in order; the caller holds ``_write_lock``."""
        if self._sock_closed:
            raise BrokenPipeError("the connection is closed")
        sock = self.socket
        for chunk in chunks:
            sock.sendall(chunk)

    def _take_pending(self) -> list[bytes]:
        with self._proto_lock:
            out, self._pending = self._pending, []
        return out

    def _has_pending(self) -> bool:
        with self._proto_lock:
            return bool(self._pending)

    def _flush_nowait(self) -> None:
        """Write pending bytes unless another thread is writing (it will write them)."""
        while self._write_lock.acquire(blocking=False):
            try:
                out = self._take_pending()
                if out:
                    self._write(out)
            except OSError as exc:
                if self._lost_exc is None and not self._aborted:
                    self._lost_exc = exc
                self._abort()
                return
            finally:
                self._write_lock.release()
            # Bytes queued while we held the lock found it taken: write them too.
            if not self._has_pending():
                return

    def _flush_before_close(self) -> None:
        """Write what is pending (a close frame) before the socket closes.

        Another thread may hold the write lock and be about to write it: wait for
        that thread, at most ``close_timeout``.
        """
        timeout = self.close_timeout
        if not self._write_lock.acquire(timeout=-1 if timeout is None else timeout):
            return
        try:
            out = self._take_pending()
            if out and not self._sock_closed:
                deadline = None if timeout is None else time.monotonic() + timeout
                if deadline is None or self._wait_writable(deadline):
                    self._write(out)
        except OSError:
            pass
        finally:
            self._write_lock.release()

    def _check_sendable(self) -> Protocol:
        p = self.protocol
        if p is None:
            raise UsageError("the opening handshake has not completed yet")
        if p.state is not State.OPEN or self._closed.is_set():
            raise self._close_exc()
        return p

    def _send_frames(self, op: Callable[[Protocol], None]) -> None:
        """Run ``op`` on the core and write what it made (blocking: backpressure)."""
        with self._write_lock:
            with self._proto_lock:
                p = self._check_sendable()
                op(p)
                out = self._pending + p.data_to_send()
                self._pending = []
            try:
                self._write(out)
            except OSError as exc:
                failed: OSError | None = exc
            else:
                failed = None
        if failed is not None:
            if self._lost_exc is None and not self._aborted:
                self._lost_exc = failed
            self._abort()
            self._closed.wait(self.close_timeout)
            raise self._close_exc() from failed
        if self._has_pending():
            self._flush_nowait()

    def _send_control(self, op: Callable[[Protocol], None], timeout: float | None) -> bool:
        """Queue a control frame with ``op`` and write it, waiting at most ``timeout``.

        For keepalive pings and close frames: gives up (returns ``False``) when the
        write lock or the socket's buffer space doesn't come in time.  The frame then
        stays queued behind the writer that holds the lock.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._proto_lock:
            p = self.protocol
            assert p is not None
            op(p)
            self._pending.extend(p.data_to_send())
        if not self._write_lock.acquire(timeout=-1 if timeout is None else timeout):
            return False
        try:
            out = self._take_pending()
            if out and not self._sock_closed:
                if deadline is not None and not self._wait_writable(deadline):
                    self._pending[:0] = out
                    return False
                self._write(out)
        except OSError as exc:
            if self._lost_exc is None and not self._aborted:
                self._lost_exc = exc
            self._abort()
            return False
        finally:
            self._write_lock.release()
        if self._has_pending():
            self._flush_nowait()
        return True

    def _wait_writable(self, deadline: float) -> bool:
        """Whether the socket can take a few bytes before ``deadline`` (caller holds the lock)."""
        remaining = max(0.0, deadline - time.monotonic())
        try:
            _, writable, _ = select.select([], [self.socket.fileno()], [], remaining)
        except (OSError, ValueError):
            return True  # the write will report what is wrong
        return bool(writable)

    def _abort(self) -> None:
        """Drop the connection: the reader wakes up and closes the socket."""
        self._aborted = True
        shutdown_socket(self.socket)
        with self._cond:
            self._cond.notify_all()

    def _fail(self, code: int, reason: str) -> None:
        """_Fail the WebSocket Connection_: send a close frame if we can, then drop it."""
        with self._proto_lock:
            p = self.protocol
            if p is not None and p.state is State.OPEN:
                p.fail(code, reason)
                self._pending.extend(p.data_to_send())
        if self._write_lock.acquire(blocking=False):
            try:
                out = self._take_pending()
                if out and not self._sock_closed and self._wait_writable(time.monotonic()):
                    self._write(out)
            except OSError:
                pass
            finally:
                self._write_lock.release()
        self._abort()

    # ------------------------------------------------------------ public API: receiving

    def recv(self, timeout: float | None = None) -> Data:
        """The next message: ``str`` for text, ``bytes`` for binary.

        Waits up to ``timeout`` seconds (forever if ``None``) and raises
        :exc:`TimeoutError` when none came.  Once the connection is closed and every
        message received before was read, raises :class:`~tether.ConnectionClosedOK`
        or :class:`~tether.ConnectionClosedError`.  Raises
        :class:`~tether.ConcurrencyError` if another thread is already waiting in
        ``recv()``.
        """
        with self._cond:
            if self._recv_active:
                raise ConcurrencyError(
                    "recv() is already waiting for the next message in another thread; "
                    "read from one thread only (or hand messages over with a queue)")
            messages = self._messages
            if not messages:
                if self._reader_done:
                    raise self._close_exc()
                self._recv_active = True
                try:
                    deadline = None if timeout is None else time.monotonic() + timeout
                    while not messages:
                        if self._reader_done:
                            raise self._close_exc()
                        if deadline is None:
                            self._cond.wait()
                        else:
                            remaining = deadline - time.monotonic()
                            if remaining <= 0:
                                raise TimeoutError(f"no message within {timeout}s")
                            self._cond.wait(remaining)
                finally:
                    self._recv_active = False
            data = messages.popleft()
            if self._paused and len(messages) <= (self.max_queue or 0) // 4:
                self._paused = False
                self._cond.notify_all()
            return data

    def __iter__(self) -> Iterator[Data]:
        """Messages until the connection closes (cleanly: the loop ends; else it raises)."""
        try:
            while True:
                yield self.recv()
        except ConnectionClosedOK:
            return

    # ------------------------------------------------------------ public API: sending

    def send(
        self,
        message: Data | bytearray | memoryview | Iterable[Data | bytearray | memoryview],
        *,
        compress: bool = True,
    ) -> None:
        """Send a message: ``str`` as text, bytes-like as binary.

        An iterable of ``str`` or of bytes sends one fragmented message, a frame per
        item.  Blocks while the peer doesn't read (TCP backpressure).  Sends from
        several threads go out one whole message after another.  ``compress=False``
        skips compression for this message.  Raises
        :class:`~tether.ConnectionClosed` once the connection is closing or closed.
        """
        if isinstance(message, (str, bytes, bytearray, memoryview)):
            data = message
            with self._message_lock:
                self._send_frames(lambda p: p.send_message(data, compress=compress))
            return
        if isinstance(message, Mapping):
            raise TypeError("send() takes str, bytes or an iterable of them, not a dict "
                            "(serialize it first, e.g. with json.dumps)")
        if not isinstance(message, Iterable):
            raise TypeError(f"send() takes str, bytes or an iterable of them, "
                            f"not {type(message).__name__}")
        with self._message_lock:
            self._send_fragments(iter(message), compress)

    def _send_fragments(self, chunks: Iterator[Data | bytearray | memoryview],
                        compress: bool) -> None:
        try:
            first = next(chunks)
        except StopIteration:
            return
        if not isinstance(first, (str, bytes, bytearray, memoryview)):
            raise TypeError(f"fragments are str or bytes, not {type(first).__name__}")
        self._sending_fragments = True
        started = False
        try:
            self._send_frames(lambda p: p.send_message(first, fin=False, compress=compress))
            started = True
            text = isinstance(first, str)
            for chunk in chunks:
                if isinstance(chunk, str) != text or not isinstance(
                        chunk, (str, bytes, bytearray, memoryview)):
                    raise TypeError("all fragments of a message must be str, or all bytes")
                self._send_frames(functools.partial(_continue, chunk, compress))
            end: Data = "" if text else b""
            self._send_frames(lambda p: p.send_continuation(end, True, compress=compress))
        except BaseException:
            if started:
                # The message can neither be finished nor interrupted by another one:
                # fail the connection (1011), or every later send would be refused.
                self._fail(1011, "error while sending a fragmented message")
            raise
        finally:
            self._sending_fragments = False

    def ping(self, data: str | bytes | None = None, timeout: float | None = None) -> float:
        """Send a ping and wait for its pong; returns the round-trip time in seconds.

        ``data`` is the payload (random 4 bytes by default).  Raises
        :exc:`TimeoutError` when no pong comes within ``timeout`` seconds, and
        :class:`~tether.ConnectionClosed` if the connection closes first.
        """
        waiter = _PongWaiter()
        if data is None:
            payload = os.urandom(4)
        else:
            payload = data.encode() if isinstance(data, str) else bytes(data)

        def op(p: Protocol) -> None:
            key = payload
            if data is None:
                while key in self._pings:
                    key = os.urandom(4)
            elif key in self._pings:
                raise UsageError("a ping with this payload is already waiting for its pong")
            p.send_ping(key)
            waiter.sent_at = time.monotonic()
            self._pings[key] = waiter

        self._send_frames(op)
        if not waiter.event.wait(timeout):
            with self._proto_lock:
                for key, value in list(self._pings.items()):
                    if value is waiter:
                        del self._pings[key]
            raise TimeoutError(f"no pong within {timeout}s")
        if waiter.exc is not None:
            raise waiter.exc
        return waiter.rtt

    def pong(self, data: str | bytes = b"") -> None:
        """Send an unsolicited pong (a one-way heartbeat)."""
        payload = data.encode() if isinstance(data, str) else bytes(data)
        self._send_frames(lambda p: p.send_pong(payload))

    def _keepalive_loop(self) -> None:
        interval = self.ping_interval
        timeout = self.ping_timeout
        assert interval is not None
        while not self._closed.wait(interval):
            p = self.protocol
            if p is None or p.state is not State.OPEN:
                return
            waiter = _PongWaiter()
            self._send_control(functools.partial(self._keepalive_ping, waiter), timeout)
            if waiter.sent_at == 0.0:
                return  # the connection started closing meanwhile
            left = None if timeout is None else timeout - (time.monotonic() - waiter.sent_at)
            if not waiter.event.wait(left) and not self._closed.is_set():
                logger.info("no pong within %ss: closing connection to %s",
                            timeout, self.remote_address)
                self._fail(1011, "keepalive ping timeout")
                return
            if waiter.exc is not None:
                return

    def _keepalive_ping(self, waiter: _PongWaiter, p: Protocol) -> None:
        payload = struct.pack("!d", time.monotonic())
        while payload in self._pings:
            payload = os.urandom(8)
        if p.state is State.OPEN:
            p.send_ping(payload)
            waiter.sent_at = time.monotonic()
            self._pings[payload] = waiter

    # ------------------------------------------------------------ public API: closing

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection with the closing handshake and wait until it is done.

        Waits up to ``close_timeout`` for the peer to answer and close, then drops
        the connection.  Does nothing if the connection is already closed.
        """
        deadline = None if self.close_timeout is None else time.monotonic() + self.close_timeout
        self._start_closing(code, reason, self.close_timeout)
        self._wait_closed(deadline)

    def _start_closing(self, code: int, reason: str, timeout: float | None) -> None:
        """Send the close frame (waiting at most ``timeout`` to write it)."""
        p = self.protocol
        if p is None:
            self._abort()
            return
        if self._closed.is_set():
            return
        failed = False

        def op(p: Protocol) -> None:
            nonlocal failed
            if p.state is not State.OPEN:
                return
            if self._sending_fragments:
                # A message can't be interrupted by a close frame: fail instead.
                p.fail(1011, "close() during a fragmented send")
                failed = True
            else:
                p.send_close(code, reason)

        sent = self._send_control(op, timeout)
        with self._cond:
            self._closing = True
            self._cond.notify_all()  # a paused reader reads on, to see the answer
        if failed or not sent:
            self._abort()

    def _wait_closed(self, deadline: float | None) -> None:
        """Wait for the reader to close the socket; drop the connection at ``deadline``."""
        if self._reader is None:
            return
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        if not self._closed.wait(timeout):
            logger.info("closing handshake with %s timed out: dropping the connection",
                        self.remote_address)
            self._abort()
        if self._reader is not threading.current_thread():
            self._reader.join()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _continue(chunk: Data | bytearray | memoryview, compress: bool, p: Protocol) -> None:
    p.send_continuation(chunk, False, compress=compress)


def _address(sock: Socket, name: str) -> Any:
    try:
        return getattr(sock, name)()
    except OSError:
        return None
