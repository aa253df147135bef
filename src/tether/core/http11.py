"""HTTP/1.1 messages for the opening handshake: parse and build, with limits.

The parser is incremental and linear in its input: it looks for the end of the
header block with one ``find`` from where the previous call stopped, then splits
lines; no regular expressions.  It follows RFC 9112 strictly: CRLF line endings
only (a bare LF is an error), no obsolete line folding, no NUL/CR/LF inside values,
no whitespace between a field name and its colon.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator

from ..exceptions import InvalidMessage

__all__ = [
    "MAX_HEADERS",
    "MAX_HEADER_BYTES",
    "MAX_LINE_BYTES",
    "Headers",
    "Request",
    "Response",
    "build_request",
    "build_response",
    "parse_request",
    "parse_response",
]

#: Longest request line, status line or header line.  8 KiB is what most servers
#: accept (nginx's default large_client_header_buffers is 8k); cookies fit.
MAX_LINE_BYTES = 8192
#: Most header fields in one message; browsers send about 15 on an upgrade.
MAX_HEADERS = 128
#: The whole header block; past this the server answers 431 and closes.
MAX_HEADER_BYTES = 65536

# RFC 9110 section 5.6.2: token = 1*tchar
_TCHAR = frozenset(b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
# Field values: visible ASCII, obs-text (0x80-0xFF), space and tab; never NUL, CR or LF.
_BAD_VALUE_BYTES = frozenset(range(0x00, 0x20)) - {0x09} | {0x7F}
# For bytes.translate(None, ...): what is left after deleting these is invalid.
_TCHAR_BYTES = bytes(sorted(_TCHAR))
_TARGET_BYTES = bytes(range(0x21, 0x7F))  # a request-target is visible ASCII
_GOOD_VALUE_BYTES = bytes(b for b in range(256) if b not in _BAD_VALUE_BYTES)

#: Header names and short values already seen, decoded: the same few strings recur in
#: every handshake, and each connection keeps its request, so sharing them saves
#: memory per connection and work per handshake.  Bounded: once full, nothing more is
#: added (a peer sending odd headers only misses the cache).
_NAMES: dict[bytes, str] = {}
_VALUES: dict[bytes, str] = {}
_DECODED_MAX = 1024
_SHORT_VALUE = 64


class Headers:
    """Case-insensitive, order-preserving HTTP header fields that may repeat."""

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: list[tuple[str, str]] = list(items)

    def get(self, name: str, default: str | None = None) -> str | None:
        """The value of ``name``; repeated fields are joined with ``", "``."""
        values = self.get_all(name)
        return ", ".join(values) if values else default

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name`` in order."""
        lname = name.lower()
        return [v for k, v in self._items if k.lower() == lname]

    def add(self, name: str, value: str) -> None:
        """Append a field (keeps existing ones with the same name)."""
        self._items.append((name, value))

    def set(self, name: str, value: str) -> None:
        """Replace every field named ``name`` with one."""
        lname = name.lower()
        self._items = [(k, v) for k, v in self._items if k.lower() != lname]
        self._items.append((name, value))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and any(k.lower() == name.lower() for k, _ in self._items)

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def items(self) -> list[tuple[str, str]]:
        return list(self._items)

    def __eq__(self, other: object) -> bool:
        # Same fields in the same order (so Request/Response compare by value).
        if not isinstance(other, Headers):
            return NotImplemented
        return self._items == other._items

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


@dataclasses.dataclass(slots=True)
class Request:
    """An HTTP request's head (the body of an upgrade request must be empty)."""

    method: str
    target: str
    headers: Headers
    version: str = "HTTP/1.1"


@dataclasses.dataclass(slots=True)
class Response:
    """An HTTP response's head and, for non-101 answers built here, a body."""

    status: int
    reason: str
    headers: Headers
    body: bytes = b""


def _split_head(buf: bytes | bytearray, scanned: int = 0) -> tuple[list[bytes], int] | None:
    """Find the complete header block at the start of ``buf``.

    Returns its lines (without the final empty line) and its length, or ``None``
    if more bytes are needed; raises when limits are passed.  ``scanned`` is how
    much of ``buf`` an earlier call (that returned ``None``) already looked at:
    only what came after it is searched and checked, so that a head arriving in
    many small reads costs time linear in its size, not quadratic.
    """
    scanned = min(scanned, len(buf))
    end = buf.find(b"\r\n\r\n", max(0, scanned - 3))
    if end < 0:
        if len(buf) > MAX_HEADER_BYTES:
            raise InvalidMessage("header block too large", 431)
        # CRLF is the only line ending: a bare LF or CR can never become valid, so
        # refuse it now rather than after the size limits (a trailing CR may be
        # the first half of a CRLF).  Only the new bytes, from the CR that may end
        # the part already checked.
        start = scanned - 1 if scanned and buf[scanned - 1] == 0x0D else scanned
        new = buf[start:]
        crlf = new.count(b"\r\n")
        if new.count(b"\n") != crlf or new.count(b"\r") - crlf > new.endswith(b"\r"):
            raise InvalidMessage("bare CR or LF in the header block")
        # A line longer than the limit with no CRLF yet: fail before buffering more.
        # (rfind stops at the last CRLF: it reads at most one line.)
        last = buf.rfind(b"\r\n")
        if len(buf) - (last + 2 if last >= 0 else 0) > MAX_LINE_BYTES:
            raise InvalidMessage("header line too long", 431)
        return None
    if end + 4 > MAX_HEADER_BYTES:
        raise InvalidMessage("header block too large", 431)
    head = bytes(buf[:end])
    lines = head.split(b"\r\n")
    if len(lines) - 1 > MAX_HEADERS:
        raise InvalidMessage("too many header fields", 431)
    for line in lines:
        if len(line) > MAX_LINE_BYTES:
            raise InvalidMessage("header line too long", 431)
        if b"\n" in line or b"\r" in line:
            raise InvalidMessage("bare CR or LF in the header block")
    return lines, end + 4


def _parse_fields(lines: list[bytes]) -> Headers:
    items: list[tuple[str, str]] = []
    for line in lines:
        if not line:
            raise InvalidMessage("empty header line")
        if line[0] in b" \t":
            # RFC 9112 section 5.2: obs-fold; a server MUST reject or replace it.
            raise InvalidMessage("obsolete line folding in header")
        name, sep, value = line.partition(b":")
        if not sep or not name:
            raise InvalidMessage(f"malformed header line: {line[:60]!r}")
        name_str = _NAMES.get(name)
        if name_str is None:
            if name.translate(None, _TCHAR_BYTES):
                # Includes "No whitespace is allowed between the field name and colon".
                raise InvalidMessage(f"invalid header name: {name[:60]!r}")
            name_str = name.decode("ascii")
            if len(_NAMES) < _DECODED_MAX:
                _NAMES[name] = name_str
        value = value.strip(b" \t")
        value_str = _VALUES.get(value)
        if value_str is None:
            if value.translate(None, _GOOD_VALUE_BYTES):
                raise InvalidMessage(f"invalid character in header {name_str}")
            value_str = value.decode("latin-1")
            if len(value) <= _SHORT_VALUE and len(_VALUES) < _DECODED_MAX:
                _VALUES[value] = value_str
        items.append((name_str, value_str))
    return Headers(items)


def _check_request_line(line: bytes, complete: bool) -> list[bytes]:
    """Check a request line, or the start of one when ``complete`` is false.

    ``request-line = method SP request-target SP HTTP-version`` (RFC 9112 section 3).
    Byte checks use ``bytes.translate`` so that re-checking a growing line stays cheap.
    """
    if b"\n" in line or b"\r" in line:
        # Checked first, so that the answer (400) doesn't depend on how the bytes were
        # split into reads: a whole read would otherwise see a bad version (505).
        raise InvalidMessage("bare CR or LF in the request line")
    parts = line.split(b" ")
    if len(parts) > 3 or (complete and len(parts) != 3):
        raise InvalidMessage(f"malformed request line: {line[:80]!r}")
    method = parts[0]
    if method.translate(None, _TCHAR_BYTES) or (not method and len(parts) > 1):
        raise InvalidMessage(f"invalid method: {method[:20]!r}")
    if len(parts) > 1:
        target = parts[1]
        if target.translate(None, _TARGET_BYTES) or (not target and len(parts) > 2):
            raise InvalidMessage("invalid request target")
    if len(parts) > 2:
        version = parts[2]
        if not b"HTTP/".startswith(version[:5]) or (complete and len(version) < 5):
            raise InvalidMessage(f"malformed HTTP version: {version[:20]!r}")
        if complete and version not in (b"HTTP/1.1", b"HTTP/1.0"):
            raise InvalidMessage(f"unsupported HTTP version: {version[:20]!r}", 505)
    return parts


def parse_request(buf: bytes | bytearray, scanned: int = 0) -> tuple[Request, int] | None:
    """Parse a request head from the start of ``buf``: ``(request, bytes used)`` or ``None``.

    An engine that calls it again as bytes arrive passes ``scanned``, the length
    ``buf`` had at the previous call (which returned ``None``): the work is then
    linear in the head's size however it is split into reads.
    """
    # The request line first: what can't become one (garbage, TLS on a plain port)
    # is refused as soon as it arrives, before waiting for CRLFCRLF or the size limits.
    eol = buf.find(b"\r\n", 0, MAX_LINE_BYTES + 2)
    if eol < 0:
        _check_request_line(bytes(buf[:MAX_LINE_BYTES]).removesuffix(b"\r"), complete=False)
    elif eol + 2 > scanned:  # complete for the first time
        _check_request_line(bytes(buf[:eol]), complete=True)
    split = _split_head(buf, scanned)
    if split is None:
        return None
    # A complete head has a complete request line (one too long fails in _split_head).
    lines, used = split
    method, target, version = _check_request_line(lines[0], complete=True)
    headers = _parse_fields(lines[1:])
    return Request(method.decode(), target.decode("ascii"), headers, version.decode()), used


def parse_response(buf: bytes | bytearray, scanned: int = 0) -> tuple[Response, int] | None:
    """Parse a response head from the start of ``buf``: ``(response, bytes used)`` or ``None``.

    Used by the client for the 101 answer and for proxies' CONNECT answers.
    ``scanned`` is as for :func:`parse_request`.
    """
    split = _split_head(buf, scanned)
    if split is None:
        return None
    lines, used = split
    version, _, rest = lines[0].partition(b" ")
    status, _, reason = rest.partition(b" ")
    if version not in (b"HTTP/1.1", b"HTTP/1.0"):
        raise InvalidMessage(f"unsupported HTTP version in status line: {lines[0][:80]!r}")
    if len(status) != 3 or not status.isdigit() or not b"1" <= status[:1] <= b"5":
        # RFC 9110 15: three digits, 100-599 ("050" would become 50).
        raise InvalidMessage(f"invalid status code in status line: {lines[0][:80]!r}")
    headers = _parse_fields(lines[1:])
    return Response(int(status), reason.decode("latin-1"), headers), used


def _serialize_fields(headers: Iterable[tuple[str, str]]) -> bytes:
    out = []
    for name, value in headers:
        if not name or not all(ord(c) in _TCHAR for c in name):
            raise ValueError(f"invalid header name {name!r}")
        if any(c in "\r\n\0" for c in value):
            raise ValueError(f"header {name} has a CR, LF or NUL in its value")
        out.append(f"{name}: {value}\r\n")
    return "".join(out).encode("latin-1")


def build_request(request: Request) -> bytes:
    """Serialize a request head."""
    return (
        f"{request.method} {request.target} {request.version}\r\n".encode("ascii")
        + _serialize_fields(request.headers)
        + b"\r\n"
    )


def build_response(response: Response) -> bytes:
    """Serialize a response, adding Content-Length when there is a body or no upgrade."""
    headers = Headers(response.headers)
    if response.status != 101 and "Content-Length" not in headers:
        headers.add("Content-Length", str(len(response.body)))
    return (
        f"HTTP/1.1 {response.status} {response.reason}\r\n".encode("ascii")
        + _serialize_fields(headers)
        + b"\r\n"
        + response.body
    )
