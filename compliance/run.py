#!/usr/bin/env python3
"""Run the Autobahn|Testsuite against tether (or the websockets library), server and/or client.

    python3 compliance/run.py [--side server|client|both] [--cases LIST] [--exclude LIST]
        [--outdir reports/autobahn] [--agent NAME] [--impl tether|websockets] [--uvloop]
        [--compression | --no-compression] [--timeout S] [--stall-timeout S] [--setup]

Server side: starts compliance/echo_server.py on a free loopback port, runs
``wstest -m fuzzingclient`` against it with a generated spec, stops the server.
Client side: starts ``wstest -m fuzzingserver -u 0`` on a free loopback port, runs
compliance/client_testee.py against it, has wstest write its reports (/updateReports),
stops it.  Each side's reports go to OUTDIR/<side>/ (index.html, index.json, per-case
reports, wstest.log, the testee's log, summary.json).

LIST is comma-separated case patterns ("1.*,2.*,9.1.*"), or a preset: "quick" (1.* to 10.*,
the default) or "full" (every case, with the long 12.* and 13.* compression cases).

Watchdogs: when no new case starts for --stall-timeout seconds (default 150; wstest's own
longest case timer is 100 s) or a side runs longer than --timeout seconds (default 1800),
the testee is stopped so that wstest reports what it has; the stuck case shows up as
non-OK or missing.

Exit status: 0 when every case of every side run is OK or INFORMATIONAL (behavior and
behaviorClose) and all expected cases were reported; 1 when not; 2 when the harness itself
could not run (wstest missing, testee did not start, no report).  Stdlib only.
"""

from __future__ import annotations

import argparse
import ast
import base64
import contextlib
import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any, TextIO
from urllib.parse import quote

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(os.path.dirname(HERE), "src")
DEFAULT_OUTDIR = os.path.join(os.path.dirname(HERE), "reports", "autobahn")  # git-ignored
sys.path.insert(0, HERE)
import summarize  # noqa: E402  (compliance/summarize.py, beside this file)

HOST = "127.0.0.1"  # loopback only
PRESETS = {
    # Autobahn has no 8.* cases; 11.* does not exist either.
    "quick": "1.*,2.*,3.*,4.*,5.*,6.*,7.*,9.*,10.*",
    "full": "*",
}
CASE_START = re.compile(r"^Running test case ID (\S+) for agent")
WILL_RUN = re.compile(r"^Ok, will run (\d+) test cases")
CASE_LIST = re.compile(r"^Cases = (\[.*\])\s*$")


class HarnessError(Exception):
    """The harness could not run a side (exit status 2)."""


def say(msg: str) -> None:
    print(f"[compliance] {msg}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, proc: subprocess.Popen[Any], timeout: float, what: str) -> None:
    """Wait until something accepts TCP connections on HOST:port (and proc is alive)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise HarnessError(f"{what} exited with status {proc.returncode} before listening")
        try:
            socket.create_connection((HOST, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise HarnessError(f"{what} not listening on {HOST}:{port} after {timeout:.0f}s")


def start(
    cmd: list[str], log: TextIO | int, cwd: str | None = None, env: dict[str, str] | None = None
) -> subprocess.Popen[Any]:
    """Start a child in its own process group (so it and its children can be stopped)."""
    return subprocess.Popen(
        cmd,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=cwd,
        env=env,
        start_new_session=True,
    )


def stop(proc: subprocess.Popen[Any], grace: float = 5.0) -> int | None:
    """SIGTERM the child's process group, SIGKILL it after `grace` seconds."""
    if proc.poll() is None:
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
    return proc.poll()


class WstestOutput:
    """Copies wstest's output to its log file and notes, with the time, each case it starts."""

    def __init__(self, proc: subprocess.Popen[str], log_path: str) -> None:
        self.starts: list[tuple[str, float]] = []  # (case id, monotonic time)
        self.expected: int | None = None
        self.case_ids: list[str] | None = None  # every case wstest will run, in order
        self.last_activity = time.monotonic()
        self._proc = proc
        self._log_path = log_path
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        assert self._proc.stdout is not None
        with open(self._log_path, "w", encoding="utf-8") as log:
            for line in self._proc.stdout:
                log.write(line)
                log.flush()
                if m := CASE_START.match(line):
                    self.starts.append((m.group(1), time.monotonic()))
                    self.last_activity = time.monotonic()
                elif m := WILL_RUN.match(line):
                    self.expected = int(m.group(1))
                elif m := CASE_LIST.match(line):
                    with contextlib.suppress(ValueError, SyntaxError):
                        self.case_ids = [str(c) for c in ast.literal_eval(m.group(1))]

    def current_case(self) -> str | None:
        return self.starts[-1][0] if self.starts else None

    def join(self, timeout: float = 5.0) -> None:
        self._thread.join(timeout)

    def group_wall_seconds(self, end: float) -> dict[str, float]:
        """Wall time per case group: each case lasts until the next one starts."""
        out: dict[str, float] = {}
        for i, (cid, t) in enumerate(self.starts):
            t_next = self.starts[i + 1][1] if i + 1 < len(self.starts) else end
            g = summarize.case_group(cid)
            out[g] = out.get(g, 0.0) + (t_next - t)
        return {g: round(s, 1) for g, s in sorted(out.items(), key=lambda kv: int(kv[0]))}


def update_reports(url: str, agent: str, timeout: float = 120.0) -> None:
    """Ask a fuzzingserver to write its reports; returns once they are written.

    A minimal stdlib WebSocket client: handshake on /updateReports, wait for the server's
    close frame (sent once the reports are written), answer it with a masked close frame.
    """
    port = int(url.rsplit(":", 1)[1])
    # (Not &shutdownOnComplete=true: wstest then stops before its answer is even sent.)
    path = f"/updateReports?agent={quote(agent)}"
    key = base64.b64encode(os.urandom(16)).decode()
    with socket.create_connection((HOST, port), timeout=timeout) as s:
        s.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(4096)
            if not chunk:
                raise OSError("connection closed during the handshake")
            buf += chunk
        head, rest = buf.split(b"\r\n\r\n", 1)
        status = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status + b" ":
            raise OSError(f"handshake refused: {status!r}")
        while not rest:  # the first frame the server sends is its close frame
            chunk = s.recv(4096)
            if not chunk:
                return
            rest += chunk
        if rest[:1] == b"\x88":
            s.sendall(b"\x88\x82" + b"\0\0\0\0" + b"\x03\xe8")  # close 1000, mask 0


def clean_side_dir(path: str) -> None:
    """Remove a previous run's report files (so that a stale index.json is never read)."""
    os.makedirs(path, exist_ok=True)
    for pattern in (
        "index.json",
        "index.html",
        "summary.json",
        "*.log",
        "*_case_*.json",
        "*_case_*.html",
        "fuzzing*.json",
    ):
        for f in glob.glob(os.path.join(path, pattern)):
            os.remove(f)


def testee_env(args: argparse.Namespace) -> dict[str, str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if args.impl == "tether" and not args.installed:
        # Test the work tree's tether, not some installed copy.
        env["PYTHONPATH"] = os.pathsep.join(p for p in (SRC, env.get("PYTHONPATH")) if p)
    return env


def testee_flags(args: argparse.Namespace) -> list[str]:
    flags = ["--impl", args.impl]
    if args.uvloop:
        flags.append("--uvloop")
    if args.compression is not None:
        flags.append("--compression" if args.compression else "--no-compression")
    return flags


def first_line(path: str, prefix: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return next((ln.strip() for ln in f if ln.startswith(prefix)), None)
    except OSError:
        return None


def tail(path: str, n: int = 15, width: int = 300) -> str:
    """The last n lines of a log, each cut to `width` characters."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return "".join(ln[:width].rstrip("\n") + "\n" for ln in f.readlines()[-n:])
    except OSError:
        return ""


def watch(
    testee: subprocess.Popen[Any],
    until: subprocess.Popen[Any],
    out: WstestOutput,
    args: argparse.Namespace,
    t0: float,
    notes: list[str],
) -> None:
    """Wait for `until` to exit; stop `testee` when the run stalls or takes too long,
    and note it when the testee dies by itself."""
    reported_death = False
    while until.poll() is None:
        time.sleep(0.2)
        now = time.monotonic()
        if testee is not until and testee.poll() is not None and not reported_death:
            reported_death = True
            notes.append(
                f"testee exited with status {testee.returncode} during case {out.current_case()}"
            )
            say(notes[-1])
        stalled = now - out.last_activity > args.stall_timeout
        if stalled or now - t0 > args.timeout:
            why = (
                f"no new case for {args.stall_timeout:.0f}s"
                if stalled
                else f"side took over {args.timeout:.0f}s"
            )
            if testee.poll() is None:
                notes.append(f"{why} (stuck in case {out.current_case()}): testee stopped")
                say(notes[-1])
                stop(testee)
                if until is testee:
                    return
                try:
                    until.wait(60)  # wstest finishes the rest (quickly: testee is gone)
                    return
                except subprocess.TimeoutExpired:
                    pass
            # The testee is gone and wstest still hangs: stop it (its report is lost).
            notes.append(f"{why}: wstest stuck in case {out.current_case()}: killed")
            say(notes[-1])
            stop(until)
            return


def run_server_side(args: argparse.Namespace, wstest: str, side_dir: str) -> dict[str, Any]:
    """wstest's fuzzing client against our echo server."""
    port = free_port()
    url = f"ws://{HOST}:{port}"
    notes: list[str] = []
    server_log_path = os.path.join(side_dir, "echo_server.log")
    with open(server_log_path, "w") as server_log:
        server = start(
            [
                sys.executable,
                os.path.join(HERE, "echo_server.py"),
                "--host",
                HOST,
                "--port",
                str(port),
                *testee_flags(args),
            ],
            server_log,
            env=testee_env(args),
        )
    try:
        wait_listening(port, server, 30, "echo server")
        spec = {
            "outdir": side_dir,
            "servers": [{"agent": args.agent, "url": url}],
            "cases": args.case_list,
            "exclude-cases": args.exclude_list,
            "exclude-agent-cases": {},
        }
        spec_path = os.path.join(side_dir, "fuzzingclient.json")
        with open(spec_path, "w") as f:
            json.dump(spec, f, indent=2)
        say(f"server side: {args.impl} echo server at {url}; wstest fuzzingclient running")
        t0 = time.monotonic()
        proc = subprocess.Popen(
            [wstest, "-m", "fuzzingclient", "-s", spec_path],
            cwd=side_dir,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
            start_new_session=True,
        )
        out = WstestOutput(proc, os.path.join(side_dir, "wstest.log"))
        try:
            # The testee to stop on a stall is the echo server: wstest then fails the
            # stuck case, cannot connect for the rest, and writes its reports.
            watch(server, proc, out, args, t0, notes)
        finally:
            stop(proc)
        end = time.monotonic()
        out.join()
    finally:
        rc = stop(server, grace=10)
    if rc not in (0, None) and not any("testee" in n for n in notes):
        notes.append(f"echo server exited with status {rc} when stopped")
    return {
        "url": url,
        "wall_seconds": round(end - t0, 1),
        "expected": out.expected,
        "expected_cases": out.case_ids,
        "group_wall_seconds": out.group_wall_seconds(end),
        "notes": notes,
        "testee": first_line(server_log_path, "listening on"),
        "testee_log": server_log_path,
        "wstest_exit": proc.returncode,
    }


def run_client_side(args: argparse.Namespace, wstest: str, side_dir: str) -> dict[str, Any]:
    """Our client testee against wstest's fuzzing server."""
    port = free_port()
    url = f"ws://{HOST}:{port}"
    notes: list[str] = []
    spec = {
        "url": url,
        "outdir": side_dir,
        "cases": args.case_list,
        "exclude-cases": args.exclude_list,
        "exclude-agent-cases": {},
    }
    spec_path = os.path.join(side_dir, "fuzzingserver.json")
    with open(spec_path, "w") as f:
        json.dump(spec, f, indent=2)
    # -u 0: no embedded web server (port 8080), so runs cannot collide on it.
    proc = subprocess.Popen(
        [wstest, "-m", "fuzzingserver", "-u", "0", "-s", spec_path],
        cwd=side_dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        errors="replace",
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
        start_new_session=True,
    )
    out = WstestOutput(proc, os.path.join(side_dir, "wstest.log"))
    client_log_path = os.path.join(side_dir, "client.log")
    try:
        wait_listening(port, proc, 60, "wstest fuzzingserver")
        say(f"client side: wstest fuzzingserver at {url}; {args.impl} client testee running")
        t0 = time.monotonic()
        with open(client_log_path, "w") as client_log:
            client = start(
                [
                    sys.executable,
                    os.path.join(HERE, "client_testee.py"),
                    url,
                    args.agent,
                    *testee_flags(args),
                ],
                client_log,
                env=testee_env(args),
            )
        try:
            watch(client, client, out, args, t0, notes)
        finally:
            stop(client)
        end = time.monotonic()
        if client.returncode not in (0, None) and not notes:
            notes.append(f"client testee exited with status {client.returncode}")
            say(notes[-1])
        # Let wstest see the end of the last case (immediate when the testee finished it),
        # then have it write the reports for everything that ran (the testee asked already
        # when it got to the end; asking again is harmless and covers a testee that did not).
        time.sleep(0.5 if client.returncode == 0 else 3.0)
        try:
            update_reports(url, args.agent)
        except OSError as e:
            notes.append(f"updateReports failed: {e}")
            say(notes[-1])
    finally:
        stop(proc)
        out.join()
    return {
        "url": url,
        "wall_seconds": round(end - t0, 1),
        "expected": out.expected,
        "expected_cases": out.case_ids,
        "group_wall_seconds": out.group_wall_seconds(end),
        "notes": notes,
        "testee": first_line(client_log_path, "testee"),
        "testee_log": client_log_path,
        "wstest_exit": proc.returncode,
    }


def run_side(side: str, args: argparse.Namespace, wstest: str) -> dict[str, Any]:
    """Run one side and summarise it; returns the summary written to summary.json."""
    side_dir = os.path.join(args.outdir, side)
    clean_side_dir(side_dir)
    header = {
        "side": side,
        "impl": args.impl,
        "agent": args.agent,
        "uvloop": args.uvloop,
        "compression": args.compression,
        "cases": args.case_list,
        "exclude": args.exclude_list,
        "report": os.path.join(side_dir, "index.html"),
    }
    runner = run_server_side if side == "server" else run_client_side
    try:
        info = runner(args, wstest, side_dir)
    except HarnessError as e:
        result = {**header, "passed": False, "error": str(e)}
        say(f"{side} side: HARNESS ERROR: {e}")
        for name in ("echo_server.log", "client.log", "wstest.log"):
            if t := tail(os.path.join(side_dir, name)):
                print(f"--- last lines of {name} ---\n{t}", end="", flush=True)
        return result
    result = {**header, **info}
    try:
        index, report_dir = summarize.load_index(side_dir)
        cases = index.get(args.agent) or {}
    except (OSError, ValueError) as e:
        cases, report_dir = {}, side_dir
        info["notes"].append(f"no usable index.json: {e}")
    if not cases:
        result.update(
            passed=False,
            error="wstest reported no case (see wstest.log and "
            f"{os.path.basename(info['testee_log'])} in {side_dir})",
        )
        say(f"{side} side: HARNESS ERROR: {result['error']}")
        for name in (os.path.basename(info["testee_log"]), "wstest.log"):
            if t := tail(os.path.join(side_dir, name)):
                print(f"--- last lines of {name} ---\n{t}", end="", flush=True)
        return result
    s = summarize.summarize(cases, report_dir, info["expected"], info["expected_cases"])
    result.update(s)
    print(f"\n=== {side} side: {info['testee']}", flush=True)
    print(summarize.format_summary(args.agent, s, reasons=not args.no_reasons))
    walls = info["group_wall_seconds"]
    print(
        f"  wall time: {info['wall_seconds']:.1f}s; per group: "
        + ", ".join(f"{g}.* {w:.1f}s" for g, w in walls.items())
    )
    for n in info["notes"]:
        print(f"  NOTE: {n}")
    verdict = "PASS" if s["passed"] else "FAIL"
    print(f"  RESULT {side}: {verdict}  (report: {result['report']})\n", flush=True)
    return result


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="Cases presets: " + "; ".join(f"{k} = {v}" for k, v in PRESETS.items()),
    )
    ap.add_argument("--side", choices=["server", "client", "both"], default="both")
    ap.add_argument(
        "--cases",
        default="quick",
        help='comma-separated case patterns or a preset (default "quick")',
    )
    ap.add_argument("--exclude", default="", help="comma-separated case patterns to skip")
    ap.add_argument(
        "--outdir",
        default=DEFAULT_OUTDIR,
        help="report folder; each side writes OUTDIR/<side>/ (default: the repository's "
        "reports/autobahn)",
    )
    ap.add_argument("--agent", help="agent name in the reports (default: the --impl name)")
    ap.add_argument(
        "--impl",
        choices=["tether", "websockets"],
        default="tether",
        help="implementation under test (default tether)",
    )
    ap.add_argument("--uvloop", action="store_true", help="testees run on uvloop")
    comp = ap.add_mutually_exclusive_group()
    comp.add_argument(
        "--compression",
        dest="compression",
        action="store_true",
        default=None,
        help='testees pass compression="deflate"',
    )
    comp.add_argument(
        "--no-compression",
        dest="compression",
        action="store_false",
        help="testees pass compression=None (default: pass nothing)",
    )
    ap.add_argument(
        "--timeout",
        type=float,
        default=1800.0,
        help="stop a side after this many seconds (default %(default)s)",
    )
    ap.add_argument(
        "--stall-timeout",
        type=float,
        default=150.0,
        help="stop a side when no new case started for this long (default %(default)s)",
    )
    ap.add_argument(
        "--installed",
        action="store_true",
        help="test the installed tether, not the one in this work tree's src/",
    )
    ap.add_argument(
        "--setup",
        action="store_true",
        help="run compliance/setup.sh first (installs wstest if needed)",
    )
    ap.add_argument(
        "--wstest",
        help="wstest command (default: $WSTEST, else ${WSTEST_HOME:-/opt/wstest}/bin/wstest)",
    )
    ap.add_argument(
        "--no-reasons",
        action="store_true",
        help="do not print wstest's reason under each non-OK case",
    )
    args = ap.parse_args(argv)
    args.agent = args.agent or args.impl
    cases = PRESETS.get(args.cases, args.cases)
    args.case_list = [c.strip() for c in cases.split(",") if c.strip()]
    args.exclude_list = [c.strip() for c in args.exclude.split(",") if c.strip()]
    args.outdir = os.path.abspath(args.outdir)
    if not args.case_list:
        ap.error("--cases is empty")
    return args


def _terminate(signum: int, frame: Any) -> None:
    # SIGTERM (a caller's timeout, CI stopping): unwind, so that the finally blocks stop
    # wstest and the testee (they run in their own sessions and would outlive us).
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    if args.setup:
        subprocess.run(["bash", os.path.join(HERE, "setup.sh")], check=True)
    wstest = (
        args.wstest
        or os.environ.get("WSTEST")
        or os.path.join(os.environ.get("WSTEST_HOME", "/opt/wstest"), "bin", "wstest")
    )
    if not shutil.which(wstest):
        say(f"wstest not found at {wstest}: run compliance/setup.sh (or pass --setup)")
        return 2
    sides = ["server", "client"] if args.side == "both" else [args.side]
    say(
        f"impl {args.impl}, agent {args.agent}, sides {'+'.join(sides)}, "
        f"cases {','.join(args.case_list)}"
        + (f" minus {','.join(args.exclude_list)}" if args.exclude_list else "")
        + f", reports in {args.outdir}"
    )
    results = {}
    for side in sides:
        results[side] = r = run_side(side, args, wstest)
        with open(os.path.join(args.outdir, side, "summary.json"), "w") as f:
            json.dump(r, f, indent=2)

    def line(r: dict[str, Any]) -> str:
        if "error" in r:
            return f"ERROR ({r['error']})"
        bad = {b: n for b, n in r["behavior"].items() if n and b not in summarize.PASSING}
        bad_close = {
            b: n for b, n in r["behaviorClose"].items() if n and b not in summarize.PASSING
        }
        detail = f"{r['total']} cases, {r['wall_seconds']:.0f}s"
        if bad:
            detail += ", behavior " + ", ".join(f"{n} {b}" for b, n in bad.items())
        if bad_close:
            detail += ", close " + ", ".join(f"{n} {b}" for b, n in bad_close.items())
        if r["missing"]:
            detail += f", {r['missing']} MISSING"
        return f"{'PASS' if r['passed'] else 'FAIL'} ({detail})"

    for side, r in results.items():
        say(f"{side:6} {args.impl}: {line(r)}")
    if any("error" in r for r in results.values()):
        return 2
    return 0 if all(r["passed"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
