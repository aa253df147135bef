"""WebSocket <-> a program: each connection starts its own process (what websocketd does).

- Messages go to the program's stdin: in ``lines`` mode each message is one line (a
  newline is added when missing); in ``raw`` mode bytes are written as they are.
- Its stdout comes back: in ``lines`` mode one text message per line (without the
  newline); in ``raw`` mode binary messages of whatever each read returned.
- Its stderr is logged (``tether.bridge`` logger, one record per line).
- When the socket closes, stdin is closed and the process is sent SIGTERM, then
  SIGKILL after ``kill_timeout`` seconds.
- When the process exits, the socket is closed: 1000 for exit status 0, 1011 with
  ``"exit status N"`` otherwise (``"killed by signal N"`` for a signal).

Backpressure: stdout is read only as fast as the client takes messages, and messages
are read from the client only as fast as stdin takes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shlex
import signal
from collections.abc import Mapping, Sequence

from ..asyncio.connection import Connection
from ..exceptions import ConnectionClosed

__all__ = ["bridge_process", "process_handler"]

logger = logging.getLogger("tether.bridge")

#: Longest stdout line in ``lines`` mode; a longer one is sent in pieces of this size.
MAX_LINE = 1024 * 1024


async def bridge_process(
    ws: Connection,
    command: str | Sequence[str],
    *,
    mode: str = "lines",
    kill_timeout: float = 5.0,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
) -> int | None:
    """Run ``command`` for ``ws`` until either ends; returns the exit status."""
    if mode not in ("lines", "raw"):
        raise ValueError("mode is 'lines' or 'raw'")
    argv = shlex.split(command) if isinstance(command, str) else list(command)
    full_env = dict(os.environ if env is None else env)
    remote = ws.remote_address
    if isinstance(remote, tuple):
        full_env["REMOTE_ADDR"] = str(remote[0])
        full_env["REMOTE_PORT"] = str(remote[1])
    full_env["REQUEST_URI"] = ws.path
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=full_env, cwd=cwd, limit=MAX_LINE,
            start_new_session=True)
    except OSError as exc:
        ws.logger.warning("bridge: can't start %s: %s", argv[0], exc)
        await ws.close(1011, "can't start program")
        return None
    name = os.path.basename(argv[0])
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    stdin, stdout, stderr = proc.stdin, proc.stdout, proc.stderr

    async def ws_to_stdin() -> None:
        try:
            async for message in ws:
                data = message.encode() if isinstance(message, str) else message
                if mode == "lines" and not data.endswith(b"\n"):
                    data += b"\n"
                stdin.write(data)
                await stdin.drain()
        except (ConnectionClosed, ConnectionError):
            pass
        finally:
            with contextlib.suppress(OSError, RuntimeError):
                stdin.close()

    async def stdout_to_ws() -> None:
        try:
            while True:
                if mode == "lines":
                    try:
                        line = await stdout.readuntil(b"\n")
                    except asyncio.IncompleteReadError as exc:
                        if exc.partial:
                            await ws.send(exc.partial.decode("utf-8", "replace"))
                        return
                    except asyncio.LimitOverrunError as exc:
                        line = await stdout.readexactly(exc.consumed)
                        await ws.send(line.decode("utf-8", "replace"))
                        continue
                    await ws.send(line[:-1].decode("utf-8", "replace").removesuffix("\r"))
                else:
                    data = await stdout.read(65536)
                    if not data:
                        return
                    await ws.send(data)
        except ConnectionClosed:
            pass

    async def log_stderr() -> None:
        while True:
            line = await stderr.readline()
            if not line:
                return
            ws.logger.info("bridge: %s[%d] stderr: %s", name, proc.pid,
                           line.decode("utf-8", "replace").rstrip())

    up = asyncio.ensure_future(ws_to_stdin())
    down = asyncio.ensure_future(stdout_to_ws())
    err = asyncio.ensure_future(log_stderr())
    exited = asyncio.ensure_future(proc.wait())
    tasks = (up, down, err, exited)
    try:
        # The program is done when it exited and its output is all sent; the client
        # when its side of the socket is closed.
        while not up.done() and not (down.done() and exited.done()):
            pending = {t for t in (up, down, exited) if not t.done()}
            await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        if down.done() and exited.done():
            await asyncio.wait({err}, timeout=1)
            status = proc.returncode
            if status == 0:
                await ws.close(1000, "")
            elif status is not None and status < 0:
                await ws.close(1011, f"killed by signal {-status}")
            else:
                await ws.close(1011, f"exit status {status}")
        await _end(proc, kill_timeout)
        await asyncio.wait({err}, timeout=1)  # log what it wrote to stderr before ending
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if proc.returncode is None:
            await _end(proc, kill_timeout)
    return proc.returncode


async def _end(proc: asyncio.subprocess.Process, kill_timeout: float) -> None:
    """SIGTERM (to its process group), then SIGKILL after ``kill_timeout``."""
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), kill_timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()


def process_handler(command: str | Sequence[str], **kwargs: object) -> object:
    """A connection handler for :func:`tether.serve` running ``command`` per connection."""
    async def handler(ws: Connection) -> None:
        await bridge_process(ws, command, **kwargs)  # type: ignore[arg-type]
    return handler
