"""``tether``: the command-line entry point.

Exit codes: 0 success, 1 connection failed or closed with an error, 2 usage error,
130 interrupted, 141 output pipe closed.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from ..version import __version__
from . import bench, bridge, connect, serve

__all__ = ["main"]

EPILOG = """\
commands:
  serve     echo or broadcast WebSocket server, static files on the same port
  connect   interactive client (like wscat); pipes and --json for scripts
  bench     load-test an echo server: throughput and latency percentiles
  bridge    gateways: TCP, a process's stdio, HTTP polling <-> WebSocket
  demo      stock-ticker demo in the browser
  Run "tether COMMAND --help" for a command's options and examples.

examples:
  tether serve --port 9000                       echo server on ws://127.0.0.1:9000/
  tether serve --mode broadcast --static ./site  a chat room and its page on one port
  tether connect ws://127.0.0.1:9000/            send the lines you type, print what arrives
  echo hi | tether connect ws://127.0.0.1:9000/  send one line, print the reply, exit
  tether connect --json -x hi ws://127.0.0.1:9000/   one JSON object per event
  tether bench -c 10 --duration 5 ws://127.0.0.1:9000/
  tether demo                                    live prices on http://127.0.0.1:8000/

exit status:
  0    success (connect: the connection closed normally, 1000/1001)
  1    failure: could not connect, closed with an error code, no reply, bench errors
  2    usage error (bad option or argument)
  130  interrupted (Ctrl-C, SIGINT)
  141  the output pipe closed (tether ... | head)
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tether", description="WebSocket servers and clients.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"tether {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve.add_parser(sub)
    connect.add_parser(sub)
    bench.add_parser(sub)
    bridge.add_parser(sub)
    serve.add_demo_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.run(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader of our output went away (``tether connect ... | head``): stop
        # quietly, as Unix tools do; point stdout at /dev/null so the interpreter's
        # final flush doesn't raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a tool ended by a closed pipe


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
