"""WebSocket <-> TCP: each WebSocket connection gets its own TCP connection.

What websockify does for VNC: bytes from the TCP side go out as binary messages,
messages from the WebSocket side (binary, or text as UTF-8) are written to TCP.

Backpressure both ways, without unbounded buffers:

- TCP -> WebSocket: ``await ws.send()`` waits while the client's write buffer is over
  the server's ``write_limit``; meanwhile nothing is read from TCP, so the TCP window
  fills and the service slows down.
- WebSocket -> TCP: ``await writer.drain()`` waits while the TCP write buffer is full;
  meanwhile ``recv()`` is not called, the connection's queue (``max_queue``) fills,
  the engine pauses reading and the client's TCP window closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ..asyncio.connection import Connection
from ..exceptions import ConnectionClosed

__all__ = ["DEFAULT_CHUNK", "bridge_tcp", "tcp_handler"]

logger = logging.getLogger("tether.bridge")

#: Largest binary message made from TCP bytes (one read).
DEFAULT_CHUNK = 64 * 1024


async def bridge_tcp(ws: Connection, host: str, port: int, *,
                     chunk_size: int = DEFAULT_CHUNK, connect_timeout: float = 10.0) -> None:
    """Bridge ``ws`` to a new TCP connection to ``host:port`` until either side ends.

    The WebSocket is closed with 1000 when the TCP side closes, 1011 when it fails and
    1014 (bad gateway) when the TCP connection can't be opened.
    """
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, limit=chunk_size), connect_timeout)
    except (OSError, TimeoutError) as exc:
        ws.logger.info("bridge: can't connect to tcp://%s:%s: %s", host, port, exc)
        await ws.close(1014, "upstream unreachable")
        return

    async def ws_to_tcp() -> None:
        try:
            async for message in ws:
                writer.write(message.encode() if isinstance(message, str) else message)
                await writer.drain()
        except ConnectionClosed:
            pass
        finally:
            if writer.can_write_eof():
                with contextlib.suppress(OSError):
                    writer.write_eof()

    async def tcp_to_ws() -> int:
        try:
            while True:
                data = await reader.read(chunk_size)
                if not data:
                    return 1000
                await ws.send(data)
        except ConnectionClosed:
            return 1000
        except OSError as exc:
            ws.logger.info("bridge: tcp://%s:%s failed: %s", host, port, exc)
            return 1011

    up = asyncio.ensure_future(ws_to_tcp())
    down = asyncio.ensure_future(tcp_to_ws())
    try:
        done, _ = await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
        if down in done:
            # The service closed (or failed): tell the client.
            code = down.result()
            await ws.close(code, "upstream closed" if code == 1000 else "upstream failed")
        up.cancel()
        down.cancel()
        await asyncio.gather(up, down, return_exceptions=True)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def tcp_handler(host: str, port: int, **kwargs: float | int) -> object:
    """A connection handler for :func:`tether.serve` bridging to ``host:port``."""
    async def handler(ws: Connection) -> None:
        await bridge_tcp(ws, host, port, **kwargs)  # type: ignore[arg-type]
    return handler
