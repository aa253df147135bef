"""``tether connect URL``: a WebSocket client for the terminal and for shell scripts.

Three ways to run it:

- **interactive** (stdin and stdout are a terminal): a ``> `` prompt with line editing
  and history (GNU readline through :func:`input`, history in ``~/.tether_history``);
  messages that arrive while you type are printed above the prompt, which is then drawn
  again with what you had typed (as wscat does).  Time stamps are on by default.
- **piped** (stdin is a pipe or a file): each line is sent as a text message, replies are
  printed, and once the input ends it waits ``--wait`` seconds for more, closes with 1000
  and exits.  No prompt, no colours, no time stamps unless ``-t``.
- ``--execute/-x MSG`` (repeatable): send each MSG, wait for one reply to each, exit.

Lines that start with ``/`` are commands (``/help``); ``//text`` sends ``/text``;
``--no-commands`` sends every line as it is.  ``--json`` prints one JSON object per line
for every event, for programs to read.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import contextlib
import datetime
import json
import os
import signal
import ssl
import sys
import threading
import time
from typing import Any, TextIO

from ..asyncio import ClientConnection, connect
from ..exceptions import ConnectionClosed, TetherError

__all__ = ["add_parser", "run_connect"]

PROMPT = "> "
DEFAULT_HISTORY = "~/.tether_history"
HISTORY_LENGTH = 1000  # lines kept in the history file

EPILOG = """\
commands (type them, pipe them, or pass them with -x):
  /ping [PAYLOAD]        send a ping, print the round-trip time in ms
  /close [CODE [REASON]] close the connection (default 1000) and exit
  /binary HEX            send a binary message given in hex (/bin for short)
  /b64 BASE64            send a binary message given in base64
  /help                  list the commands
  //text                 send "/text" (a line that starts with a slash)

output:
  interactive (a terminal): "> " prompt, line editing and history (~/.tether_history;
      --no-history or TETHER_HISTORY="" turns it off, TETHER_HISTORY=PATH moves it),
      time stamps on (-T turns them off), incoming messages printed above the prompt
  piped (stdin or stdout not a terminal): no prompt, no colours, no time stamps (-t
      adds them); "< message" lines on stdout, "connected"/"closed" notes on stderr
  --json: one object per line on stdout for each event:
      {"event": "open", "url": ..., "subprotocol": ..., "time": ...}
      {"event": "message", "type": "text", "data": "hi", "time": ...}
      {"event": "message", "type": "binary", "data": "<base64>", "time": ...}
      {"event": "ping" | "pong", "data": "<base64>", "time": ..., ["latency_ms": ...]}
      {"event": "close", "code": 1000, "reason": "", "time": ...}
      {"event": "error", "message": ..., "time": ...}
    "time" is seconds since the epoch.

examples:
  tether connect ws://127.0.0.1:8765/                      interactive session
  echo hello | tether connect ws://127.0.0.1:8765/         send one line, print the reply
  tether connect -x hello -x world ws://127.0.0.1:8765/    send two messages, exit
  printf '/binary 00ff\\n/ping\\n' | tether connect --json ws://127.0.0.1:8765/
  tether connect -H "Authorization: Bearer $TOKEN" -s chat wss://example.com/ws

exit status: 0 closed normally (1000, 1001 or no code), 1 connection failed, closed with
an error code, or a -x message got no reply; 2 usage error; 130 interrupted (Ctrl-C).
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "connect", help="interactive client (like wscat / websocat)",
        description="Connect to a WebSocket server. Each line typed (or piped) is sent as a\n"
        "text message; messages received are printed. With stdin a pipe, it exits once\n"
        "the input ends and the replies so far are printed.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("url", help="ws:// or wss:// URL")
    g = p.add_argument_group("connection")
    g.add_argument("--header", "-H", action="append", default=[], metavar="NAME: VALUE",
                   help="extra request header (repeatable)")
    g.add_argument("--subprotocol", "-s", action="append", default=[],
                   help="offer a subprotocol (repeatable)")
    g.add_argument("--origin", help="Origin header to send")
    g.add_argument("--proxy", help="proxy URL (http://, https://, socks5://, socks5h://); "
                   "default: from the environment; 'none' for none")
    g.add_argument("--insecure", "-k", action="store_true",
                   help="wss: don't verify the server's certificate (development only)")
    g.add_argument("--cafile", help="wss: trust this CA bundle (PEM)")
    g.add_argument("--compress", action=argparse.BooleanOptionalAction, default=True,
                   help="offer permessage-deflate (default: on)")
    g.add_argument("--no-compression", dest="compress", action="store_false",
                   help=argparse.SUPPRESS)  # the older spelling
    g.add_argument("--max-size", type=int, default=2**20,
                   help="largest message accepted, bytes (default 1 MiB; 0 = no limit)")
    o = p.add_argument_group("input and output")
    o.add_argument("--execute", "-x", action="append", default=[], metavar="MSG",
                   help="send MSG (or run a /command), wait for a reply, then exit; "
                   "repeatable; stdin is not read")
    o.add_argument("--wait", type=float, default=None, metavar="SECONDS",
                   help="piped input: wait this long for replies after the last line "
                   "(default 1); -x: wait this long for each reply (default 10)")
    o.add_argument("--json", action="store_true",
                   help="print one JSON object per line for every event")
    ts = o.add_mutually_exclusive_group()
    ts.add_argument("--timestamps", "-t", action="store_true", default=None,
                    help="prefix events with the local time (default: on in a terminal)")
    ts.add_argument("--no-timestamps", "-T", dest="timestamps", action="store_false",
                    help="no time stamps")
    o.add_argument("--binary-format", choices=("hex", "base64"), default="hex",
                   help="how binary messages are printed (default hex)")
    o.add_argument("--show-ping-pong", action="store_true",
                   help="print pings and pongs as they arrive")
    o.add_argument("--no-commands", action="store_true",
                   help="send every line as it is, including lines starting with /")
    o.add_argument("--no-history", action="store_true",
                   help="don't read or write the history file")
    o.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                   help="colour the output (default auto: in a terminal, unless $NO_COLOR)")
    p.set_defaults(run=run_connect)


# ---------------------------------------------------------------- output


class Output:
    """Everything ``tether connect`` prints goes through here.

    In interactive mode a line printed while the user is typing first erases the prompt
    line, then draws the prompt again with the text typed so far.
    """

    GREEN, CYAN, YELLOW, RED, DIM, RESET = (
        "\x1b[32m", "\x1b[36m", "\x1b[33m", "\x1b[31m", "\x1b[2m", "\x1b[0m")

    def __init__(self, *, json_mode: bool, timestamps: bool, color: bool,
                 binary_format: str, show_ping_pong: bool, interactive: bool,
                 out: TextIO | None = None, err: TextIO | None = None) -> None:
        self.json_mode = json_mode
        self.timestamps = timestamps
        self.color = color
        self.binary_format = binary_format
        self.show_ping_pong = show_ping_pong
        self.interactive = interactive
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        #: Set while the input thread waits in readline: lines must redraw the prompt.
        self.prompt_shown = False
        self.lock = threading.Lock()

    # -- low level

    def _paint(self, text: str, colour: str) -> str:
        return f"{colour}{text}{self.RESET}" if self.color else text

    def _stamp(self) -> str:
        if not self.timestamps:
            return ""
        now = datetime.datetime.now().strftime("%H:%M:%S.%f")[:-3]
        return self._paint(now, self.DIM) + " "

    def line(self, text: str, *, stream: TextIO | None = None) -> None:
        stream = stream or self.out
        with self.lock:
            if self.interactive and self.prompt_shown:
                # Erase the prompt line, print, then draw the prompt and the typed text.
                self.out.write("\r\x1b[K")
                self.out.flush()
                stream.write(text + "\n")
                stream.flush()
                self.out.write(_redraw_prompt())
                self.out.flush()
            else:
                stream.write(text + "\n")
                stream.flush()

    def event(self, name: str, **fields: Any) -> None:
        record = {"event": name, **fields, "time": round(time.time(), 6)}
        self.line(json.dumps(record, ensure_ascii=False))

    def note(self, text: str) -> None:
        """Something about the connection, not data from it: stderr."""
        self.line(self._stamp() + self._paint(text, self.DIM), stream=self.err)

    # -- events

    def opened(self, url: str, subprotocol: str | None) -> None:
        if self.json_mode:
            self.event("open", url=url, subprotocol=subprotocol)
            return
        extra = f" (subprotocol {subprotocol})" if subprotocol else ""
        hint = " - /help for commands, Ctrl-D to quit" if self.interactive else ""
        self.note(f"connected to {url}{extra}{hint}")

    def message(self, data: str | bytes) -> None:
        if self.json_mode:
            if isinstance(data, str):
                self.event("message", type="text", data=data)
            else:
                self.event("message", type="binary", data=base64.b64encode(data).decode())
            return
        arrow = self._paint("<", self.GREEN)
        if isinstance(data, str):
            self.line(f"{self._stamp()}{arrow} {data}")
        else:
            shown = data.hex() if self.binary_format == "hex" else (
                base64.b64encode(data).decode())
            label = self._paint(f"[binary, {len(data)} bytes]", self.CYAN)
            self.line(f"{self._stamp()}{arrow} {label} {shown}")

    def ping(self, payload: bytes) -> None:
        if self.json_mode:
            self.event("ping", data=base64.b64encode(payload).decode())
        elif self.show_ping_pong:
            self.line(self._stamp() + self._paint(f"< ping {_show_payload(payload)}",
                                                  self.YELLOW))

    def pong(self, payload: bytes, latency: float | None) -> None:
        if self.json_mode:
            fields: dict[str, Any] = {"data": base64.b64encode(payload).decode()}
            if latency is not None:
                fields["latency_ms"] = round(latency * 1000, 3)
            self.event("pong", **fields)
        elif self.show_ping_pong:
            self.line(self._stamp() + self._paint(f"< pong {_show_payload(payload)}",
                                                  self.YELLOW))

    def round_trip(self, seconds: float) -> None:
        if not self.json_mode:  # --json reports it on the pong event
            self.line(self._stamp() + self._paint(f"pong: {seconds * 1000:.3f} ms round trip",
                                                  self.YELLOW))

    def closed(self, code: int | None, reason: str | None) -> None:
        if self.json_mode:
            self.event("close", code=code, reason=reason or "")
            return
        self.note(f"connection closed: {code} {reason or ''}".rstrip())

    def error(self, text: str) -> None:
        if self.json_mode:
            self.event("error", message=text)
            return
        self.line(self._stamp() + self._paint(f"tether: {text}", self.RED), stream=self.err)

    def info(self, text: str) -> None:
        """An answer to a command (/help): stdout, not an event."""
        if not self.json_mode:
            self.line(text)


def _show_payload(payload: bytes) -> str:
    try:
        text = payload.decode()
    except UnicodeDecodeError:
        return f"[{len(payload)} bytes] {payload.hex()}"
    return repr(text) if text else "(empty)"


class _TypedLine:
    """What the user has typed so far at the prompt, read from another thread.

    ``readline.get_line_buffer()`` decodes readline's buffer with the C library's
    multibyte functions while the input thread may be changing it, which can abort
    the process (a glibc assertion).  So the bytes are copied as they are
    (``rl_line_buffer``, ``rl_end``, ``rl_point`` through ctypes) and decoded here;
    the worst a race can give is a stale line on the screen, which the next key
    press redraws.
    """

    def __init__(self) -> None:
        self.vars: tuple[Any, Any, Any] | None = None
        try:
            import ctypes
            import readline

            lib = ctypes.CDLL(readline.__file__)
            self.vars = (ctypes.c_void_p.in_dll(lib, "rl_line_buffer"),
                         ctypes.c_int.in_dll(lib, "rl_end"),
                         ctypes.c_int.in_dll(lib, "rl_point"))
        except (ImportError, OSError, ValueError, AttributeError, TypeError):
            self.vars = None  # no GNU readline: redraw the prompt only

    def get(self) -> tuple[str, int]:
        """The typed text and how many characters the cursor is from its end."""
        if self.vars is None:
            return "", 0
        import ctypes

        buf, end, point = (v.value for v in self.vars)
        if not buf or not 0 <= end < 1 << 20:
            return "", 0
        raw = ctypes.string_at(buf, end)
        point = min(max(point, 0), end)
        return raw.decode(errors="replace"), len(raw[point:].decode(errors="replace"))


_typed_line: _TypedLine | None = None


def _redraw_prompt() -> str:
    """The prompt and the typed text, with the cursor where it was."""
    global _typed_line
    if _typed_line is None:
        _typed_line = _TypedLine()
    text, back = _typed_line.get()
    return PROMPT + text + (f"\x1b[{back}D" if back else "")


# ---------------------------------------------------------------- input


class LineReader:
    """Reads lines on a daemon thread and hands them to the event loop.

    A daemon thread, not the loop's executor: when the server closes the connection
    while the thread still waits for input, the program must be able to exit.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, output: Output,
                 interactive: bool) -> None:
        self.loop = loop
        self.output = output
        self.interactive = interactive
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.thread = threading.Thread(target=self._run, name="tether-stdin", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _put(self, line: str | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: we are exiting
            self.loop.call_soon_threadsafe(self.queue.put_nowait, line)

    def _run(self) -> None:
        try:
            if self.interactive:
                while True:
                    self.output.prompt_shown = True
                    try:
                        line = input(PROMPT)
                    except EOFError:
                        self._put(None)
                        return
                    finally:
                        self.output.prompt_shown = False
                    self._put(line)
            else:
                for raw in sys.stdin:
                    self._put(raw.rstrip("\r\n"))
                self._put(None)
        except Exception:  # stdin went away (closed, unreadable): like end of input
            self._put(None)

    async def get(self) -> str | None:
        return await self.queue.get()


class History:
    """The readline history file (``~/.tether_history``; ``$TETHER_HISTORY``)."""

    def __init__(self, enabled: bool) -> None:
        env = os.environ.get("TETHER_HISTORY")
        path = os.path.expanduser(DEFAULT_HISTORY if env is None else env)
        self.path = path if enabled and path else None

    def load(self) -> None:
        try:
            import readline
        except ImportError:  # pragma: no cover
            return
        readline.set_history_length(HISTORY_LENGTH)
        if self.path is not None:
            with contextlib.suppress(OSError):
                readline.read_history_file(self.path)

    def save(self) -> None:
        if self.path is None:
            return
        try:
            import readline
        except ImportError:  # pragma: no cover
            return
        with contextlib.suppress(OSError):
            readline.write_history_file(self.path)
            os.chmod(self.path, 0o600)  # what you typed may include tokens


# ---------------------------------------------------------------- the session


class Session:
    def __init__(self, ws: ClientConnection, output: Output, *, commands: bool) -> None:
        self.ws = ws
        self.output = output
        self.commands = commands
        self.received = 0
        self.sent = 0
        #: Piped input: before /ping and /close, wait up to this long for the replies to
        #: what was sent (so that the output keeps the input's order, and because
        #: messages that arrive after our close frame are not delivered).
        self.settle_time = 0.0
        self.arrived = asyncio.Event()
        self.closing = False
        #: Payloads of pings sent by /ping: their pongs are reported by the command.
        self.own_pings: set[bytes] = set()
        #: Set when printing failed because stdout is a closed pipe.
        self.broken: BrokenPipeError | None = None

    # -- incoming

    def watch_control_frames(self) -> None:
        ws = self.ws
        output = self.output

        def on_pong(latency: float, payload: bytes) -> None:
            if payload in self.own_pings and not output.json_mode:
                return
            output.pong(payload, latency if payload in self.own_pings else None)

        ws.pong_listener = on_pong
        # Incoming pings: the core has queued the pong already; just report them.
        ws.ping_listener = output.ping

    def watch_messages(self) -> None:
        """Print messages as the connection delivers them, in the order they came with
        pings and pongs (a reader task would print them after the control frames)."""
        ws = self.ws
        ws.message_listener = self.on_message
        queued = ws._messages  # what came between the handshake and now
        while queued:
            self.on_message(queued.popleft())

    def on_message(self, message: str | bytes) -> None:
        if self.broken is not None:
            return
        try:
            self.output.message(message)
        except BrokenPipeError as exc:  # nobody reads our output any more
            self.broken = exc
            self.ws.abort()
            return
        self.received += 1
        self.arrived.set()

    async def wait_for_reply(self, seen: int, timeout: float) -> bool:
        """Wait until more than ``seen`` messages have arrived; False on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        closed = asyncio.ensure_future(self.ws.wait_closed())
        try:
            while self.received <= seen:
                remaining = deadline - loop.time()
                if closed.done() or remaining <= 0:
                    return False
                self.arrived.clear()
                arrived = asyncio.ensure_future(self.arrived.wait())
                await asyncio.wait([arrived, closed], timeout=remaining,
                                   return_when=asyncio.FIRST_COMPLETED)
                arrived.cancel()
            return True
        finally:
            closed.cancel()

    # -- outgoing

    async def handle(self, line: str) -> str:
        """Send a line or run a command: ``"sent"``, ``"done"`` (a command ran),
        ``"close"`` (the connection is closing) or ``"error"``."""
        if self.commands and line.startswith("/"):
            if line.startswith("//"):
                return await self._send(line[1:])
            return await self.command(line)
        return await self._send(line)

    async def _send(self, data: str | bytes) -> str:
        try:
            await self.ws.send(data)
        except ConnectionClosed:
            return "close"
        self.sent += 1
        return "sent"

    async def command(self, line: str) -> str:
        name, _, rest = line[1:].partition(" ")
        rest = rest.strip()
        name = name.lower()
        if name in ("help", "?"):
            self.output.info(EPILOG.split("\n\n", 1)[0])
            return "done"
        if name == "ping":
            return await self._ping(rest)
        if name in ("close", "quit", "exit"):
            return await self._close(rest)
        if name in ("binary", "bin", "hex"):
            try:
                data = bytes.fromhex(rest)
            except ValueError:
                self.output.error(f"/binary needs hex digits, got {rest!r}")
                return "error"
            return await self._send(data)
        if name in ("b64", "base64"):
            try:
                data = base64.b64decode(rest, validate=True)
            except (binascii.Error, ValueError):
                self.output.error(f"/b64 needs base64, got {rest!r}")
                return "error"
            return await self._send(data)
        self.output.error(f"unknown command /{name} (/help lists them; //{name} sends "
                          f"the line as text)")
        return "error"

    async def settle(self) -> None:
        """In a pipe, let the replies to the messages sent so far come first (up to
        ``settle_time``): the output then follows the order of the input."""
        if self.settle_time and self.received < self.sent:
            await self.wait_for_reply(self.sent - 1, self.settle_time)

    async def _ping(self, payload_text: str) -> str:
        payload = payload_text.encode() if payload_text else os.urandom(4)
        await self.settle()
        self.own_pings.add(payload)
        try:
            rtt = await asyncio.wait_for(self.ws.ping(payload), timeout=30)
        except ConnectionClosed:
            return "close"
        except TimeoutError:
            self.output.error("no pong within 30 s")
            return "error"
        except TetherError as exc:
            self.output.error(str(exc))
            return "error"
        finally:
            self.own_pings.discard(payload)
        self.output.round_trip(rtt)
        return "done"

    async def _close(self, args: str) -> str:
        code_text, _, reason = args.partition(" ")
        code = 1000
        if code_text:
            try:
                code = int(code_text)
            except ValueError:
                self.output.error(f"/close needs a numeric code, got {code_text!r}")
                return "error"
            if not (code in (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011)
                    or 3000 <= code <= 4999):
                self.output.error(f"{code} is not a close code an endpoint may send "
                                  "(1000-1003, 1007-1011, 3000-4999)")
                return "error"
        await self.settle()
        self.closing = True
        try:
            await self.ws.close(code, reason.strip())
        except TetherError as exc:
            self.output.error(str(exc))
            return "error"
        return "close"


# ---------------------------------------------------------------- the command


def _ssl_context(args: argparse.Namespace) -> ssl.SSLContext | None:
    if not args.url.startswith("wss:"):
        return None
    ctx = ssl.create_default_context(cafile=args.cafile)
    if args.insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _use_color(choice: str, stream: TextIO) -> bool:
    if choice != "auto":
        return choice == "always"
    return stream.isatty() and not os.environ.get("NO_COLOR") and (
        os.environ.get("TERM") != "dumb")


def _exit_status(ws: ClientConnection) -> int:
    return 0 if ws.close_code in (1000, 1001, 1005) else 1


async def _connect(args: argparse.Namespace) -> int:
    headers = []
    for h in args.header:
        name, sep, value = h.partition(":")
        if not sep or not name.strip():
            print(f"tether: --header needs NAME: VALUE, got {h!r}", file=sys.stderr)
            return 2
        headers.append((name.strip(), value.strip()))
    if args.max_size < 0:
        print("tether: --max-size must be 0 (no limit) or more", file=sys.stderr)
        return 2
    interactive = (not args.execute and not args.json and sys.stdin.isatty()
                   and sys.stdout.isatty())
    timestamps = args.timestamps if args.timestamps is not None else interactive
    output = Output(json_mode=args.json, timestamps=timestamps,
                    color=not args.json and _use_color(args.color, sys.stdout),
                    binary_format=args.binary_format, show_ping_pong=args.show_ping_pong,
                    interactive=interactive)
    proxy: Any = True
    if args.proxy is not None:
        proxy = None if args.proxy.lower() == "none" else args.proxy
    try:
        ws = await connect(
            args.url, additional_headers=headers, subprotocols=args.subprotocol or None,
            origin=args.origin, ssl=_ssl_context(args), proxy=proxy,
            compression="deflate" if args.compress else None,
            max_size=args.max_size or None,
        )
    except (OSError, TetherError, TimeoutError, ValueError) as exc:
        output.error(f"could not connect to {args.url}: {exc or type(exc).__name__}")
        return 1
    session = Session(ws, output, commands=not args.no_commands)
    if not interactive:
        session.settle_time = (1.0 if args.wait is None else args.wait) if not args.execute \
            else (10.0 if args.wait is None else args.wait)
    output.opened(args.url, ws.subprotocol)
    session.watch_control_frames()
    session.watch_messages()
    status = 0
    try:
        if args.execute:
            status = await _run_execute(args, session)
        else:
            status = await _run_lines(args, session, interactive)
    finally:
        if ws.close_code is None:
            await ws.close()
    if session.broken is not None:
        raise session.broken  # main() turns it into exit status 141
    output.closed(ws.close_code, ws.close_reason)
    if status or session.closing:  # a close the user asked for (/close 4000) is no error
        return status
    return _exit_status(ws)


async def _run_execute(args: argparse.Namespace, session: Session) -> int:
    wait = 10.0 if args.wait is None else args.wait
    for item in args.execute:
        seen = session.received
        outcome = await session.handle(item)
        if outcome == "close":
            return 0
        if outcome == "error":
            return 1
        if outcome == "sent" and not await session.wait_for_reply(seen, wait):
            if session.ws.close_code is None:
                session.output.error(f"no reply to {item!r} within {wait:g} s")
            return 1
    return 0


async def _run_lines(args: argparse.Namespace, session: Session, interactive: bool) -> int:
    loop = asyncio.get_running_loop()
    history = History(enabled=interactive and not args.no_history)
    saved_tty = None
    if interactive:
        history.load()
        with contextlib.suppress(Exception):
            import termios

            saved_tty = termios.tcgetattr(sys.stdin.fileno())
    lines = LineReader(loop, session.output, interactive)
    interrupted = loop.create_future()
    if interactive:
        # Ctrl-C: close with 1001 and exit 130 (the default handler would leave the
        # connection without a closing handshake).
        def on_sigint() -> None:
            if not interrupted.done():
                interrupted.set_result(None)

        loop.add_signal_handler(signal.SIGINT, on_sigint)
    lines.start()
    closed = asyncio.ensure_future(session.ws.wait_closed())
    status = 0
    try:
        while True:
            get = asyncio.ensure_future(lines.get())
            await asyncio.wait([get, closed, interrupted], return_when=asyncio.FIRST_COMPLETED)
            if interrupted.done():
                get.cancel()
                if session.ws.close_code is None:
                    session.output.line("")
                    await session.ws.close(1001, "interrupted")
                status = 130
                break
            if not get.done():  # the server closed the connection
                get.cancel()
                break
            line = get.result()
            if line is None:  # end of input
                if interactive:
                    session.output.line("")  # Ctrl-D left the cursor after the prompt
                if not interactive and session.ws.close_code is None:
                    wait = 1.0 if args.wait is None else args.wait
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(wait):
                            await asyncio.shield(closed)
                break
            if interactive and line.strip() == "":
                continue
            if await session.handle(line) == "close":
                break
    finally:
        if interactive:
            loop.remove_signal_handler(signal.SIGINT)
            history.save()
            if lines.thread.is_alive():
                # readline still owns the terminal: put it back as we found it.
                sys.stdout.write("\r\x1b[K\x1b[?2004l")
                sys.stdout.flush()
                session.output.prompt_shown = False
                if saved_tty is not None:
                    with contextlib.suppress(Exception):
                        import termios

                        termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, saved_tty)
    return status


def run_connect(args: argparse.Namespace) -> int:
    return asyncio.run(_connect(args))
