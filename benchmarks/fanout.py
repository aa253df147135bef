"""Fan-out benchmark: one publisher, N subscribers, tether's Hub vs websockets.broadcast.

    python3 benchmarks/fanout.py                       # 1,000 and 5,000 subscribers
    python3 benchmarks/fanout.py --subscribers 1000 --messages 300 --stalled 0.1

The server runs in its own process and the subscribers in ``--client-procs`` others, all
on 127.0.0.1.  The subscribers are the same minimal clients for both servers: a raw
handshake, then they count bytes (no parsing, so the clients cost little and the same).
The server publishes ``--messages`` text messages of ``--size`` bytes, yielding to the
loop after each; it measures its own CPU time (user + system) over the publishing, and
the driver measures the wall time until every reading subscriber has every message.

Reported: deliveries per second (reading subscribers x messages / wall time), server CPU
per delivery (user + system, and user alone: the Python work, without the kernel's
send()), and the server's peak RSS.  Ratios are tether / websockets.  With ``--stalled F``
a fraction F of the subscribers never read: tether's hub applies its policy (``--policy``,
default drop) to them; websockets.broadcast keeps writing into their buffers.  The kernel's
socket buffers absorb a few MB per stalled subscriber first: to see the difference in
memory, send more than that (``--subscribers 100 --messages 4000 --size 4000``).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _raise_fd_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# -- server ---------------------------------------------------------------------------


async def server_main(kind: str, policy: str) -> None:
    _raise_fd_limit()
    conns: list[Any] = []
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    if kind == "tether":
        sys.path.insert(0, str(ROOT / "src"))
        import tether
        from tether.pubsub import Hub

        hub = Hub(policy=policy, compression=False)

        async def handler(ws: Any) -> None:
            hub.subscribe(ws, "t")
            conns.append(ws)
            await ws.wait_closed()

        server = await tether.serve(handler, "127.0.0.1", 0, compression=None,
                                    ping_interval=None)
        port = server.port

        def publish(msg: str) -> None:
            hub.publish("t", msg)
    else:
        import websockets
        from websockets.asyncio.server import broadcast

        async def handler(ws: Any) -> None:
            conns.append(ws)
            await ws.wait_closed()

        server = await websockets.serve(handler, "127.0.0.1", 0, compression=None,
                                        ping_interval=None, max_queue=None)
        port = server.sockets[0].getsockname()[1]

        def publish(msg: str) -> None:
            broadcast(conns, msg)

    print(json.dumps({"port": port}), flush=True)
    while True:
        line = await reader.readline()
        if not line:
            break
        cmd = json.loads(line)
        while len(conns) < cmd["n"]:
            await asyncio.sleep(0.01)
        msg = "x" * cmd["size"]
        r0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        for _ in range(cmd["messages"]):
            publish(msg)
            await asyncio.sleep(0)
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
        stats = {"cpu": cpu, "user": r1.ru_utime - r0.ru_utime,
                 "publish_wall": time.perf_counter() - t0,
                 "maxrss_kb": r1.ru_maxrss}
        if kind == "tether":
            stats["dropped"] = hub.dropped
        print(json.dumps(stats), flush=True)


# -- clients --------------------------------------------------------------------------


class Sub(asyncio.Protocol):
    def __init__(self, expect: int, stalled: bool, done: asyncio.Future[None],
                 counter: list[int]) -> None:
        self.expect = expect
        self.stalled = stalled
        self.done = done
        self.counter = counter
        self.got = 0
        self.head = b""
        self.opened = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write((f"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                         f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                         f"Sec-WebSocket-Version: 13\r\n\r\n").encode())

    def data_received(self, data: bytes) -> None:
        if not self.opened.done():
            self.head += data
            if b"\r\n\r\n" not in self.head:
                return
            _, _, data = self.head.partition(b"\r\n\r\n")
            self.opened.set_result(None)
            if self.stalled:
                self.transport.pause_reading()
                return
        self.got += len(data)
        if self.got >= self.expect and self.expect:
            self.expect = 0
            self.counter[0] -= 1
            if self.counter[0] == 0 and not self.done.done():
                self.done.set_result(None)


async def client_main(port: int, n: int, stalled_every: int) -> None:
    _raise_fd_limit()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    subs: list[Sub] = []
    done: asyncio.Future[None] = loop.create_future()
    counter = [0]
    line = json.loads(await reader.readline())
    frame = line["size"] + (2 if line["size"] < 126 else 4)
    expect = frame * line["messages"]
    for i in range(n):
        stalled = stalled_every > 0 and i % stalled_every == 0
        sub = Sub(expect, stalled, done, counter)
        if not stalled:
            counter[0] += 1
        await loop.create_connection(lambda s=sub: s, "127.0.0.1", port)  # type: ignore
        await sub.opened
        subs.append(sub)
    print(json.dumps({"connected": n, "reading": counter[0]}), flush=True)
    await done
    print(json.dumps({"done": True}), flush=True)
    await reader.readline()  # hold the connections until told


# -- driver ---------------------------------------------------------------------------


def run_case(kind: str, n: int, messages: int, size: int, stalled: float, procs: int,
             policy: str) -> dict[str, Any]:
    me = [sys.executable, __file__]
    prof = os.environ.get("FANOUT_PROFILE")  # a directory: cProfile the servers into it
    server_cmd = ([sys.executable, "-m", "cProfile", "-o", f"{prof}/{kind}-{n}.prof", __file__]
                  if prof else me)
    server = subprocess.Popen([*server_cmd, "--role", "server", "--kind", kind, "--policy", policy],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert server.stdin and server.stdout
    port = json.loads(server.stdout.readline())["port"]
    every = round(1 / stalled) if stalled else 0
    clients = []
    per = [n // procs + (1 if i < n % procs else 0) for i in range(procs)]
    for k in per:
        c = subprocess.Popen([*me, "--role", "client", "--port", str(port), "--n", str(k),
                              "--stalled-every", str(every)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert c.stdin
        c.stdin.write(json.dumps({"size": size, "messages": messages}) + "\n")
        c.stdin.flush()
        clients.append(c)
    reading = 0
    for c in clients:
        assert c.stdout
        reading += json.loads(c.stdout.readline())["reading"]
    t0 = time.perf_counter()
    server.stdin.write(json.dumps({"n": n, "size": size, "messages": messages}) + "\n")
    server.stdin.flush()
    for c in clients:
        assert c.stdout
        json.loads(c.stdout.readline())
    wall = time.perf_counter() - t0
    stats = json.loads(server.stdout.readline())
    for c in [*clients, server]:
        assert c.stdin
        c.stdin.close()
    for c in [*clients, server]:
        try:
            c.wait(30)
        except subprocess.TimeoutExpired:
            c.terminate()
            c.wait()
    deliveries = reading * messages
    return {"kind": kind, "subscribers": n, "reading": reading, "messages": messages,
            "wall_s": round(wall, 3), "deliveries_per_s": round(deliveries / wall),
            "cpu_us_per_delivery": round(stats["cpu"] / (n * messages) * 1e6, 3),
            "user_cpu_us_per_delivery": round(stats["user"] / (n * messages) * 1e6, 3),
            "server_maxrss_mb": round(stats["maxrss_kb"] / 1024, 1),
            **({"dropped": stats["dropped"]} if "dropped" in stats else {})}


def _median(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out = dict(rows[0])
    for key in ("deliveries_per_s", "cpu_us_per_delivery", "user_cpu_us_per_delivery",
                "server_maxrss_mb", "wall_s"):
        out[key] = statistics.median(r[key] for r in rows)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--role", default="driver", choices=["driver", "server", "client"])
    p.add_argument("--kind", default="tether")
    p.add_argument("--policy", default="drop")
    p.add_argument("--port", type=int)
    p.add_argument("--n", type=int)
    p.add_argument("--stalled-every", type=int, default=0)
    p.add_argument("--subscribers", type=int, nargs="*", default=[1000, 5000])
    p.add_argument("--messages", type=int, default=0, help="default: 400 for 1,000 subs, "
                   "100 for 5,000")
    p.add_argument("--size", type=int, default=100)
    p.add_argument("--stalled", type=float, default=None,
                   help="only this stalled fraction (default: 0 and 0.1)")
    p.add_argument("--client-procs", type=int, default=2)
    p.add_argument("--repeat", type=int, default=1,
                   help="run each pair this many times, alternating, and report medians "
                   "(a busy machine makes single runs noisy)")
    a = p.parse_args()
    if a.role == "server":
        asyncio.run(server_main(a.kind, a.policy))
        return 0
    if a.role == "client":
        asyncio.run(client_main(a.port, a.n, a.stalled_every))
        return 0
    results = []
    fractions = [a.stalled] if a.stalled is not None else [0.0, 0.1]
    for n in a.subscribers:
        messages = a.messages or (400 if n <= 1000 else 100)
        for stalled in fractions:
            runs: dict[str, list[dict[str, Any]]] = {"tether": [], "websockets": []}
            for _ in range(a.repeat):
                for kind in ("tether", "websockets"):
                    r = run_case(kind, n, messages, a.size, stalled, a.client_procs, a.policy)
                    r["stalled"] = stalled
                    print(json.dumps(r), flush=True)
                    runs[kind].append(r)
            t, w = (_median(runs["tether"]), _median(runs["websockets"]))
            summary = {
                "subscribers": n, "stalled": stalled,
                "deliveries_per_s_ratio": round(t["deliveries_per_s"] / w["deliveries_per_s"], 2),
                "cpu_per_delivery_ratio": round(t["cpu_us_per_delivery"]
                                                / w["cpu_us_per_delivery"], 2),
                "user_cpu_per_delivery_ratio": round(t["user_cpu_us_per_delivery"]
                                                     / w["user_cpu_us_per_delivery"], 2),
                "cpu_us_per_delivery": (t["cpu_us_per_delivery"], w["cpu_us_per_delivery"]),
                "deliveries_per_s": (t["deliveries_per_s"], w["deliveries_per_s"]),
                "rss_mb": (t["server_maxrss_mb"], w["server_maxrss_mb"]),
            }
            print("SUMMARY " + json.dumps(summary), flush=True)
            results.append(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
