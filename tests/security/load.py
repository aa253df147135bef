"""Load: N concurrent connections to one tether server, 10% of them slow consumers.

    python3 tests/security/load.py --connections 10000

The server runs in its own process (tests/security/server_proc.py, RSS sampled); this
process opens the connections (both raise RLIMIT_NOFILE to the hard limit).  Slow
consumers ask for 512 KiB of echoes at once (32 x 16 KiB) and read them at 320 KiB/s,
so the server's write buffers to them fill and their handlers wait on backpressure;
meanwhile every other connection does round trips, which must all complete: no
connection may be dropped.  Prints the figures as JSON
(memory per idle connection, peak RSS under load, RTTs, drops).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if __name__ == "__main__":  # run as a script: make tether and tests importable
    sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

import tether  # noqa: E402
from tests.security.conftest import RssSampler, server_process  # noqa: E402
from tests.security.server_proc import raise_fd_limit  # noqa: E402

HOST = "127.0.0.1"


async def _connect_all(url: str, n: int, deflate: bool = False,
                       batch: int = 200) -> list[tether.ClientConnection]:
    conns: list[tether.ClientConnection] = []
    for start in range(0, n, batch):
        conns += await asyncio.gather(*(
            tether.connect(url, proxy=None, compression="deflate" if deflate else None,
                           open_timeout=60)
            for _ in range(min(batch, n - start))))
    return conns


async def _fast(ws: tether.ClientConnection, rounds: int, rtts: list[float]) -> None:
    for i in range(rounds):
        t0 = time.perf_counter()
        await ws.send(f"fast {i}")
        assert await ws.recv() == f"fast {i}"
        rtts.append(time.perf_counter() - t0)
        await asyncio.sleep(0.01)


#: A slow consumer asks for 512 KiB of echoes at once and reads one 16 KiB message
#: every 50 ms (320 KiB/s): the server's write buffer to it stays full for 1.6 s.
SLOW_MESSAGES = 32
SLOW_SIZE = 16384
SLOW_READ_EVERY = 0.05


async def _slow(ws: tether.ClientConnection) -> None:
    async def send() -> None:
        for _ in range(SLOW_MESSAGES):
            await ws.send(bytes(SLOW_SIZE))

    sender = asyncio.ensure_future(send())
    try:
        for _ in range(SLOW_MESSAGES):
            await asyncio.sleep(SLOW_READ_EVERY)
            assert len(await ws.recv()) == SLOW_SIZE
    finally:
        await sender


async def run_load(n: int, slow_fraction: float = 0.1, rounds: int = 5,
                   deflate: bool = False) -> dict[str, Any]:
    raise_fd_limit()
    result: dict[str, Any] = {"connections": n, "slow_consumers": int(n * slow_fraction),
                              "permessage_deflate": deflate}
    with server_process(backlog=4096, max_size=2**20) as server:
        url = f"ws://{HOST}:{server.port}/"
        base = server.rss()
        t0 = time.perf_counter()
        conns = await _connect_all(url, n, deflate)
        result["connect_seconds"] = round(time.perf_counter() - t0, 2)
        await asyncio.sleep(0.5)
        idle = server.rss()
        result["server_rss_base_mib"] = round(base / 2**20, 1)
        result["server_rss_idle_mib"] = round(idle / 2**20, 1)
        result["memory_per_idle_connection_kib"] = round((idle - base) / n / 1024, 1)

        n_slow = result["slow_consumers"]
        slow, fast = conns[:n_slow], conns[n_slow:]
        sampler = RssSampler(server.pid, every=0.02)
        sampler.start()
        t0 = time.perf_counter()
        # Slow consumers fill the server's write buffers to them ...
        slow_tasks = [asyncio.ensure_future(_slow(ws)) for ws in slow]
        await asyncio.sleep(0.2)
        # ... while every other connection does its round trips.
        rtts: list[float] = []
        outcomes = await asyncio.gather(*(_fast(ws, rounds, rtts) for ws in fast),
                                        return_exceptions=True)
        errors = [o for o in outcomes if isinstance(o, BaseException)]
        result["fast_round_trips"] = len(rtts)
        result["fast_dropped"] = len(errors)
        result["fast_errors"] = sorted({repr(e) for e in errors})[:5]
        result["fast_rtt_ms_median"] = round(statistics.median(rtts) * 1000, 2) if rtts else None
        result["fast_rtt_ms_p99"] = (round(sorted(rtts)[int(len(rtts) * 0.99)] * 1000, 2)
                                     if rtts else None)
        result["fast_phase_seconds"] = round(time.perf_counter() - t0, 2)
        # The slow consumers get everything they asked for, at their pace.
        slow_outcomes = await asyncio.gather(*slow_tasks, return_exceptions=True)
        result["slow_dropped"] = sum(isinstance(o, BaseException) for o in slow_outcomes)
        result["slow_errors"] = sorted({repr(o) for o in slow_outcomes
                                        if isinstance(o, BaseException)})[:5]
        result["server_rss_peak_mib"] = round((sampler.base + sampler.finish()) / 2**20, 1)
        result["load_seconds"] = round(time.perf_counter() - t0, 2)
        result["still_open"] = sum(ws.state is tether.State.OPEN for ws in conns)
        t0 = time.perf_counter()
        await asyncio.gather(*(ws.close() for ws in conns), return_exceptions=True)
        result["close_seconds"] = round(time.perf_counter() - t0, 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=10000)
    parser.add_argument("--slow-fraction", type=float, default=0.1)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--deflate", action="store_true",
                        help="negotiate permessage-deflate (more memory per connection)")
    args = parser.parse_args()
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:
        runner = asyncio.run
    if os.environ.get("TETHER_LOAD_ASYNCIO"):
        runner = asyncio.run
    result = runner(run_load(args.connections, args.slow_fraction, args.rounds, args.deflate))
    print(json.dumps(result, indent=2))
    sys.exit(0 if result["fast_dropped"] == 0 and result["slow_dropped"] == 0 else 1)


if __name__ == "__main__":
    main()
