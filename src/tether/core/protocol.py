"""The WebSocket protocol state machine after the opening handshake (RFC 6455 sections 5-7).

Bytes in (:meth:`Protocol.receive_data`, :meth:`Protocol.receive_eof`), events out
(:meth:`Protocol.events_received`), frames queued by the ``send_*`` methods and
drained with :meth:`Protocol.data_to_send`.  No I/O.

This file owns the connection states and every transition between them::

    OPEN ──send_close()──────────────▶ CLOSING ──close frame received──▶ CLOSED
      │                                   ▲
      ├──close frame received (we answer)─┼──────────────────────────▶ CLOSED
      ├──protocol error (we send close)───┘   (and the transport closes at once)
      └──receive_eof()─────────────────────────────────────────────▶ CLOSED

CONNECTING belongs to the opening handshake (:mod:`tether.core.handshake`); the
engine creates a :class:`Protocol` once the handshake succeeds.
"""

from __future__ import annotations

import enum
import os
import struct
import zlib
from collections.abc import Callable, Sequence
from typing import Any

from .._native import (
    IMPLEMENTATION,
    Utf8Decoder,
    apply_mask,
    mask_inplace,
    parse_frames,
    payload_buffer,
)
from ..exceptions import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidUTF8,
    PayloadTooBig,
    ProtocolError,
    UsageError,
)
from .events import CloseReceived, Event, FrameReceived, Message, Ping, Pong
from .extensions.base import Extension
from .frames import (
    Close,
    Frame,
    Opcode,
    build_frame,
    parse_close,
    serialize_close,
)

__all__ = ["DEFAULT_MAX_SIZE", "Protocol", "Role", "State", "prepare_frame"]

#: Default limit on an incoming message: 1 MiB, enough for chat, games and prices,
#: small enough that a thousand connections can't be made to hold a gigabyte.
DEFAULT_MAX_SIZE = 2**20

#: Fragments of a message are joined in groups of this many when their average size is
#: below ``_JOIN_BELOW / _JOIN_PARTS`` bytes (see ``Protocol._hold``): a budget on what
#: tiny fragments can make a connection hold, without a limit on their number.
_JOIN_PARTS = 256
_JOIN_BELOW = 65536

#: Unmasked data frames from this size on are queued as header and payload (no copy).
_SPLIT_FRAME_SIZE = 65536

#: A data frame with a payload of at least this size that doesn't arrive in one read
#: is read straight into the ``bytes`` object that becomes the message (see
#: ``Protocol.get_buffer``): no copy, and no fresh memory for the engine to fault in.
#: Only with the compiled hot path, whose ``payload_buffer`` makes that ``bytes``
#: object without touching it: a peer that declares a large frame gets no resident
#: memory for it before it sends it.
_BIG_FRAME = 65536 if IMPLEMENTATION == "compiled" else None


#: What :meth:`Protocol.data_to_send` and :meth:`Protocol.events_received` return when
#: there is nothing (never modified).
_NOTHING_TO_SEND: list[bytes] = []
_NO_EVENTS: list[Event] = []

#: Close codes after which a close counts as clean: normal, going away, no status.
_OK_CLOSE_CODES = frozenset({1000, 1001, 1005})


class State(enum.IntEnum):
    """Connection states (section 4.1 "_The WebSocket Connection is Established_")."""

    CONNECTING = 0
    OPEN = 1
    CLOSING = 2
    CLOSED = 3


class Role(enum.Enum):
    CLIENT = "client"
    SERVER = "server"


class _MaskSource:
    """Masking keys from the OS's CSPRNG, read 4 KiB at a time.

    "The masking key MUST be derived from a strong source of entropy" (10.3).
    """

    __slots__ = ("_buf", "_pos")

    def __init__(self) -> None:
        self._buf = b""
        self._pos = 0

    def __call__(self) -> bytes:
        if self._pos >= len(self._buf):
            self._buf = os.urandom(4096)
            self._pos = 0
        key = self._buf[self._pos : self._pos + 4]
        self._pos += 4
        return key


_OPEN = State.OPEN
_OP_TEXT = Opcode.TEXT.value
_OP_BINARY = Opcode.BINARY.value
_OP_CONT = Opcode.CONT.value
_OP_CLOSE = Opcode.CLOSE.value
_OP_PING = Opcode.PING.value
_OP_PONG = Opcode.PONG.value


class Protocol:
    """One WebSocket connection's protocol state, for either role."""

    # Slots, not a per-instance dict: an idle connection's memory is mostly its objects'
    # attribute tables.  ``__dict__`` stays for attributes others attach.
    __slots__ = (
        "__dict__", "_allowed_rsv", "_big", "_big_b0", "_big_fill", "_big_key",
        "_big_payload", "_buf", "_client", "_decoder", "_events", "_held_from", "_held_pong",
        "_held_size", "_mask", "_msg_chunks", "_msg_compressed", "_msg_opcode",
        "_msg_size", "_msg_text", "_out", "_probe", "_probe_done", "_send_opcode",
        "close_rcvd", "close_rcvd_then_sent", "close_sent", "defer_failure",
        "eof_received", "extensions", "failure", "frame_events", "hold_pongs",
        "max_frame_size", "max_size", "on_message", "outgoing_frame_size",
        "pending_failure", "role", "state",
    )

    def __init__(
        self,
        role: Role,
        *,
        max_size: int | None = DEFAULT_MAX_SIZE,
        max_frame_size: int | None = None,
        extensions: Sequence[Extension] = (),
        frame_events: bool = False,
        outgoing_frame_size: int | None = None,
        mask_generator: Callable[[], bytes] | None = None,
    ) -> None:
        self.role = role
        self.state = State.OPEN
        self.max_size = max_size
        self.max_frame_size = max_frame_size
        self.extensions = list(extensions)
        self.frame_events = frame_events
        self.outgoing_frame_size = outgoing_frame_size
        self._client = role is Role.CLIENT
        self._mask: Callable[[], bytes] | None = (
            (mask_generator or _MaskSource()) if self._client else None
        )
        # RSV bits that negotiated extensions may set; others are a protocol error.
        self._allowed_rsv = 0
        for ext in self.extensions:
            self._allowed_rsv |= ext.rsv_bits

        self._buf = bytearray()
        # A large frame whose payload is read straight into its message: a writable
        # view of the payload, the payload object, its first byte and masking key,
        # and how much arrived.
        self._big: memoryview | None = None
        self._big_payload: bytes | bytearray = b""
        self._big_b0 = 0
        self._big_key: bytes | None = None
        self._big_fill = 0
        self._events: list[Event] = []
        self._out: list[bytes] = []

        # The message being received: opcode (0 = none), chunks, size, decoder.
        self._msg_opcode = 0
        self._msg_chunks: list[bytes] = []
        self._msg_text: list[str] = []
        # Parts before this index were already joined (see _hold), and the size then.
        self._held_from = 0
        self._held_size = 0
        self._msg_size = 0
        self._decoder: Utf8Decoder | None = None
        self._msg_compressed = False
        # Fail-fast UTF-8 check of a text frame whose payload is still arriving.
        self._probe: Utf8Decoder | None = None
        self._probe_done = 0

        # The message being sent (for fragmented sends): opcode, or 0.
        self._send_opcode = 0

        self.close_rcvd: Close | None = None
        self.close_sent: Close | None = None
        self.close_rcvd_then_sent: bool | None = None
        #: Set when the connection failed (the error that failed it).
        self.failure: ProtocolError | None = None
        #: With ``defer_failure``, a protocol error found in the input waits here
        #: (input stops at the bad frame) until the engine calls :meth:`fail_pending`,
        #: so that the application sees, and may answer, every message that came
        #: before the bad frame, in order.
        self.defer_failure = False
        self.pending_failure: ProtocolError | None = None
        self.eof_received = False

        #: A callback the engine may set to receive complete messages directly,
        #: without an event being built for them.
        self.on_message: Callable[[str | bytes], None] | None = None

        #: Set by the engine while its write buffer is full.  Pongs are then held
        #: back and only the latest is kept ("If an endpoint receives a Ping frame and
        #: has not yet sent Pong frame(s) in response to previous Ping frame(s), the
        #: endpoint MAY elect to send a Pong frame for only the most recently processed
        #: Ping frame", 5.5.3), so a peer that pings without reading can't make us
        #: buffer pongs without bound.  :meth:`release_pongs` ends it.
        self.hold_pongs = False
        self._held_pong: bytes | None = None

    # ---------------------------------------------------------------- receiving

    def get_buffer(self, scratch: memoryview) -> memoryview:
        """Where the next read should go (for an engine on ``asyncio.BufferedProtocol``).

        Usually ``scratch``, a buffer the engine shares between connections (each
        read is consumed, or its incomplete frame copied out, before the next one);
        while a large frame is arriving, the rest of its payload, which then becomes
        the message itself (unmasked in place).  Call :meth:`buffer_updated` with the
        number of bytes read, before anything else reads into ``scratch``.
        """
        big = self._big
        return scratch if big is None else big[self._big_fill:]

    def buffer_updated(self, nbytes: int, scratch: memoryview) -> None:
        """``nbytes`` were read into the buffer :meth:`get_buffer` returned (the engine
        calls the two back to back, so ``_big`` still says which one it was)."""
        if self._big is not None:
            self._big_arrived(nbytes)
        else:
            self.receive_data(scratch[:nbytes])

    def _read_big(self, frame: bytearray | memoryview) -> bool:
        """Read the incomplete frame that ``frame`` starts with straight into its
        payload, if it is a large data frame; ``False`` (and nothing done) if not."""
        if (self.state is State.CLOSED or self.failure is not None
                or self.pending_failure is not None):
            return False
        b0, b1 = frame[0], frame[1]
        length = b1 & 0x7F
        hdr = 4 if length == 126 else 10
        if b1 & 0x80:
            hdr += 4
        if len(frame) < hdr or b0 & 0x08:
            return False
        length = int.from_bytes(frame[2 : 4 if length == 126 else 10], "big")
        assert _BIG_FRAME is not None
        if length < _BIG_FRAME or len(frame) - hdr >= length:
            return False
        # The same checks as for any frame: its header against the limits (which the
        # frames before it may have changed) and against the message so far.
        parse_frames(frame[:hdr], not self._client, self._frame_limit())
        self._check_header(b0)
        payload, view = payload_buffer(length)
        have = len(frame) - hdr
        view[:have] = frame[hdr:]
        self._big, self._big_payload, self._big_b0 = view, payload, b0
        self._big_key = bytes(frame[hdr - 4 : hdr]) if b1 & 0x80 else None
        self._big_fill = 0
        self._probe = None  # text is checked from the start of the payload again
        self._probe_done = 0
        self._big_arrived(have)
        return True

    def _big_arrived(self, nbytes: int) -> None:
        """``nbytes`` more of the large frame's payload: unmask them, check the text so
        far (as ``_check_partial_frame`` does), and process the frame once it is whole."""
        view = self._big
        assert view is not None
        start = self._big_fill
        end = self._big_fill = start + nbytes
        key = self._big_key
        if key is not None and nbytes:
            mask_inplace(view[start:end], key, start)
        b0 = self._big_b0
        try:
            if nbytes and self._carries_text(b0):
                self._probe_text(view[start:end])
            if end < len(view):
                return
            payload = self._big_payload
            self._drop_big()
            view.release()
            self._process_frame(b0, payload if type(payload) is bytes else bytes(payload))
        except ProtocolError as exc:
            self._drop_big()
            self._input_error(exc)

    def _drop_big(self) -> None:
        self._big, self._big_payload, self._big_key = None, b"", None

    def _input_error(self, exc: ProtocolError) -> None:
        if self.defer_failure:
            self.pending_failure = exc
            self._buf.clear()
        else:
            self.fail(exc.code, str(exc), exc)

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Feed bytes read from the network."""
        if (self.state is State.CLOSED or self.failure is not None or self.eof_received
                or self.pending_failure is not None):
            return  # "discard any data received after the close frame" (5.5.1)
        big = self._big
        if big is not None:
            # A large frame is being read into its payload: what fits goes there.
            fill = self._big_fill
            n = min(len(data), len(big) - fill)
            big[fill : fill + n] = memoryview(data)[:n]
            self._big_arrived(n)
            if n < len(data):
                self.receive_data(memoryview(data)[n:])
            return
        buf = self._buf
        try:
            if not buf:
                # Fast path: parse straight from what was read; only an incomplete
                # frame at its end is copied into the buffer (before any message is
                # handed out: ``data`` may be a buffer that the next read reuses).
                frames, used = parse_frames(data, not self._client, self._frame_limit())
                rest = None
                if used != len(data):
                    if (_BIG_FRAME is not None and len(data) - used >= 4
                            and data[used + 1] & 0x7F >= 126):
                        rest = memoryview(data)[used:]  # perhaps a large frame: see below
                    else:
                        buf += memoryview(data)[used:] if used else data
                for b0, payload in frames:
                    self._process_frame(b0, payload)
                    if self._finished():
                        buf.clear()
                        return
                if rest is not None:
                    if self._read_big(rest):
                        return
                    buf += rest
                if not buf:
                    return
                if not frames:
                    self._check_partial_frame()
                    return
            else:
                buf += data
            while True:
                frames, used = parse_frames(buf, not self._client, self._frame_limit())
                if used:
                    del buf[:used]
                for b0, payload in frames:
                    self._process_frame(b0, payload)
                    if self._finished():
                        buf.clear()
                        return
                # The parser stops before a bad frame that follows good ones, and the
                # frame limit depends on the message so far: parse the rest again.
                if not frames or len(buf) < 2:
                    break
            if buf:
                if (_BIG_FRAME is not None and len(buf) >= 4 and buf[1] & 0x7F >= 126
                        and self._read_big(buf)):
                    self._buf = bytearray()  # what it held is now in the payload
                    return
                self._check_partial_frame()
        except ProtocolError as exc:
            self._input_error(exc)

    def fail_pending(self) -> None:
        """Fail the connection for the error :attr:`pending_failure` holds, if any."""
        exc = self.pending_failure
        if exc is not None:
            self.pending_failure = None
            self.fail(exc.code, str(exc), exc)

    def _finished(self) -> bool:
        """No more input will be processed (closed, or failed)."""
        return self.state is State.CLOSED or self.failure is not None

    def receive_eof(self) -> None:
        """The peer closed its side of the TCP connection."""
        self.eof_received = True
        self.state = State.CLOSED

    def events_received(self) -> list[Event]:
        """Events since the last call."""
        events = self._events
        if not events:
            return _NO_EVENTS  # no new list per read when messages go to on_message
        self._events = []
        return events

    def _frame_limit(self) -> int | None:
        """Largest payload the next frame may declare (checked before buffering)."""
        limit = self.max_frame_size
        if self.max_size is not None:
            remaining = self.max_size - (0 if self._msg_compressed else self._msg_size)
            if limit is None or remaining < limit:
                limit = max(remaining, 125)  # control frames may always arrive
        return limit

    def _check_header(self, b0: int) -> None:
        """Check a frame's first byte against the protocol and the message state."""
        opcode = b0 & 0x0F
        rsv = b0 & 0x70
        if rsv & ~self._allowed_rsv or (rsv and opcode & 0x08):
            # "MUST be 0 unless an extension is negotiated that defines meanings for
            # non-zero values" (5.2); RFC 7692 forbids RSV1 on control frames.
            raise ProtocolError(f"reserved bits set: {rsv >> 4:03b}")
        if opcode & 0x08:
            if not b0 & 0x80:
                raise ProtocolError("fragmented control frame")
            if opcode > _OP_PONG:
                raise ProtocolError(f"unknown control opcode {opcode:#x}")
        elif opcode == _OP_CONT:
            if not self._msg_opcode:
                raise ProtocolError("continuation frame without a message to continue")
        elif opcode <= _OP_BINARY:
            if self._msg_opcode:
                raise ProtocolError("new message started before the previous one ended")
        else:
            raise ProtocolError(f"unknown data opcode {opcode:#x}")

    def _process_frame(self, b0: int, payload: bytes) -> None:
        if ((b0 == 0x82 or b0 == 0x81) and not self._msg_opcode and not self.extensions
                and self.state is State.OPEN):
            # Fast path: a whole message in one frame, no extension.  The same steps as
            # below, in the same order, without the branches that can't apply.
            max_size = self.max_size
            if max_size is not None and len(payload) > max_size:
                self._msg_opcode = b0 & 0x0F
                raise PayloadTooBig(f"message of more than {max_size} bytes")
            data: str | bytes = payload
            if b0 == 0x81:
                self._probe = None
                self._probe_done = 0
                try:
                    data = payload.decode("utf-8")
                except UnicodeDecodeError as exc:
                    self._msg_opcode = _OP_TEXT
                    self._msg_size = len(payload)
                    raise InvalidUTF8("invalid UTF-8 in text message") from exc
            if self.frame_events:
                self._events.append(FrameReceived(data, True))
            if self.on_message is not None:
                self.on_message(data)
            else:
                self._events.append(Message(data))
            return
        if not ((b0 == 0x81 or b0 == 0x82) and not self._msg_opcode):
            self._check_header(b0)  # anything but a whole text or binary message
        opcode = b0 & 0x0F
        fin = b0 & 0x80
        rsv = b0 & 0x70
        if opcode & 0x08:
            if opcode == _OP_PING:
                self._events.append(Ping(payload))
                if self.state is State.OPEN:
                    # "Upon receipt of a Ping frame, an endpoint MUST send a Pong frame
                    # in response ... [with] identical Application data" (5.5.2)
                    if self.hold_pongs:
                        self._held_pong = payload
                    else:
                        self._out.append(self._frame(_OP_PONG, payload))
            elif opcode == _OP_PONG:
                self._events.append(Pong(payload))
            else:
                self._receive_close(payload)
            return

        if opcode == _OP_CONT:
            msg_opcode = self._msg_opcode
        else:
            msg_opcode = opcode
            self._msg_opcode = opcode
            self._msg_compressed = bool(rsv & 0x40)

        if self.state is not State.OPEN:
            # A message arriving after we sent a close frame is dropped (5.5.1),
            # but it still had to be well-formed.
            if fin:
                self._reset_message()
            return

        if self.extensions:
            frame = Frame(opcode, payload, bool(fin), bool(rsv & 0x40), bool(rsv & 0x20),
                          bool(rsv & 0x10))
            for ext in reversed(self.extensions):
                remaining = None if self.max_size is None else self.max_size - self._msg_size
                frame = ext.decode(frame, max_size=remaining)
            payload = frame.payload

        size = self._msg_size + len(payload)
        if self.max_size is not None and size > self.max_size:
            raise PayloadTooBig(f"message of more than {self.max_size} bytes")
        self._msg_size = size

        if msg_opcode == _OP_TEXT:
            self._receive_text(payload, fin)
        else:
            self._receive_binary(payload, fin)

    def _receive_text(self, payload: bytes, fin: int) -> None:
        decoder = self._decoder
        self._probe = None
        self._probe_done = 0
        if fin and decoder is None:
            # The common case: a whole message in one frame.
            try:
                text = payload.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InvalidUTF8("invalid UTF-8 in text message") from exc
            if self.frame_events:
                self._events.append(FrameReceived(text, True))
            self._deliver(text)
            self._msg_opcode = 0
            self._msg_size = 0
            self._msg_compressed = False
            return
        if decoder is None:
            decoder = self._decoder = Utf8Decoder()
        try:
            part = decoder.decode(payload, bool(fin))
        except UnicodeDecodeError as exc:
            raise InvalidUTF8("invalid UTF-8 in text message") from exc
        if self.frame_events:
            self._events.append(FrameReceived(part, bool(fin)))
        if part:
            self._hold(self._msg_text, part)
        if fin:
            text = "".join(self._msg_text)
            self._reset_message()
            self._deliver(text)

    def _receive_binary(self, payload: bytes, fin: int) -> None:
        if self.frame_events:
            self._events.append(FrameReceived(payload, bool(fin)))
        if fin and not self._msg_chunks:
            self._msg_opcode = 0
            self._msg_size = 0
            self._msg_compressed = False
            self._deliver(payload)
            return
        if payload:
            self._hold(self._msg_chunks, payload)  # empty fragments cost nothing to hold
        if fin:
            data = b"".join(self._msg_chunks)
            self._reset_message()
            self._deliver(data)

    def _hold(self, parts: list[Any], part: str | bytes) -> None:
        """Keep a fragment of the message being received, at a bounded cost per byte.

        A list entry costs about 40 bytes beyond its data, so a peer sending 1-byte
        fragments could make a message of ``max_size`` bytes hold 40 times that.
        Every ``_JOIN_PARTS`` parts the small ones are joined into one (each byte is
        copied at most once more), so what is held stays within ~1.2x the message.
        """
        parts.append(part)
        if len(parts) - self._held_from >= _JOIN_PARTS:
            if self._msg_size - self._held_size < _JOIN_BELOW:
                parts[self._held_from:] = [part[:0].join(parts[self._held_from:])]
            self._held_from = len(parts)
            self._held_size = self._msg_size

    def _deliver(self, data: str | bytes) -> None:
        if self.on_message is not None:
            self.on_message(data)
        else:
            self._events.append(Message(data))

    def _reset_message(self) -> None:
        self._msg_opcode = 0
        self._msg_chunks = []
        self._msg_text = []
        self._held_from = 0
        self._held_size = 0
        self._msg_size = 0
        self._decoder = None
        self._msg_compressed = False

    def _check_partial_frame(self, buf: bytearray | memoryview | None = None) -> None:
        """Check the frame whose payload is still arriving, as far as it has arrived.

        Its header (which the parser already found within the limits) is checked at
        once, and so is the part of a text frame that has arrived, so that invalid
        UTF-8 fails the connection as soon as it arrives, even in the middle of a
        frame (section 8.1: "When an endpoint is to interpret a byte stream as UTF-8
        but finds that the byte stream is not, in fact, a valid UTF-8 stream, that
        endpoint MUST _Fail the WebSocket Connection_").  Compressed frames are
        checked once inflated.  Whatever fails here fails the same way when the
        whole frame arrives in one read.  ``buf`` holds the frame so far (default:
        the receive buffer).
        """
        if buf is None:
            buf = self._buf
        if len(buf) < 2:
            return
        b0, b1 = buf[0], buf[1]
        length = b1 & 0x7F
        hdr = 2 if length < 126 else 4 if length == 126 else 10
        masked = b1 & 0x80
        if masked:
            hdr += 4
        if len(buf) < hdr:
            return
        self._check_header(b0)
        if not self._carries_text(b0):
            return
        if length >= 126:
            length = int.from_bytes(buf[2 : 4 if length == 126 else 10], "big")
        if self.max_size is not None and self._msg_size + length > self.max_size:
            return  # the frame fails with 1009 before its text is looked at
        avail = len(buf) - hdr
        if avail <= self._probe_done:
            return
        start = hdr + self._probe_done
        chunk = bytes(buf[start : hdr + avail])
        if masked:
            key = bytes(buf[hdr - 4 : hdr])
            shift = self._probe_done & 3
            chunk = apply_mask(chunk, key[shift:] + key[:shift])
        self._probe_done = avail
        self._probe_text(chunk)

    def _carries_text(self, b0: int) -> bool:
        """Whether the frame with first byte ``b0`` carries text to check as it arrives:
        uncompressed text (compressed frames are checked once inflated), while open."""
        opcode = b0 & 0x0F
        return (not b0 & 0x70 and self.state is State.OPEN
                and (opcode == _OP_TEXT or (opcode == _OP_CONT and self._msg_opcode == _OP_TEXT
                                            and not self._msg_compressed)))

    def _probe_text(self, chunk: bytes | memoryview) -> None:
        """Check the next part of a frame's text, continuing from the message so far."""
        if self._probe is None:
            # Continue from where the message's decoder stands.
            self._probe = self._decoder.copy() if self._decoder is not None else Utf8Decoder()
        try:
            self._probe.decode(chunk)
        except UnicodeDecodeError as exc:
            raise InvalidUTF8("invalid UTF-8 in text message") from exc

    def _receive_close(self, payload: bytes) -> None:
        close = parse_close(payload)
        self.close_rcvd = close
        self._events.append(CloseReceived(close.code, close.reason))
        if self.state is State.OPEN:
            # "If an endpoint receives a Close frame and did not previously send a
            # Close frame, the endpoint MUST send a Close frame in response." (5.5.1)
            # It echoes the status code it received.
            self.close_rcvd_then_sent = True
            self._send_close_frame(close.code, "" if close.code == 1005 else close.reason)
        self.state = State.CLOSED

    # ---------------------------------------------------------------- sending

    def _frame(self, opcode: int, payload: bytes | bytearray | memoryview, fin: bool = True,
               rsv: int = 0) -> bytes:
        return build_frame(opcode, payload, fin, rsv, self._mask() if self._mask else None)

    def _check_open(self) -> None:
        if self.state is not State.OPEN:
            raise UsageError(f"cannot send: the connection is {self.state.name}")

    def _send_data(self, opcode: int, data: bytes, fin: bool, compress: bool) -> None:
        rsv = 0
        if self.extensions:
            frame = Frame(opcode, data, fin)
            for ext in self.extensions:
                frame = ext.encode(frame, compress=compress)
            rsv = (frame.rsv1 and 0x40) | (frame.rsv2 and 0x20) | (frame.rsv3 and 0x10)
            opcode, data, fin = frame.opcode, frame.payload, frame.fin
        mask = self._mask
        if mask is None and len(data) >= _SPLIT_FRAME_SIZE and type(data) is bytes:
            # A large unmasked frame goes out as its header and the payload itself, so
            # the payload isn't copied into a frame first: the engine writes both with
            # one call (writelines).
            header = build_frame(opcode, b"", fin, rsv)
            n = len(data)
            b1 = struct.pack("!BH", 126, n) if n < 65536 else struct.pack("!BQ", 127, n)
            self._out += (header[:1] + b1, data)
        else:
            self._out.append(build_frame(opcode, data, fin, rsv, mask() if mask else None))

    def send_message(self, data: str | bytes | bytearray | memoryview, fin: bool = True,
                     *, compress: bool = True) -> None:
        """Queue a message, or its first frame when ``fin`` is false.

        ``str`` is sent as text, bytes-like as binary.  Later frames of a fragmented
        message go through :meth:`send_continuation`.  With ``outgoing_frame_size``
        set, a long message is split into frames of that size.
        """
        if (fin and self.state is _OPEN and not self._send_opcode and not self.extensions
                and self.outgoing_frame_size is None and len(data) < 16384):
            # Fast path: a small whole message, no extension (the same frame as below,
            # without the branches that can't apply).
            mask = self._mask
            if type(data) is bytes:
                self._out.append(build_frame(_OP_BINARY, data, True, 0,
                                             mask() if mask is not None else None))
                return
            if type(data) is str:
                self._out.append(build_frame(_OP_TEXT, data.encode(), True, 0,
                                             mask() if mask is not None else None))
                return
        self._check_open()
        if self._send_opcode:
            raise UsageError("a fragmented message is being sent: finish it with "
                             "send_continuation(..., fin=True) first")
        if isinstance(data, str):
            opcode, payload = _OP_TEXT, data.encode("utf-8")
        elif isinstance(data, (bytes, bytearray, memoryview)):
            opcode, payload = _OP_BINARY, bytes(data)
        else:
            raise TypeError(f"a message is str or bytes-like, not {type(data).__name__}")
        size = self.outgoing_frame_size
        if size is not None and len(payload) > size:
            self._send_data(opcode, payload[:size], False, compress)
            self._send_opcode = opcode
            for i in range(size, len(payload), size):
                self._send_data(_OP_CONT, payload[i : i + size], i + size >= len(payload) and fin,
                                compress)
            if fin:
                self._send_opcode = 0
            return
        self._send_data(opcode, payload, fin, compress)
        if not fin:
            self._send_opcode = opcode

    def send_continuation(self, data: str | bytes | bytearray | memoryview, fin: bool,
                          *, compress: bool = True) -> None:
        """Queue the next frame of the message started with ``send_message(..., fin=False)``."""
        self._check_open()
        if not self._send_opcode:
            raise UsageError("no fragmented message is being sent: start one with "
                             "send_message(..., fin=False)")
        if isinstance(data, str):
            if self._send_opcode != _OP_TEXT:
                raise TypeError("this fragmented message is binary: send bytes")
            payload = data.encode("utf-8")
        else:
            if self._send_opcode != _OP_BINARY:
                raise TypeError("this fragmented message is text: send str")
            payload = bytes(data)
        self._send_data(_OP_CONT, payload, fin, compress)
        if fin:
            self._send_opcode = 0

    def send_prepared(self, frame: bytes) -> None:
        """Queue a whole data frame built beforehand with :func:`prepare_frame`.

        For broadcast: a server frame is unmasked, so the same bytes serve every
        connection.  The caller checks :meth:`accepts_prepared` for compressed frames.
        """
        self._check_open()
        if self._send_opcode:
            raise UsageError("a fragmented message is being sent: a prepared frame can't "
                             "interrupt it")
        if self._client:
            raise UsageError("prepared frames are unmasked: only a server may send them")
        self._out.append(frame)

    def shared_compression(self) -> int | None:
        """The window bits of a compressed prepared frame this peer can inflate, or None.

        A message compressed once for many receivers carries no context from earlier
        messages, so it is valid for a receiver only when we promised not to keep
        context (``server_no_context_takeover``): its inflater is reset after every
        message and accepts any window up to the negotiated ``server_max_window_bits``.
        """
        for ext in self.extensions:
            if (getattr(ext, "name", "") == "permessage-deflate"
                    and getattr(ext, "local_no_context_takeover", False)):
                return int(getattr(ext, "local_max_window_bits", 15))
        return None

    def send_ping(self, payload: bytes = b"") -> None:
        """Queue a ping (payload at most 125 bytes)."""
        self._check_open()
        if len(payload) > 125:
            raise ValueError("a ping payload is at most 125 bytes")
        self._out.append(self._frame(_OP_PING, payload))

    def send_pong(self, payload: bytes = b"") -> None:
        """Queue an unsolicited pong (a heartbeat that needs no answer)."""
        self._check_open()
        if len(payload) > 125:
            raise ValueError("a pong payload is at most 125 bytes")
        self._out.append(self._frame(_OP_PONG, payload))

    def send_close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake (section 7.1.2)."""
        if self.state is not State.OPEN:
            return
        if code != 1005 and not (code in (1000, 1001) or (1002 <= code <= 1014 and code not in (
                1004, 1005, 1006)) or 3000 <= code <= 4999):
            raise ValueError(f"close code {code} may not be sent (use 1000, 1001, 1002-1014 "
                             "less 1004-1006, or 3000-4999)")
        if len(reason.encode("utf-8")) > 123:
            raise ValueError("a close reason is at most 123 bytes of UTF-8")
        if code == 1005 and reason:
            raise ValueError("a close reason needs a close code")
        self.close_rcvd_then_sent = False
        self._send_close_frame(code, reason)
        self.state = State.CLOSING

    def _send_close_frame(self, code: int, reason: str) -> None:
        self.close_sent = Close(code, reason)
        self._out.append(self._frame(_OP_CLOSE, serialize_close(code, reason)))

    def fail(self, code: int, reason: str, exc: ProtocolError | None = None) -> None:
        """_Fail the WebSocket Connection_ (7.1.7): send a close frame if we can, then
        the engine closes the transport without waiting for the peer."""
        self.failure = exc or ProtocolError(reason, code)
        if self.state is State.OPEN:
            reason_bytes = reason.encode("utf-8")[:123]
            self.close_rcvd_then_sent = False
            self._send_close_frame(code, reason_bytes.decode("utf-8", "ignore"))
        self.state = State.CLOSING if self.close_rcvd is None else State.CLOSED
        self._buf.clear()
        self._drop_big()

    def release_pongs(self) -> None:
        """Stop holding pongs back and queue the one held, if any (see ``hold_pongs``)."""
        self.hold_pongs = False
        payload, self._held_pong = self._held_pong, None
        if payload is not None and self.state is State.OPEN:
            self._out.append(self._frame(_OP_PONG, payload))

    def close_exception(self, lost: BaseException | None = None) -> ConnectionClosed:
        """The exception that tells how this connection closed.

        ``ConnectionClosedOK`` when close frames with 1000, 1001 or 1005 (no status)
        went both ways, ``ConnectionClosedError`` otherwise; ``lost`` is the transport
        error, kept as the cause when there was no protocol failure.
        """
        rcvd, sent = self.close_rcvd, self.close_sent
        ok = (rcvd is not None and sent is not None
              and rcvd.code in _OK_CLOSE_CODES and sent.code in _OK_CLOSE_CODES)
        cls = ConnectionClosedOK if ok else ConnectionClosedError
        exc = cls(
            rcvd.code if rcvd else None, rcvd.reason if rcvd else "",
            sent.code if sent else None, sent.reason if sent else "",
            self.close_rcvd_then_sent,
        )
        exc.__cause__ = self.failure if self.failure is not None else lost
        return exc

    def data_to_send(self) -> list[bytes]:
        """Bytes queued for the network since the last call (write them in order)."""
        out = self._out
        if not out:
            return _NOTHING_TO_SEND  # no new list per call: broadcasts call this per peer
        self._out = []
        return out

    def close_expected(self) -> bool:
        """Whether the engine should close the transport now.

        "The underlying TCP connection, in most normal cases, SHOULD be closed first
        by the server" (7.1.1): the server closes once both close frames have passed,
        the client waits for the server to do it (with a timeout).  After a failure
        both sides close at once.
        """
        if self.failure is not None:
            return True
        return self.state is State.CLOSED and not self._client


def prepare_frame(data: str | bytes | bytearray | memoryview, *,
                  compress_wbits: int | None = None) -> bytes:
    """One unfragmented, unmasked (server) data frame for ``data``, to write as is.

    ``str`` makes a text frame, bytes-like a binary one.  With ``compress_wbits``
    the payload is deflated alone (RFC 7692, no context from earlier messages) with
    that window and RSV1 is set: valid only for peers whose
    :meth:`Protocol.shared_compression` is at least ``compress_wbits``.
    """
    if isinstance(data, str):
        opcode, payload = _OP_TEXT, data.encode("utf-8")
    elif isinstance(data, (bytes, bytearray, memoryview)):
        opcode, payload = _OP_BINARY, bytes(data)
    else:
        raise TypeError(f"a message is str or bytes-like, not {type(data).__name__}")
    if compress_wbits is None:
        return build_frame(opcode, payload)
    enc = zlib.compressobj(wbits=-max(compress_wbits, 9))
    deflated = enc.compress(payload) + enc.flush(zlib.Z_SYNC_FLUSH)
    return build_frame(opcode, deflated[:-4], rsv=0x40)
