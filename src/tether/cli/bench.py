"""``tether bench URL``: a quick load generator against an echo server.

N connections send messages of a given size, either as fast as the server answers (one
message in flight per connection, ``--rate 0``) or at a fixed total rate spread over
the connections; each reply is matched to its message (an echo server answers in order)
to measure the round trip.  The summary gives counts, throughput and latency percentiles;
``--json`` prints it as one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import math
import os
import ssl
import string
import sys
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

from ..asyncio import ClientConnection, connect
from ..exceptions import ConnectionClosed, TetherError

__all__ = ["BenchConfig", "BenchResult", "add_parser", "bench", "run_bench"]

EPILOG = """\
how it measures:
  --rate 0 (default): each connection sends a message, waits for the echo, sends the
      next: the round trip is the latency, the total is what the server sustains.
  --rate R: R messages per second in total, spread evenly over the connections, sent
      on schedule whether or not replies have come (an open-loop test).
  Replies are matched to messages in order, so point it at an echo server
  (tether serve). A reply that differs from its message, a connection that fails or
  closes early, and a message without a reply (after --timeout) count as errors.
  MB/s counts the payload bytes of the replies (10^6 bytes per MB).
  Compression is off unless --compress: this measures the transport, not zlib.

examples:
  tether serve --port 8765 &
  tether bench ws://127.0.0.1:8765/                               1 connection, 5 s
  tether bench -c 50 --size 1024 --duration 10 ws://127.0.0.1:8765/
  tether bench -c 10 --rate 2000 --count 20000 --binary ws://127.0.0.1:8765/
  tether bench --json --count 1000 ws://127.0.0.1:8765/ | jq .latency_ms.p99

exit status: 0 no errors, 1 errors (failed connections, lost or wrong replies),
2 usage error, 130 interrupted.
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "bench", help="load-test a WebSocket echo server",
        description="Open connections to an echo server, send messages, and report\n"
        "throughput and round-trip latency.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("url", help="ws:// or wss:// URL of an echo server")
    p.add_argument("--connections", "-c", type=int, default=1, metavar="N",
                   help="connections to open (default 1)")
    p.add_argument("--size", type=int, default=32, metavar="BYTES",
                   help="message size in bytes (default 32)")
    p.add_argument("--rate", type=float, default=0.0, metavar="MSGS_PER_SEC",
                   help="messages per second in total (default 0: as fast as possible, "
                   "one message in flight per connection)")
    how_long = p.add_mutually_exclusive_group()
    how_long.add_argument("--duration", "-d", type=float, metavar="SECONDS",
                          help="send for this long (default 5 s)")
    how_long.add_argument("--count", "-n", type=int, metavar="N",
                          help="send N messages in total, then stop")
    p.add_argument("--binary", action="store_true", help="send binary messages (default text)")
    p.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS",
                   help="how long to wait for a reply before counting it lost (default 10)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--insecure", "-k", action="store_true",
                   help="wss: don't verify the server's certificate")
    p.add_argument("--cafile", help="wss: trust this CA bundle (PEM)")
    p.add_argument("--compress", action=argparse.BooleanOptionalAction, default=False,
                   help="offer permessage-deflate (default: off)")
    p.set_defaults(run=run_bench)


@dataclass
class BenchConfig:
    url: str
    connections: int = 1
    size: int = 32
    rate: float = 0.0
    duration: float | None = 5.0
    count: int | None = None
    binary: bool = False
    timeout: float = 10.0
    compress: bool = False
    ssl: ssl.SSLContext | None = None


@dataclass
class BenchResult:
    config: BenchConfig
    connected: int = 0
    sent: int = 0
    received: int = 0
    errors: int = 0
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)
    error_samples: list[str] = field(default_factory=list)

    def error(self, text: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(text)

    def percentile(self, q: float) -> float | None:
        """The ``q``-th percentile (nearest rank) of the round trips, in seconds."""
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        rank = max(1, math.ceil(q / 100 * len(ordered)))
        return ordered[rank - 1]

    def summary(self) -> dict[str, Any]:
        elapsed = self.elapsed or 1e-9
        ms: dict[str, float | None] = {}
        for name, q in (("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("max", 100.0)):
            value = self.percentile(q)
            ms[name] = None if value is None else round(value * 1000, 3)
        ms["mean"] = (round(sum(self.latencies) / len(self.latencies) * 1000, 3)
                      if self.latencies else None)
        c = self.config
        return {
            "url": c.url, "connections": c.connections, "connected": self.connected,
            "size": c.size, "binary": c.binary, "rate": c.rate,
            "duration_s": round(self.elapsed, 3),
            "sent": self.sent, "received": self.received, "errors": self.errors,
            "error_samples": self.error_samples,
            "throughput_msgs": round(self.received / elapsed, 1),
            "throughput_mb": round(self.received * c.size / elapsed / 1e6, 3),
            "latency_ms": ms,
        }


def _payload(size: int, binary: bool, seed: int) -> str | bytes:
    if binary:
        return os.urandom(size)
    letters = string.ascii_letters + string.digits
    start = seed % len(letters)
    text = (letters[start:] + letters[:start]) * (size // len(letters) + 1)
    return text[:size]


class _Run:
    def __init__(self, config: BenchConfig, result: BenchResult) -> None:
        self.config = config
        self.result = result
        self.remaining = config.count  # messages still to send in total (--count)
        self.stop_at = math.inf
        self.last_reply = 0.0

    def take(self) -> bool:
        """May one more message be sent?"""
        if time.perf_counter() >= self.stop_at:
            return False
        if self.remaining is not None:
            if self.remaining <= 0:
                return False
            self.remaining -= 1
        return True

    def got(self, started: float, reply: str | bytes, expected: str | bytes) -> None:
        now = time.perf_counter()
        self.last_reply = now
        r = self.result
        r.received += 1
        r.latencies.append(now - started)
        if reply != expected:
            r.error("a reply differed from its message (is this an echo server?)")

    async def closed_loop(self, ws: ClientConnection, payload: str | bytes) -> None:
        """--rate 0: one message in flight."""
        timeout = self.config.timeout
        while self.take():
            started = time.perf_counter()
            await ws.send(payload)
            self.result.sent += 1
            try:
                reply = await asyncio.wait_for(ws.recv(), timeout)
            except TimeoutError:
                self.result.error(f"no reply within {timeout:g} s")
                return
            self.got(started, reply, payload)

    async def open_loop(self, ws: ClientConnection, payload: str | bytes,
                        interval: float, offset: float) -> None:
        """--rate R: send on schedule, match replies as they come."""
        pending: collections.deque[float] = collections.deque()
        all_sent = False
        replies_done = asyncio.Event()

        async def receive() -> None:
            while True:
                reply = await ws.recv()
                if not pending:
                    self.result.error("a reply to no message")
                    continue
                self.got(pending.popleft(), reply, payload)
                if all_sent and not pending:
                    replies_done.set()

        receiver = asyncio.create_task(receive())
        try:
            loop = asyncio.get_running_loop()
            next_at = loop.time() + offset
            while True:
                delay = next_at - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                if receiver.done() or not self.take():
                    break
                pending.append(time.perf_counter())
                await ws.send(payload)
                self.result.sent += 1
                next_at += interval
            all_sent = True
            if pending and not receiver.done():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.config.timeout):
                        await asyncio.wait([receiver, asyncio.ensure_future(
                            replies_done.wait())], return_when=asyncio.FIRST_COMPLETED)
            if pending:
                self.result.error(f"{len(pending)} message(s) without a reply")
        finally:
            receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await receiver


async def bench(config: BenchConfig, progress: TextIO | None = None) -> BenchResult:
    """Run the benchmark; ``progress``: a terminal for the live line, or None."""
    result = BenchResult(config)
    run = _Run(config, result)

    async def open_one() -> ClientConnection | None:
        try:
            return await connect(config.url, compression="deflate" if config.compress else None,
                                 ssl=config.ssl, max_size=None, ping_interval=None,
                                 max_queue=None)
        except (OSError, TetherError, TimeoutError) as exc:
            result.error(f"connect: {exc or type(exc).__name__}")
            return None

    opened = await asyncio.gather(*(open_one() for _ in range(config.connections)))
    conns = [ws for ws in opened if ws is not None]
    result.connected = len(conns)
    if not conns:
        return result

    async def drive(i: int, ws: ClientConnection) -> None:
        payload = _payload(config.size, config.binary, i)
        try:
            if config.rate > 0:
                interval = len(conns) / config.rate
                await run.open_loop(ws, payload, interval, offset=i / config.rate)
            else:
                await run.closed_loop(ws, payload)
        except ConnectionClosed as exc:
            result.error(f"connection closed early: {exc}")
        finally:
            with contextlib.suppress(Exception):
                await ws.close()

    started = time.perf_counter()
    if config.duration is not None and config.count is None:
        run.stop_at = started + config.duration
    ticker = asyncio.create_task(_progress(result, started, progress)) if progress else None
    try:
        await asyncio.gather(*(drive(i, ws) for i, ws in enumerate(conns)))
    finally:
        if ticker is not None and progress is not None:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
            progress.write("\r\x1b[K")
            progress.flush()
    end = run.last_reply if run.last_reply > started else time.perf_counter()
    result.elapsed = end - started
    return result


async def _progress(result: BenchResult, started: float, out: TextIO) -> None:
    last_count, last_time = 0, started
    while True:
        await asyncio.sleep(0.5)
        now = time.perf_counter()
        rate = (result.received - last_count) / (now - last_time)
        last_count, last_time = result.received, now
        out.write(f"\r{now - started:6.1f} s  {rate:10.0f} msg/s  sent {result.sent}  "
                  f"received {result.received}  errors {result.errors}\x1b[K")
        out.flush()


def format_summary(summary: dict[str, Any]) -> str:
    ms = summary["latency_ms"]

    def show(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f} ms"

    kind = "binary" if summary["binary"] else "text"
    rate = "as fast as possible" if not summary["rate"] else f"{summary['rate']:g} msg/s"
    lines = [
        f"tether bench {summary['url']}",
        f"  connections  {summary['connected']} of {summary['connections']} opened, "
        f"{summary['size']}-byte {kind} messages, {rate}",
        f"  duration     {summary['duration_s']:.3f} s",
        f"  sent         {summary['sent']} messages",
        f"  received     {summary['received']} messages",
        f"  errors       {summary['errors']}",
        f"  throughput   {summary['throughput_msgs']:.1f} msg/s  "
        f"{summary['throughput_mb']:.3f} MB/s",
        f"  latency      p50 {show(ms['p50'])}  p90 {show(ms['p90'])}  "
        f"p99 {show(ms['p99'])}  max {show(ms['max'])}",
    ]
    lines += [f"  error: {text}" for text in summary["error_samples"]]
    return "\n".join(lines)


def _usage(text: str) -> int:
    print(f"tether bench: {text}", file=sys.stderr)
    return 2


def run_bench(args: argparse.Namespace) -> int:
    if args.connections < 1:
        return _usage("--connections must be 1 or more")
    if args.size < 0:
        return _usage("--size must be 0 or more")
    if args.rate < 0:
        return _usage("--rate must be 0 (as fast as possible) or more")
    if args.count is not None and args.count < 1:
        return _usage("--count must be 1 or more")
    if args.duration is not None and args.duration <= 0:
        return _usage("--duration must be more than 0")
    if not args.url.startswith(("ws://", "wss://")):
        return _usage(f"not a ws:// or wss:// URL: {args.url}")
    ctx = None
    if args.url.startswith("wss:"):
        ctx = ssl.create_default_context(cafile=args.cafile)
        if args.insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
    config = BenchConfig(
        url=args.url, connections=args.connections, size=args.size, rate=args.rate,
        duration=args.duration if args.count is None else None,
        count=args.count, binary=args.binary, timeout=args.timeout,
        compress=args.compress, ssl=ctx)
    if config.duration is None and config.count is None:
        config.duration = 5.0
    progress = sys.stderr if sys.stderr.isatty() and not args.json else None
    result = asyncio.run(bench(config, progress))
    summary = result.summary()
    if args.json:
        print(json.dumps(summary))
    else:
        print(format_summary(summary))
    return 0 if result.errors == 0 and result.connected else 1
