"""A minimal HTTP/1.1 client on asyncio streams, for the poll and SSE bridges.

Standard library only (no aiohttp/httpx): one request per connection
(``Connection: close``), ``GET`` only, bodies framed by ``Content-Length``, chunked
transfer coding or the end of the connection; ``https://`` through :mod:`ssl` with the
system's CA store.  The response head is parsed by :func:`tether.core.http11.parse_response`,
the same sans-I/O parser the WebSocket client uses.  Every wait has a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ssl
import urllib.parse
from collections.abc import AsyncIterator, Iterable

from ..core.http11 import Headers, Response, parse_response

__all__ = ["MAX_BODY", "HttpError", "HttpResponse", "fetch", "stream"]

#: Largest body :func:`fetch` reads: a poll target is a JSON document, not a download.
MAX_BODY = 16 * 2**20
#: Largest response head, bytes.
MAX_HEAD = 64 * 1024


class HttpError(Exception):
    """The request failed: connection, timeout, malformed answer."""


@dataclasses.dataclass
class HttpResponse:
    status: int
    headers: Headers
    body: bytes = b""


class _Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError, TimeoutError, asyncio.TimeoutError):
            await asyncio.wait_for(self.writer.wait_closed(), 1)


async def _open(url: str, headers: Iterable[tuple[str, str]],
                timeout: float) -> tuple[_Conn, Response, bytes]:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise HttpError(f"only http:// and https:// URLs: {url!r}")
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    ctx = ssl.create_default_context() if parts.scheme == "https" else None
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=ctx, limit=MAX_HEAD), timeout)
    except (OSError, TimeoutError) as exc:
        raise HttpError(f"can't connect to {host}:{port}: {exc or 'timed out'}") from exc
    conn = _Conn(reader, writer)
    try:
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        netloc = host if ":" not in host else f"[{host}]"
        if parts.port:
            netloc += f":{parts.port}"
        lines = [f"GET {target} HTTP/1.1", f"Host: {netloc}", "Connection: close",
                 "User-Agent: tether-bridge"]
        lines += [f"{k}: {v}" for k, v in headers]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        buf = bytearray()
        while True:
            parsed = parse_response(buf)
            if parsed is not None:
                break
            if len(buf) > MAX_HEAD:
                raise HttpError("response head too large")
            chunk = await asyncio.wait_for(reader.read(65536), timeout)
            if not chunk:
                raise HttpError("connection closed before the response head")
            buf += chunk
        response, used = parsed
        return conn, response, bytes(buf[used:])
    except BaseException as exc:
        await conn.close()
        if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
            raise HttpError(f"timed out after {timeout}s waiting for {url}") from exc
        if isinstance(exc, (OSError, ValueError)):
            raise HttpError(f"{url}: {exc}") from exc
        raise


async def _body(conn: _Conn, response: Response, rest: bytes,
                timeout: float | None) -> AsyncIterator[bytes]:
    """The body's bytes as they arrive, de-chunked."""
    reader = conn.reader

    async def read(n: int) -> bytes:
        if timeout is None:
            return await reader.read(n)
        return await asyncio.wait_for(reader.read(n), timeout)

    buf = bytearray(rest)
    te = (response.headers.get("Transfer-Encoding") or "").lower()
    length = response.headers.get("Content-Length")
    if response.status in (204, 304) or response.status < 200:
        return
    if "chunked" in te:
        while True:
            while b"\r\n" not in buf:
                more = await read(65536)
                if not more:
                    raise HttpError("connection closed inside a chunked body")
                buf += more
            line, _, tail = bytes(buf).partition(b"\r\n")
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise HttpError(f"bad chunk size line {line[:40]!r}") from None
            buf = bytearray(tail)
            if size == 0:
                return
            while len(buf) < size + 2:
                more = await read(65536)
                if not more:
                    raise HttpError("connection closed inside a chunk")
                buf += more
            yield bytes(buf[:size])
            del buf[:size + 2]
    elif length is not None:
        try:
            remaining = int(length)
        except ValueError:
            raise HttpError(f"bad Content-Length {length!r}") from None
        if buf:
            part = bytes(buf[:remaining])
            remaining -= len(part)
            yield part
        while remaining > 0:
            more = await read(min(65536, remaining))
            if not more:
                raise HttpError("connection closed before the end of the body")
            remaining -= len(more)
            yield more
    else:
        if buf:
            yield bytes(buf)
        while True:
            more = await read(65536)
            if not more:
                return
            yield more


async def fetch(url: str, headers: Iterable[tuple[str, str]] = (),
                timeout: float = 10.0) -> HttpResponse:
    """GET ``url``; the whole exchange (connect, head, body) within ``timeout`` seconds."""
    async def go() -> HttpResponse:
        conn, response, rest = await _open(url, headers, timeout)
        try:
            body = bytearray()
            async for chunk in _body(conn, response, rest, timeout):
                body += chunk
                if len(body) > MAX_BODY:
                    raise HttpError(f"body larger than {MAX_BODY} bytes")
            return HttpResponse(response.status, response.headers, bytes(body))
        finally:
            await conn.close()

    try:
        return await asyncio.wait_for(go(), timeout)
    except TimeoutError as exc:
        raise HttpError(f"timed out after {timeout}s fetching {url}") from exc
    except OSError as exc:
        raise HttpError(f"{url}: {exc}") from exc


class stream:
    """``async with stream(url, headers, timeout) as (response, chunks):`` a GET whose body
    is read as it arrives (Server-Sent Events); ``read_timeout`` bounds each read."""

    def __init__(self, url: str, headers: Iterable[tuple[str, str]] = (),
                 timeout: float = 10.0, read_timeout: float | None = None) -> None:
        self.url = url
        self.headers = list(headers)
        self.timeout = timeout
        self.read_timeout = read_timeout
        self._conn: _Conn | None = None

    async def __aenter__(self) -> tuple[HttpResponse, AsyncIterator[bytes]]:
        conn, response, rest = await _open(self.url, self.headers, self.timeout)
        self._conn = conn
        return (HttpResponse(response.status, response.headers),
                _body(conn, response, rest, self.read_timeout))

    async def __aexit__(self, *exc: object) -> None:
        if self._conn is not None:
            await self._conn.close()
