"""Server-side benchmarks of tether beside its peers, in one run:  python3 benchmarks/run.py

    python3 benchmarks/run.py            # the full run (7-8 minutes on 2 cores)
    python3 benchmarks/run.py --quick    # a fast pass (about 2 minutes): shorter windows, 1 round
    python3 benchmarks/run.py --servers tether,picows --rounds 3 --out reports/bench

What it measures, for each server (see ``servers.py``: raw TCP echo on uvloop, tether
compiled with its recv/send API and with a listener callback, tether pure-Python,
websockets with and without its C speedups, aiohttp, picows), all on uvloop:

- echo: one message in flight, 64 B, 1 KiB, 16 KiB, 256 KiB and 1 MiB binary messages;
  round trips per second and the server's CPU time per round trip;
- pipelined: 100 messages in flight (64 B), messages per second and CPU per message;
- compression (permessage-deflate, no context takeover) on: echo of 1 KiB and 16 KiB
  of JSON-like text; off is the plain echo above;
- broadcast: 100 connections, one message to all of them; server CPU per delivery;
- handshakes: server CPU per opening handshake (5,000 connections, 100 at a time);
- memory: the server's resident memory per idle connection (the same 5,000);
- client side: each library's client (``clients.py``: tether, tether pure-Python,
  websockets, aiohttp, picows) against one fixed picows server, the client's CPU per echo.

Method: the server runs pinned to core 0, this process (the load client) to core 1 with
``os.sched_setaffinity``; two spinners at ``SCHED_IDLE`` (the lowest priority there is)
keep both cores busy so that an idle virtual core doesn't slow the wake-ups.  The same
load client (a minimal uvloop client written here: it sends pre-built masked frames and
only counts the frames that come back) drives every server.  The server reports its own
CPU time (``time.process_time()``) over a control pipe before and after each window.
Each round starts every server afresh, in a rotated order (rounds are interleaved);
the figures are the medians of the rounds.  Results go to ``--out`` as JSON and
Markdown; ``benchmarks/plot.py`` draws the PNG.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import signal
import socket
import statistics
import struct
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvloop

HERE = Path(__file__).resolve().parent
ALL_SERVERS = ["raw", "picows", "tether", "tether-cb", "tether-pure", "websockets",
               "websockets-pure", "aiohttp"]
SIZES = [64, 1024, 16 * 1024, 256 * 1024, 1024 * 1024]
COMPRESS_SIZES = [1024, 16 * 1024]
WS_KEY = b"dGhlIHNhbXBsZSBub25jZQ=="
MASK = b"\x37\xfa\x21\x3d"
SERVER_CORE, CLIENT_CORE = 0, 1


# ----------------------------------------------------------------- framing (client side)

def masked_frame(b0: int, payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", b0, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", b0, 0x80 | 127, n)
    key = (MASK * (n // 4 + 1))[:n]
    body = (int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")).to_bytes(
        n, "little") if n else b""
    return head + MASK + body


def deflate(payload: bytes) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    data = c.compress(payload) + c.flush(zlib.Z_SYNC_FLUSH)
    return data[:-4] if data.endswith(b"\x00\x00\xff\xff") else data


def json_like(size: int) -> bytes:
    row = b'{"symbol":"ACME","price":1234.5,"volume":100,"side":"buy","ts":1700000000},'
    return (row * (size // len(row) + 1))[:size]


# ----------------------------------------------------------------- the load client

class Client(asyncio.Protocol):
    """One connection: handshake, then count frames (or bytes, for raw TCP) coming back."""

    def __init__(self, raw: bool, offer_deflate: bool) -> None:
        self.raw = raw
        self.offer_deflate = offer_deflate
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: Any = None
        self.head = b""
        self.hdr = bytearray()
        self.skip = 0
        self.on_frame: Any = None
        self.deflate = False
        self.unit = 0        # raw TCP: bytes per echoed message
        self.rx_bytes = 0

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.raw:
            self.opened.set_result(None)
            return
        ext = (b"Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover; "
               b"server_no_context_takeover\r\n" if self.offer_deflate else b"")
        transport.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                        b"Connection: Upgrade\r\nSec-WebSocket-Key: " + WS_KEY +
                        b"\r\nSec-WebSocket-Version: 13\r\n" + ext + b"\r\n")

    def data_received(self, data: bytes) -> None:
        if self.raw:
            self.rx_bytes += len(data)
            if self.on_frame is not None:
                while self.rx_bytes >= self.unit:
                    self.rx_bytes -= self.unit
                    self.on_frame()
            return
        if not self.opened.done():
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            head, data = self.head[:end], self.head[end + 4:]
            if not head.startswith(b"HTTP/1.1 101"):
                self.opened.set_exception(RuntimeError(head.decode(errors="replace")))
                return
            self.deflate = b"permessage-deflate" in head.lower()
            self.opened.set_result(None)
        self._frames(data)

    def _frames(self, data: bytes) -> None:
        i, n = 0, len(data)
        hdr = self.hdr
        while i < n:
            if self.skip:
                take = min(self.skip, n - i)
                self.skip -= take
                i += take
                if not self.skip:
                    self._done()
                continue
            old = len(hdr)
            hdr += data[i:i + 10]
            if len(hdr) < 2:
                i = n
                continue
            ln = hdr[1] & 0x7F
            need = 2 if ln < 126 else 4 if ln == 126 else 10
            if len(hdr) < need:
                i = n
                continue
            if ln == 126:
                ln = int.from_bytes(hdr[2:4], "big")
            elif ln == 127:
                ln = int.from_bytes(hdr[2:10], "big")
            i += need - old
            del hdr[:]
            self.skip = ln
            if not ln:
                self._done()

    def _done(self) -> None:
        if self.on_frame is not None:
            self.on_frame()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionError("closed during handshake"))


async def open_client(port: int, raw: bool = False, offer_deflate: bool = False) -> Client:
    loop = asyncio.get_running_loop()
    _, c = await loop.create_connection(lambda: Client(raw, offer_deflate), "127.0.0.1", port)
    await c.opened
    return c


# ----------------------------------------------------------------- the server process

class Server:
    def __init__(self, kind: str, port: int) -> None:
        self.kind = kind
        self.port = port
        env = dict(os.environ)
        env.pop("TETHER_NO_EXTENSIONS", None)
        if kind == "tether-pure":
            env["TETHER_NO_EXTENSIONS"] = "1"
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "servers.py"), kind, str(port)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True, bufsize=1)
        with contextlib.suppress(OSError):
            os.sched_setaffinity(self.proc.pid, {SERVER_CORE})
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if line.strip() != "READY":
            raise RuntimeError(f"{kind} server did not start: {line!r}")

    def stats(self, collect: bool = False) -> tuple[float, int]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("gc\n" if collect else "cpu\n")
        self.proc.stdin.flush()
        _, cpu, _, rss = self.proc.stdout.readline().split()
        return float(cpu), int(rss)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


# ----------------------------------------------------------------- scenarios

@dataclass
class Result:
    ops_per_s: float
    cpu_us: float


async def echo(server: Server, size: int, seconds: float, inflight: int = 1,
               compress: bool = False) -> Result:
    raw = server.kind == "raw"
    c = await open_client(server.port, raw=raw, offer_deflate=compress)
    if compress and not c.deflate:
        c.transport.close()
        raise RuntimeError("no permessage-deflate")
    if raw:
        msg = os.urandom(size)
        c.unit = size
    elif compress:
        msg = masked_frame(0xC2, deflate(json_like(size)))
    else:
        msg = masked_frame(0x82, os.urandom(size))
    loop = asyncio.get_running_loop()
    write = c.transport.write
    state = {"sent": 0, "rcvd": 0, "stop": False}
    done: asyncio.Future[None] = loop.create_future()

    def on_frame() -> None:
        state["rcvd"] += 1
        if state["stop"]:
            if state["rcvd"] == state["sent"] and not done.done():
                done.set_result(None)
            return
        state["sent"] += 1
        write(msg)

    # Warm up (and let the server reach steady state), then measure.
    warm = loop.create_future()
    c.on_frame = lambda: warm.done() or warm.set_result(None)
    write(msg)
    await warm
    c.on_frame = on_frame
    cpu0, _ = server.stats()
    t0 = time.perf_counter()
    state["sent"] = inflight
    for _ in range(inflight):
        write(msg)
    await asyncio.sleep(seconds)
    state["stop"] = True
    await asyncio.wait_for(done, 30)
    t1 = time.perf_counter()
    cpu1, _ = server.stats()
    c.transport.abort()
    n = state["rcvd"]
    return Result(n / (t1 - t0), (cpu1 - cpu0) / n * 1e6)


async def broadcast(server: Server, seconds: float, n_conns: int = 100) -> Result:
    clients = [await open_client(server.port) for _ in range(n_conns)]
    loop = asyncio.get_running_loop()
    trigger = masked_frame(0x82, b"!broadcast")
    state = {"got": 0, "rounds": 0, "stop": False}
    done: asyncio.Future[None] = loop.create_future()

    def on_frame() -> None:
        state["got"] += 1
        if state["got"] == n_conns:
            state["got"] = 0
            state["rounds"] += 1
            if state["stop"]:
                done.set_result(None)
            else:
                clients[0].transport.write(trigger)

    for c in clients:
        c.on_frame = on_frame
    clients[0].transport.write(trigger)     # warm-up round
    while state["rounds"] < 1:
        await asyncio.sleep(0.01)
    cpu0, _ = server.stats()
    r0 = state["rounds"]
    t0 = time.perf_counter()
    await asyncio.sleep(seconds)
    state["stop"] = True
    await asyncio.wait_for(done, 30)
    t1 = time.perf_counter()
    cpu1, _ = server.stats()
    for c in clients:
        c.transport.abort()
    deliveries = (state["rounds"] - r0) * n_conns
    return Result(deliveries / (t1 - t0), (cpu1 - cpu0) / deliveries * 1e6)


async def handshakes_and_memory(server: Server, n: int) -> tuple[Result, float]:
    warm = await open_client(server.port)     # lazy imports and first-use set-up
    await asyncio.sleep(0.2)
    cpu0, rss0 = server.stats(collect=True)
    t0 = time.perf_counter()
    clients: list[Client] = []
    sem = asyncio.Semaphore(100)

    async def one() -> None:
        async with sem:
            clients.append(await open_client(server.port))

    await asyncio.gather(*(one() for _ in range(n)))
    t1 = time.perf_counter()
    cpu1, _ = server.stats()
    await asyncio.sleep(1.0)
    _, rss1 = server.stats(collect=True)
    for c in [*clients, warm]:
        c.transport.abort()
    return Result(n / (t1 - t0), (cpu1 - cpu0) / n * 1e6), (rss1 - rss0) / n / 1024


# ----------------------------------------------------------------- orchestration

@dataclass
class Plan:
    servers: list[str]
    rounds: int
    seconds: float
    sizes: list[int]
    connections: int
    results: dict[str, dict[str, list[float]]] = field(default_factory=dict)

    def add(self, server: str, key: str, value: float) -> None:
        self.results.setdefault(server, {}).setdefault(key, []).append(value)


def spinners() -> list[subprocess.Popen[bytes]]:
    code = ("import os\n"
            "try: os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))\n"
            "except OSError: os.nice(19)\n"
            "while True: pass\n")
    procs = []
    for core in (SERVER_CORE, CLIENT_CORE):
        p = subprocess.Popen([sys.executable, "-c", code])
        with contextlib.suppress(OSError):
            os.sched_setaffinity(p.pid, {core})
        procs.append(p)
    return procs


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def run_server(plan: Plan, kind: str, log: Any) -> None:
    server = Server(kind, free_port())
    try:
        for size in plan.sizes:
            secs = plan.seconds * (2 if size >= 256 * 1024 else 1)
            r = await echo(server, size, secs)
            plan.add(kind, f"echo {size}", r.cpu_us)
            plan.add(kind, f"echo {size} rps", r.ops_per_s)
            log(f"  {kind:12} echo {size:>8} B  {r.ops_per_s:9.0f}/s  {r.cpu_us:8.1f} us")
        r = await echo(server, 64, plan.seconds, inflight=100)
        plan.add(kind, "pipelined 64", r.cpu_us)
        plan.add(kind, "pipelined 64 rps", r.ops_per_s)
        log(f"  {kind:12} pipelined 64 B  {r.ops_per_s:9.0f}/s  {r.cpu_us:8.1f} us")
        if kind in ("raw",):
            return
        # picows has no permessage-deflate; tether-cb answers with uncompressed prepared
        # frames, so its figure would not be comparable.
        if kind not in ("picows", "tether-cb"):
            for size in COMPRESS_SIZES:
                r = await echo(server, size, plan.seconds, compress=True)
                plan.add(kind, f"deflate {size}", r.cpu_us)
                log(f"  {kind:12} deflate {size:>5} B  {r.ops_per_s:9.0f}/s  {r.cpu_us:8.1f} us")
        r = await broadcast(server, plan.seconds)
        plan.add(kind, "broadcast", r.cpu_us)
        log(f"  {kind:12} broadcast      {r.ops_per_s:9.0f}/s  {r.cpu_us:8.2f} us/delivery")
        hs, mem = await handshakes_and_memory(server, plan.connections)
        plan.add(kind, "handshake", hs.cpu_us)
        plan.add(kind, "memory KiB", mem)
        log(f"  {kind:12} handshake {hs.cpu_us:8.1f} us   idle connection {mem:6.1f} KiB")
    finally:
        server.stop()


CLIENTS = ["picows", "tether", "tether-pure", "websockets", "aiohttp"]
CLIENT_SERVER = "picows"   # the one fixed server every client talks to


def run_clients(plan: Plan, kinds: list[str], rnd: int, log: Any) -> None:
    """Each library's client against one fixed server (picows): the client's CPU per echo."""
    server = Server(CLIENT_SERVER, free_port())
    try:
        order = kinds[rnd % len(kinds):] + kinds[:rnd % len(kinds)]
        for kind in order:
            env = dict(os.environ)
            env.pop("TETHER_NO_EXTENSIONS", None)
            if kind == "tether-pure":
                env["TETHER_NO_EXTENSIONS"] = "1"
            for size in plan.sizes:
                secs = plan.seconds * (2 if size >= 256 * 1024 else 1)
                out = subprocess.run(
                    [sys.executable, str(HERE / "clients.py"), kind, str(server.port),
                     str(size), str(secs)],
                    env=env, capture_output=True, text=True, timeout=120, check=True,
                    preexec_fn=lambda: os.sched_setaffinity(0, {CLIENT_CORE}))
                r = json.loads(out.stdout.strip().splitlines()[-1])
                cpu_us = r["cpu"] / r["ops"] * 1e6
                plan.add(kind, f"client {size}", cpu_us)
                plan.add(kind, f"client {size} rps", r["ops"] / r["wall"])
                log(f"  client {kind:12} echo {size:>8} B  {r['ops'] / r['wall']:9.0f}/s  "
                    f"{cpu_us:8.1f} us")
    finally:
        server.stop()


def raise_fd_limit(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = need if hard == resource.RLIM_INFINITY else min(max(soft, need), hard)
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    if want < need:
        raise SystemExit(f"ulimit -n is {want}; {need} file descriptors are needed")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="short windows, one round")
    ap.add_argument("--servers", default=",".join(ALL_SERVERS))
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--seconds", type=float)
    ap.add_argument("--connections", type=int)
    ap.add_argument("--clients", default=",".join(CLIENTS),
                    help="clients to measure against one picows server ('' for none)")
    ap.add_argument("--out", default=str(HERE / "results"))
    args = ap.parse_args()
    plan = Plan(
        servers=args.servers.split(","),
        rounds=args.rounds or (1 if args.quick else 3),
        seconds=args.seconds or (0.3 if args.quick else 1.0),
        sizes=SIZES,
        connections=args.connections or (1000 if args.quick else 5000),
    )
    raise_fd_limit(2 * plan.connections + 200)
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, {CLIENT_CORE})
    uvloop.install()
    spin = spinners()

    def log(msg: str) -> None:
        print(msg, flush=True)

    started = time.time()
    try:
        for rnd in range(plan.rounds):
            order = plan.servers[rnd % len(plan.servers):] + plan.servers[:rnd % len(plan.servers)]
            log(f"round {rnd + 1}/{plan.rounds}: {', '.join(order)}")
            for kind in order:
                asyncio.run(run_server(plan, kind, log))
            clients = [c for c in args.clients.split(",") if c]
            if clients:
                run_clients(plan, clients, rnd, log)
    finally:
        for p in spin:
            p.kill()
            p.wait()
    medians = {s: {k: statistics.median(v) for k, v in d.items()}
               for s, d in plan.results.items()}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"rounds": plan.rounds, "seconds": plan.seconds, "connections": plan.connections,
            "python": sys.version.split()[0], "cpus": os.cpu_count(),
            "elapsed_s": round(time.time() - started), "versions": versions()}
    (out / "results.json").write_text(json.dumps(
        {"meta": meta, "medians": medians, "rounds": plan.results}, indent=1))
    table = markdown(medians, meta)
    (out / "results.md").write_text(table)
    print()
    print(table)


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version
    v = {}
    for name in ("tether", "websockets", "aiohttp", "picows", "uvloop"):
        try:
            v[name] = version(name)
        except PackageNotFoundError:
            v[name] = "-"
    return v


LABELS = {"raw": "raw TCP echo (uvloop)", "tether": "tether, compiled",
          "tether-cb": "tether, compiled, listener callback",
          "tether-pure": "tether, pure Python", "websockets": "websockets",
          "aiohttp": "aiohttp", "picows": "picows",
          "websockets-pure": "websockets, no C speedups"}


def _fmt(x: float | None, digits: int = 1) -> str:
    if x is None:
        return "—"
    return f"{x:,.{digits}f}"


def markdown(m: dict[str, dict[str, float]], meta: dict[str, Any]) -> str:
    cols = ([(f"echo {s}", label) for s, label in zip(SIZES, ["64 B", "1 KiB", "16 KiB",
                                                             "256 KiB", "1 MiB"], strict=True)]
            + [("pipelined 64", "64 B, 100 in flight"), ("broadcast", "broadcast delivery"),
               ("handshake", "handshake")])
    lines = [f"Server CPU time per operation, µs (median of {meta['rounds']} rounds; "
             f"versions {meta['versions']}).", "",
             "| server | " + " | ".join(c[1] for c in cols) + " | idle conn. KiB |",
             "|---" * (len(cols) + 2) + "|"]
    for s in [k for k in ALL_SERVERS if k in m and f"echo {SIZES[0]}" in m[k]]:
        d = m[s]
        lines.append(f"| {LABELS[s]} | " + " | ".join(
            _fmt(d.get(k), 2 if k == "broadcast" else 1) for k, _ in cols)
            + f" | {_fmt(d.get('memory KiB'))} |")
    lines += ["", "Ratios of CPU per operation (< 1: tether uses less CPU):", "",
              "| | " + " | ".join(c[1] for c in cols) + " |",
              "|---" * (len(cols) + 1) + "|"]
    for mine, ref in (("tether", "picows"), ("tether", "raw"), ("tether", "websockets"),
                      ("tether-cb", "picows"), ("tether-cb", "raw"),
                      ("tether-pure", "websockets"), ("tether-pure", "websockets-pure")):
        r = m.get(ref)
        t = m.get(mine)
        if not r or not t:
            continue
        lines.append(f"| {mine} / {ref} | " + " | ".join(
            f"{t[k] / r[k]:.2f}" if k in t and k in r and r[k] else "—" for k, _ in cols) + " |")
    lines += ["", "permessage-deflate on (1 KiB / 16 KiB JSON-like text, µs per echo):", "",
              "| server | 1 KiB | 16 KiB |", "|---|---|---|"]
    for s in [k for k in ALL_SERVERS
              if k in m and f"deflate {COMPRESS_SIZES[0]}" in m[k]]:
        lines.append(f"| {LABELS[s]} | {_fmt(m[s].get('deflate 1024'))} | "
                     f"{_fmt(m[s].get('deflate 16384'))} |")
    client_rows = [k for k in CLIENTS if k in m and f"client {SIZES[0]}" in m[k]]
    if client_rows:
        lines += ["", f"Client side: each library's client against one {CLIENT_SERVER} server, "
                  "the client's CPU time per echo, µs:", "",
                  "| client | 64 B | 1 KiB | 16 KiB | 256 KiB | 1 MiB |",
                  "|---|---|---|---|---|---|"]
        for s in client_rows:
            lines.append(f"| {LABELS[s]} | " + " | ".join(
                _fmt(m[s].get(f"client {z}")) for z in SIZES) + " |")
        for mine, ref in (("tether", "picows"), ("tether", "websockets"),
                          ("tether-pure", "websockets")):
            if mine in client_rows and ref in client_rows:
                lines.append(f"| {mine} / {ref} | " + " | ".join(
                    f"{m[mine][f'client {z}'] / m[ref][f'client {z}']:.2f}" for z in SIZES)
                    + " |")
    lines += ["", "Round trips per second (one in flight) and pipelined messages per second:",
              "", "| server | 64 B | 1 KiB | 16 KiB | 256 KiB | 1 MiB | pipelined 64 B |",
              "|---|---|---|---|---|---|---|"]
    for s in [k for k in ALL_SERVERS if k in m and f"echo {SIZES[0]}" in m[k]]:
        d = m[s]
        lines.append(f"| {LABELS[s]} | " + " | ".join(
            _fmt(d.get(f"echo {z} rps"), 0) for z in SIZES)
            + f" | {_fmt(d.get('pipelined 64 rps'), 0)} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
