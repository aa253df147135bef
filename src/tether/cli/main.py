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
from . import bridge, connect, serve

__all__ = ["main"]

EPILOG = """\
examples:
  tether demo                          stock-ticker demo: live prices on http://127.0.0.1:8000/
  tether serve --port 9000             echo server on ws://127.0.0.1:9000/
  tether connect ws://127.0.0.1:9000/  send the lines you type, print what arrives
  echo hi | tether connect ws://127.0.0.1:9000/   send one line, print the reply, exit
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
