"""Stock-ticker client (blocking API): register for a few stocks, print each change.

No asyncio, no callbacks: a plain loop over ``recv()``::

    tether demo --port 8000 &
    python3 examples/ticker_client_blocking.py --url ws://127.0.0.1:8000/ AAPL MSFT
"""

from __future__ import annotations

import argparse
import sys

import tether
from tether.pubsub import protocol
from tether.sync import connect


def run(url: str, symbols: list[str], count: int | None) -> int:
    with connect(url) as ws:
        ws.send(protocol.subscribe_request(symbols, id=1))
        seen = 0
        for text in ws:
            msg = protocol.parse_server_message(text)
            if msg.op == "subscribed":
                print("subscribed to", ", ".join(msg.topics), flush=True)
            elif msg.op == "error":
                print("error:", msg.error, file=sys.stderr, flush=True)
                return 1
            elif msg.op == "message":
                d = msg.data
                print(f"{d['symbol']:<5} {d['price']:>10.2f} {d['change']:+8.2f}", flush=True)
                seen += 1
                if count is not None and seen >= count:
                    break
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="print price changes of a few stocks")
    parser.add_argument("symbols", nargs="*", default=["AAPL", "MSFT", "GOOG"])
    parser.add_argument("--url", default="ws://127.0.0.1:8000/")
    parser.add_argument("--count", type=int, help="stop after this many price changes")
    args = parser.parse_args(argv)
    try:
        return run(args.url, args.symbols, args.count)
    except KeyboardInterrupt:
        return 130
    except (OSError, tether.TetherError) as exc:
        print("error:", exc, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
