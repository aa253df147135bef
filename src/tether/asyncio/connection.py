"""A WebSocket connection on asyncio: the part both roles share.

:class:`Connection` is the asyncio ``BufferedProtocol`` itself: the transport reads
into the buffer the sans-I/O core hands out (``get_buffer``/``buffer_updated``), the
core turns the bytes into messages, and complete messages go straight into a bounded
queue that ``recv()`` reads.  ``data_received`` takes bytes from elsewhere (what came
after a proxy's answer or the opening handshake).
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import logging
import os
import struct
import threading
import time
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from typing import Any, cast

from ..core.events import CloseReceived, FrameReceived, Ping, Pong
from ..core.http11 import Request, Response
from ..core.protocol import Protocol, State
from ..exceptions import (
    ConcurrencyError,
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    ProtocolError,
    UsageError,
)

__all__ = ["Connection", "Data"]

Data = str | bytes
logger = logging.getLogger("tether")
# Module globals are found faster than enum attributes (hot paths).
_OPEN = State.OPEN
_CLOSED = State.CLOSED


class _Scratch(threading.local):
    """One receive buffer per thread, shared by the connections its event loop serves.

    Reads in a thread are sequential, and each one is consumed (or its incomplete
    frame copied out) before the next, so an idle connection holds no receive buffer.
    256 KiB, the size of uvloop's own read buffer.
    """

    def __init__(self) -> None:
        self.view = memoryview(bytearray(262144))


_scratch = _Scratch()


#: Shared empty placeholders, replaced by a connection's own container when it first
#: needs one (never added to: see where they are replaced).
class _Empty(collections.deque[Any]):
    """The shared empty message queue: adding to it is a bug, said loudly."""

    def append(self, item: Any) -> None:
        raise RuntimeError("tether bug: a message was added to the shared empty queue")


_NO_MESSAGES: collections.deque[Any] = _Empty()
_NO_PINGS: dict[bytes, Any] = {}


#: Set (as a context variable, around ``connect()``) by a layer that needs to attach its
#: listeners to a connection before it reads a byte: called as ``hook(connection)`` at
#: the end of :class:`Connection`'s ``__init__``.  The Qt-style layer uses it.
connection_created: contextvars.ContextVar[Any] = contextvars.ContextVar(
    "tether_connection_created", default=None)


class Connection(asyncio.BufferedProtocol):
    """An open (or opening) WebSocket connection.

    Read with :meth:`recv` or ``async for message in connection``; write with
    :meth:`send`; close with :meth:`close`.  Not created directly: :func:`tether.connect`
    and :func:`tether.serve` make them.
    """

    is_client = False

    # Slots, not a per-instance dict: with this many attributes, a dict is a third of
    # an idle connection's memory.  ``__dict__`` stays for subclasses and for
    # attributes applications attach (made only when the first one is set).
    __slots__ = (
        "__dict__", "__weakref__", "_close_timer", "_closed", "_drain_waiters", "_id",
        "_keepalive", "_keepalive_timeout", "_logger", "_lost_exc", "_messages",
        "_open_timer", "_paused_reading", "_pending_failure_timer", "_pings", "_recv_waiter",
        "_sending_fragments", "_write_paused", "close_listener", "close_timeout",
        "drain_listeners", "frame_events", "frame_listener", "latency", "loop", "max_queue",
        "max_size", "message_listener", "open_listener", "open_timeout",
        "outgoing_frame_size", "ping_interval", "ping_listener", "ping_timeout",
        "pong_listener", "protocol",
        "request", "response", "subprotocol", "transport", "write_limit",
    )

    def __init__(
        self,
        *,
        max_size: int | None,
        max_queue: int | None,
        write_limit: int,
        ping_interval: float | None,
        ping_timeout: float | None,
        close_timeout: float | None,
        open_timeout: float | None,
        frame_events: bool = False,
        outgoing_frame_size: int | None = None,
    ) -> None:
        self._id: uuid.UUID | None = None
        self.max_size = max_size
        self.max_queue = max_queue
        self.write_limit = write_limit
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.close_timeout = close_timeout
        self.open_timeout = open_timeout
        self.frame_events = frame_events
        self.outgoing_frame_size = outgoing_frame_size

        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.protocol: Protocol | None = None  # the core, once the handshake succeeded
        self.request: Request | None = None
        self.response: Response | None = None
        self.subprotocol: str | None = None
        self._logger: logging.LoggerAdapter[logging.Logger] | None = None

        # Made when first needed (an idle connection holds none of them).
        self._messages: collections.deque[Data] = _NO_MESSAGES
        self._recv_waiter: asyncio.Future[None] | None = None
        self._paused_reading = False
        self._write_paused = False
        self._drain_waiters: list[asyncio.Future[None]] | None = None
        self._pings: dict[bytes, tuple[float, asyncio.Future[float]]] = _NO_PINGS
        self._keepalive: asyncio.TimerHandle | None = None
        self._keepalive_timeout: asyncio.TimerHandle | None = None
        self._close_timer: asyncio.TimerHandle | None = None
        self._pending_failure_timer: asyncio.TimerHandle | None = None
        self._open_timer: asyncio.TimerHandle | None = None
        self._sending_fragments = False
        self._closed: asyncio.Future[None] = self.loop.create_future()
        self._lost_exc: Exception | None = None
        #: The last round-trip time measured by a ping, in seconds.
        self.latency = 0.0
        #: Optional listeners the Qt-style layer attaches (frame, pong, bytes written).
        self.frame_listener: Any = None
        self.pong_listener: Any = None
        #: ``ping_listener(payload)`` hears each ping received (the pong is sent already).
        self.ping_listener: Any = None
        #: ``message_listener(data)`` takes complete messages instead of the recv() queue;
        #: ``close_listener(code, reason)`` hears the peer's close frame;
        #: ``open_listener()`` runs once the handshake succeeded, before any frame is read.
        self.message_listener: Any = None
        self.close_listener: Any = None
        self.open_listener: Any = None
        #: Called (no arguments) each time the write buffer drains below the low-water
        #: mark after being full: how :mod:`tether.pubsub` flushes what it held back.
        #: Empty (a tuple: nothing to allocate, nothing to add to by mistake) until
        #: :meth:`add_drain_listener` makes it a list.
        self.drain_listeners: list[Any] | tuple[()] = ()
        created = connection_created.get()
        if created is not None:
            created(self)

    # ------------------------------------------------------------ properties

    @property
    def id(self) -> uuid.UUID:
        """A unique identifier for this connection (for logs), made when first asked for."""
        if self._id is None:
            self._id = uuid.uuid4()
        return self._id

    @property
    def logger(self) -> logging.LoggerAdapter[logging.Logger]:
        """The ``tether`` logger, with this connection in each record's ``connection``."""
        if self._logger is None:
            self._logger = logging.LoggerAdapter(logger, {"connection": self})
        return self._logger

    def add_drain_listener(self, listener: Any) -> None:
        """Call ``listener()`` each time the write buffer drains after being full."""
        if not isinstance(self.drain_listeners, list):
            self.drain_listeners = []
        self.drain_listeners.append(listener)

    def remove_drain_listener(self, listener: Any) -> None:
        """Stop calling ``listener`` (added with :meth:`add_drain_listener`), if it was."""
        listeners = self.drain_listeners
        if isinstance(listeners, list) and listener in listeners:
            listeners.remove(listener)

    @property
    def state(self) -> State:
        """CONNECTING, OPEN, CLOSING or CLOSED."""
        if self._closed.done():
            return State.CLOSED
        if self.protocol is None:
            return State.CONNECTING
        return self.protocol.state if self.protocol.state is not State.CLOSED else State.CLOSING

    @property
    def local_address(self) -> Any:
        """The local socket address (``(host, port)`` for TCP)."""
        return self.transport.get_extra_info("sockname") if self.transport else None

    @property
    def remote_address(self) -> Any:
        """The peer's socket address (``(host, port)`` for TCP)."""
        return self.transport.get_extra_info("peername") if self.transport else None

    @property
    def close_code(self) -> int | None:
        """The close code received from the peer (1006 if the connection dropped)."""
        if not self._closed.done():
            return None
        return self._close_exc().code

    @property
    def close_reason(self) -> str | None:
        """The close reason received from the peer."""
        if not self._closed.done():
            return None
        return self._close_exc().reason

    @property
    def path(self) -> str:
        """The request target of the opening handshake (path and query)."""
        return self.request.target if self.request else ""

    @property
    def request_headers(self) -> Any:
        return self.request.headers if self.request else None

    @property
    def response_headers(self) -> Any:
        return self.response.headers if self.response else None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.state.name} {self.remote_address}>"

    # ------------------------------------------------------------ asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Not an isinstance() check: uvloop's transports don't derive from asyncio's.
        self.transport = transport = cast(asyncio.Transport, transport)
        transport.set_write_buffer_limits(high=self.write_limit)
        if self.open_timeout is not None:
            self._open_timer = self.loop.call_later(self.open_timeout, self._open_timed_out)

    def _open_timed_out(self) -> None:
        if self.protocol is None and self.transport is not None:
            self.logger.info("opening handshake timed out after %ss", self.open_timeout)
            self._lost_exc = TimeoutError("timed out during the opening handshake")
            self.transport.abort()

    def _start(self, protocol: Protocol) -> None:
        """The handshake succeeded: switch to the WebSocket protocol."""
        protocol.defer_failure = self.message_listener is None
        if self._open_timer is not None:
            self._open_timer.cancel()
            self._open_timer = None
        self.protocol = protocol
        if not self.frame_events:
            protocol.on_message = self._on_message
        if self.ping_interval is not None:
            self._keepalive = self.loop.call_later(self.ping_interval, self._send_keepalive)
        if self.open_listener is not None:
            self.open_listener()

    def get_buffer(self, sizehint: int) -> memoryview:
        protocol = self.protocol
        if protocol is None:
            return _scratch.view  # the opening handshake: copied out at once
        return protocol.get_buffer(_scratch.view)

    def buffer_updated(self, nbytes: int) -> None:
        protocol = self.protocol
        if protocol is None:
            self.data_received(bytes(_scratch.view[:nbytes]))
            return
        protocol.buffer_updated(nbytes, _scratch.view)
        self._after_receive()

    def data_received(self, data: bytes) -> None:
        protocol = self.protocol
        if protocol is None:
            self._handshake_data(data)
            return
        protocol.receive_data(data)
        self._after_receive()

    def _handshake_data(self, data: bytes) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def _after_receive(self) -> None:
        protocol = self.protocol
        assert protocol is not None
        events = protocol.events_received()
        if events:
            self._process_events(events)
        if protocol.pending_failure is not None:
            if not self._messages:
                protocol.fail_pending()
            elif self._pending_failure_timer is None:
                # Messages that came before the bad frame are still queued: let the
                # application read them (recv() fails the connection once they are
                # gone), but not for longer than close_timeout.
                self._pending_failure_timer = self.loop.call_later(
                    self.close_timeout if self.close_timeout is not None else 10,
                    self._fail_pending)
        out = protocol.data_to_send()
        if out and self.transport is not None:
            if len(out) == 1:
                self.transport.write(out[0])
            else:
                self.transport.writelines(out)  # several frames, one call
        if protocol.failure is not None:
            self._log_failure(protocol.failure)
            self._close_transport()
        elif protocol.state is _CLOSED:
            if protocol.close_expected():
                self._close_transport()
            elif self._close_timer is None:
                # Client: the close handshake is done, the server should close TCP now.
                self._arm_close_timer()

    def _fail_pending(self) -> None:
        """Fail the connection for a protocol error that was waiting behind messages."""
        if self.protocol is not None and self.protocol.pending_failure is not None:
            self.protocol.fail_pending()
            self._after_receive()

    def _log_failure(self, exc: ProtocolError) -> None:
        if getattr(self, "_failure_logged", False):
            return
        self._failure_logged = True
        self.logger.info("failing connection from %s with %d: %s",
                         self.remote_address, exc.code, exc)

    def _on_message(self, data: Data) -> None:
        if self.message_listener is not None:
            self.message_listener(data)
            return
        messages = self._messages
        if messages is _NO_MESSAGES:
            messages = self._messages = collections.deque()
        messages.append(data)
        waiter = self._recv_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if (self.max_queue is not None and len(messages) >= self.max_queue
                and not self._paused_reading and self.transport is not None):
            self._paused_reading = True
            self.transport.pause_reading()

    def _process_events(self, events: list[Any]) -> None:
        for event in events:
            if isinstance(event, FrameReceived):
                if self.frame_listener is not None:
                    self.frame_listener(event.data, event.is_last)
            elif isinstance(event, Pong):
                self._acknowledge_pings(event.payload)
            elif isinstance(event, CloseReceived):
                if self.close_listener is not None:
                    self.close_listener(event.code, event.reason)
            elif isinstance(event, Ping):
                # The core has queued the pong already.
                if self.ping_listener is not None:
                    self.ping_listener(event.payload)
            else:  # Message, when frame events are on
                self._on_message(event.data)

    def _acknowledge_pings(self, payload: bytes) -> None:
        now = time.monotonic()
        if payload in self._pings:
            # A pong acknowledges its ping and every ping sent before it.
            for key in list(self._pings):
                sent_at, fut = self._pings.pop(key)
                if not fut.done():
                    fut.set_result(now - sent_at)
                if key == payload:
                    self.latency = now - sent_at
                    break
        if self.pong_listener is not None:
            self.pong_listener(self.latency, payload)

    def pause_writing(self) -> None:
        self._write_paused = True
        if self.protocol is not None:
            # A peer that pings without reading must not fill our buffer with pongs.
            self.protocol.hold_pongs = True

    def resume_writing(self) -> None:
        self._write_paused = False
        if self.protocol is not None and self.protocol.hold_pongs:
            self.protocol.release_pongs()
            self._flush()
        waiters, self._drain_waiters = self._drain_waiters, None
        if waiters:
            for w in waiters:
                if not w.done():
                    w.set_result(None)
        if self.drain_listeners:
            for listener in list(self.drain_listeners):
                listener()

    def eof_received(self) -> bool | None:
        if self.protocol is not None:
            self.protocol.receive_eof()
        return None  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        if self.protocol is not None:
            self.protocol.receive_eof()
        if exc is not None and self._lost_exc is None:
            self._lost_exc = exc
        for handle in (self._keepalive, self._keepalive_timeout, self._close_timer,
                       self._open_timer, self._pending_failure_timer):
            if handle is not None:
                handle.cancel()
        if not self._closed.done():
            self._closed.set_result(None)
        waiter = self._recv_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        self.resume_writing()
        closed = self._close_exc()
        for _, fut in self._pings.values():
            if not fut.done():
                fut.set_exception(closed)
                fut.exception()  # don't warn about an unretrieved exception
        self._pings.clear()
        self._connection_lost_hook()

    def _connection_lost_hook(self) -> None:
        """For subclasses: called once the transport is gone."""

    # ------------------------------------------------------------ closing machinery

    def _close_transport(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()
        self._arm_close_timer()

    def _arm_close_timer(self) -> None:
        if self._close_timer is None and self.close_timeout is not None:
            self._close_timer = self.loop.call_later(self.close_timeout, self._abort)

    def _abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def _close_exc(self) -> ConnectionClosed:
        if self.protocol is None:
            exc = ConnectionClosedError(None, "", None, "")
            exc.__cause__ = self._lost_exc
            return exc
        return self.protocol.close_exception(self._lost_exc)

    # ------------------------------------------------------------ public API

    async def recv(self) -> Data:
        """The next message: ``str`` for text, ``bytes`` for binary.

        Raises :class:`~tether.ConnectionClosedOK` or :class:`~tether.ConnectionClosedError`
        once the connection is closed and every message received before was read.
        """
        messages = self._messages
        if not messages:
            if self._recv_waiter is not None:
                raise ConcurrencyError(
                    "recv() is already waiting for the next message in another coroutine; "
                    "read from one coroutine only (or use a queue)")
            if self.protocol is not None and self.protocol.pending_failure is not None:
                # Everything before the bad frame was read: fail the connection now.
                self._fail_pending()
            while not messages:
                if self._closed.done() or (self.protocol is not None
                                           and self.protocol.eof_received):
                    raise self._close_exc()
                waiter = self.loop.create_future()
                self._recv_waiter = waiter
                try:
                    await waiter
                finally:
                    self._recv_waiter = None
                messages = self._messages  # made by the first message (see _on_message)
        data = messages.popleft()
        if self._paused_reading and len(messages) <= (self.max_queue or 0) // 4:
            self._paused_reading = False
            if self.transport is not None:
                self.transport.resume_reading()
        return data

    def __aiter__(self) -> AsyncIterator[Data]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Data]:
        try:
            while True:
                yield await self.recv()
        except ConnectionClosedOK:
            return

    def _check_sendable(self) -> Protocol:
        p = self.protocol
        if p is None:
            raise UsageError("the opening handshake has not completed yet")
        if p.state is not State.OPEN or self._closed.done():
            raise self._close_exc()
        return p

    def _flush(self) -> None:
        assert self.protocol is not None
        out = self.protocol.data_to_send()
        if out and self.transport is not None and not self.transport.is_closing():
            if len(out) == 1:
                self.transport.write(out[0])
            else:
                self.transport.writelines(out)  # several frames, one call

    @property
    def buffered_amount(self) -> int:
        """Bytes written but not yet handed to the socket (the transport's buffer)."""
        t = self.transport
        return t.get_write_buffer_size() if t is not None else 0

    def try_send_prepared(self, frame: bytes) -> int:
        """Write a frame built once with :func:`tether.core.protocol.prepare_frame`.

        Never waits (uWebSockets-style backpressure): returns the bytes now buffered
        for this connection after the write, so the caller decides what to do with a
        slow reader, or -1 when nothing was written because the connection is not
        open or is in the middle of a fragmented send.
        """
        p = self.protocol
        t = self.transport
        if (p is None or p.state is not _OPEN or t is None or self._sending_fragments
                or self.is_client or t.is_closing()):
            return -1
        # The checks of Protocol.send_prepared, done above; what the core queued before
        # (normally nothing: every call here flushes) goes first.
        out = p.data_to_send()
        if out:
            t.writelines(out)
        t.write(frame)
        return t.get_write_buffer_size()

    async def drain(self) -> None:
        """Wait until the write buffer is below the write limit."""
        if self._write_paused and not self._closed.done():
            fut = self.loop.create_future()
            if self._drain_waiters is None:
                self._drain_waiters = []
            self._drain_waiters.append(fut)
            await fut
            if self._closed.done() and self.protocol and self.protocol.state is not State.OPEN:
                raise self._close_exc()

    async def send(
        self,
        message: Data | bytearray | memoryview | Iterable[Data] | AsyncIterable[Data],
        *,
        compress: bool = True,
    ) -> None:
        """Send a message: ``str`` as text, bytes-like as binary.

        An iterable (or async iterable) of ``str`` or of bytes sends one fragmented
        message, a frame per item.  Waits while the write buffer is over
        ``write_limit``.  ``compress=False`` skips compression for this message.
        """
        if isinstance(message, (str, bytes, bytearray, memoryview)):
            p = self.protocol
            if (p is None or p.state is not _OPEN or self._sending_fragments
                    or self._closed.done()):
                if self._sending_fragments:
                    raise ConcurrencyError(
                        "a fragmented message is being sent by another coroutine")
                p = self._check_sendable()  # raises
            p.send_message(message, compress=compress)
            self._flush()
            if self._write_paused:
                await self.drain()
            return
        if isinstance(message, dict):
            raise TypeError("send() takes str, bytes or an iterable of them, not a dict "
                            "(serialize it first, e.g. with json.dumps)")
        if hasattr(message, "__aiter__"):
            await self._send_fragments(aiter(message), compress)  # type: ignore[arg-type]
        elif isinstance(message, Iterable):
            await self._send_fragments(_AsyncWrap(iter(message)), compress)
        else:
            raise TypeError(f"send() takes str, bytes or an iterable of them, "
                            f"not {type(message).__name__}")

    async def _send_fragments(self, chunks: AsyncIterator[Data], compress: bool) -> None:
        if self._sending_fragments:
            raise ConcurrencyError("a fragmented message is being sent by another coroutine")
        self._sending_fragments = True
        started = False
        try:
            try:
                first = await anext(chunks)
            except StopAsyncIteration:
                return
            self._check_sendable().send_message(first, fin=False, compress=compress)
            started = True
            self._flush()
            kind = str if isinstance(first, str) else bytes
            async for chunk in chunks:
                if not isinstance(chunk, kind) and not (
                        kind is bytes and isinstance(chunk, (bytearray, memoryview))):
                    raise TypeError("all fragments of a message must be str, or all bytes")
                self._check_sendable().send_continuation(chunk, False, compress=compress)
                self._flush()
                await self.drain()
            self._check_sendable().send_continuation(b"" if kind is bytes else "", True,
                                                     compress=compress)
            started = False
            self._flush()
            await self.drain()
        except BaseException:
            if started:
                # The message can neither be finished nor interrupted by another one:
                # fail the connection (1011), or every later send would be refused.
                self._fail_unfinished_message()
            raise
        finally:
            self._sending_fragments = False

    def _fail_unfinished_message(self) -> None:
        p = self.protocol
        if p is not None and p.state is State.OPEN and not self._closed.done():
            p.fail(1011, "error while sending a fragmented message")
            self._flush()
            self._close_transport()

    async def ping(self, data: str | bytes | None = None) -> float:
        """Send a ping and wait for its pong; returns the round-trip time in seconds."""
        p = self._check_sendable()
        if data is None:
            payload = os.urandom(4)
            while payload in self._pings:
                payload = os.urandom(4)
        else:
            payload = data.encode() if isinstance(data, str) else bytes(data)
            if payload in self._pings:
                raise UsageError("a ping with this payload is already waiting for its pong")
        fut: asyncio.Future[float] = self.loop.create_future()
        self._waiting_pings()[payload] = (time.monotonic(), fut)
        p.send_ping(payload)
        self._flush()
        return await fut

    def _waiting_pings(self) -> dict[bytes, tuple[float, asyncio.Future[float]]]:
        if self._pings is _NO_PINGS:
            self._pings = {}
        return self._pings

    async def pong(self, data: str | bytes = b"") -> None:
        """Send an unsolicited pong (a one-way heartbeat)."""
        self._check_sendable().send_pong(data.encode() if isinstance(data, str) else bytes(data))
        self._flush()

    def _send_keepalive(self) -> None:
        self._keepalive = None
        p = self.protocol
        if p is None or p.state is not State.OPEN or self._closed.done():
            return
        payload = struct.pack("!d", time.monotonic())
        fut: asyncio.Future[float] = self.loop.create_future()
        self._waiting_pings()[payload] = (time.monotonic(), fut)
        p.send_ping(payload)
        self._flush()
        if self.ping_timeout is not None:
            self._keepalive_timeout = self.loop.call_later(
                self.ping_timeout, self._keepalive_timed_out, fut)
        fut.add_done_callback(self._keepalive_answered)

    def _keepalive_answered(self, fut: asyncio.Future[float]) -> None:
        if self._keepalive_timeout is not None:
            self._keepalive_timeout.cancel()
            self._keepalive_timeout = None
        if fut.cancelled() or fut.exception() is not None:
            return
        if self.ping_interval is not None and not self._closed.done():
            self._keepalive = self.loop.call_later(self.ping_interval, self._send_keepalive)

    def _keepalive_timed_out(self, fut: asyncio.Future[float]) -> None:
        self._keepalive_timeout = None
        if fut.done() or self.protocol is None:
            return
        self.logger.info("no pong within %ss: closing connection to %s",
                         self.ping_timeout, self.remote_address)
        self.protocol.fail(1011, "keepalive ping timeout")
        self._flush()
        self._close_transport()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection with the closing handshake and wait until it is done.

        Waits up to ``close_timeout`` for the peer to answer, then drops the connection.
        """
        p = self.protocol
        if p is None:
            if self.transport is not None:
                self.transport.close()
            await self.wait_closed()
            return
        if p.state is State.OPEN and not self._closed.done():
            if self._sending_fragments:
                # A message can't be interrupted by a close frame: fail instead.
                p.fail(1011, "close() during a fragmented send")
            else:
                p.send_close(code, reason)
            self._flush()
            self._arm_close_timer()
            if self._paused_reading and self.transport is not None:
                # The peer's close frame must get through a full queue; data frames
                # that come before it are dropped by the core once we are closing.
                self._paused_reading = False
                self.transport.resume_reading()
            if p.close_expected():
                self._close_transport()
        await self.wait_closed()

    def abort(self) -> None:
        """Drop the connection at once, without a closing handshake."""
        if self.transport is not None:
            self.transport.abort()

    async def wait_closed(self) -> None:
        """Wait until the TCP connection is closed."""
        await asyncio.shield(self._closed)


class _AsyncWrap:
    """An async iterator over a plain iterator (for fragmented sends)."""

    def __init__(self, it: Iterable[Data]) -> None:
        self._it = iter(it)

    def __aiter__(self) -> _AsyncWrap:
        return self

    async def __anext__(self) -> Data:
        try:
            return next(self._it)
        except StopIteration:
            raise StopAsyncIteration from None
