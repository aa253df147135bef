#!/usr/bin/env python3
"""The client testee for the Autobahn fuzzing server (wstest -m fuzzingserver).

    python3 compliance/client_testee.py URL AGENT [--impl tether|websockets] [--uvloop]
        [--compression | --no-compression] [--case-timeout SECONDS]

Follows Autobahn's client-testee protocol against URL (ws://127.0.0.1:PORT):

1. connect to URL/getCaseCount; the server sends the number of cases as a text message;
2. for N in 1..count connect to URL/runCase?case=N&agent=AGENT and echo every message back
   until the connection closes;
3. connect to URL/updateReports?agent=AGENT so that the server writes its reports.

An error in one case (the connection closed abnormally, the handshake failed, a bug) is
logged and the run goes on with the next case: wstest judges each case, not this script.
A case that does not end within --case-timeout seconds is abandoned the same way.
Exit status: 0 when all cases were run, 2 when the case count could not be had.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections import Counter
from urllib.parse import quote

import _impls


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("url", help="fuzzing server URL, e.g. ws://127.0.0.1:9001")
    ap.add_argument("agent", help="agent name under which wstest reports the results")
    ap.add_argument(
        "--case-timeout",
        type=float,
        default=120.0,
        help="abandon a case after this many seconds (default 120: wstest's "
        "own longest case timer is 100 s)",
    )
    ap.add_argument("--verbose", action="store_true", help="log at DEBUG level")
    _impls.add_common_args(ap)
    args = ap.parse_args()
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    impl = _impls.load(args.impl)
    kw = _impls.options(max_size=None, compression=args.compression)
    base = args.url.rstrip("/")
    agent = quote(args.agent)

    def log(msg: str) -> None:
        print(msg, flush=True)

    async def get_case_count() -> int:
        async with impl.connect(f"{base}/getCaseCount", **kw) as ws:
            return int(await ws.recv())

    async def echo(uri: str) -> str:
        """Echo everything on one connection until it closes; returns how it ended."""
        try:
            async with impl.connect(uri, **kw) as ws:
                async for msg in ws:
                    await ws.send(msg)
            return "closed"
        except impl.ConnectionClosed as e:
            return f"closed: {e}"

    async def run_case(n: int) -> str:
        """One case; never raises (but for cancellation of the whole run)."""
        uri = f"{base}/runCase?case={n}&agent={agent}"
        try:
            async with asyncio.timeout(args.case_timeout):
                return await echo(uri)
        except TimeoutError:
            return f"ERROR TimeoutError: abandoned after {args.case_timeout:.0f}s"
        except impl.InvalidHandshake as e:
            return f"ERROR handshake failed: {type(e).__name__}: {e}"
        except Exception as e:  # any other failure is this case's, not the run's
            return f"ERROR {type(e).__name__}: {e}"

    async def update_reports() -> None:
        async with impl.connect(f"{base}/updateReports?agent={agent}", **kw) as ws:
            async for _ in ws:  # the server writes the reports, then closes
                pass

    async def run() -> int:
        log(
            f"testee {impl.name} {impl.version} from {impl.location}, "
            f"loop {_impls.loop_name()}, options {kw}"
        )
        try:
            count = await get_case_count()
        except Exception as e:
            log(f"getCaseCount failed: {type(e).__name__}: {e}")
            return 2
        log(f"{count} cases")
        errors: Counter[str] = Counter()
        for n in range(1, count + 1):
            t0 = time.monotonic()
            outcome = await run_case(n)
            log(f"case {n}/{count}: {outcome} ({time.monotonic() - t0:.2f}s)")
            if outcome.startswith("ERROR"):
                errors[outcome.split(":", 1)[0]] += 1
        try:
            await update_reports()
            log("reports updated")
        except Exception as e:
            log(f"updateReports failed: {type(e).__name__}: {e}")
        log(f"done: {count} cases, client-side errors: {dict(errors) or 'none'}")
        return 0

    return _impls.run(run, args.uvloop)


if __name__ == "__main__":
    sys.exit(main())
